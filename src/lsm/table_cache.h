// TableCache: keeps up to max_open_tables Tables open (file handle, index and filter in memory),
// evicting the least recently used. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "io/env.h"
#include "lsm/lru_cache.h"
#include "lsm/table.h"

namespace rdb::lsm {

class TableCache {
 public:
  TableCache(Env* env, std::string dir, int max_open_tables,
             std::shared_ptr<BlockCache> block_cache);

  // The open table for file `number`. A missing file is kCorruption (a live table must exist),
  // never kNotFound, so that it can't be mistaken for an absent key.
  Result<std::shared_ptr<const Table>> Get(uint64_t number, uint64_t file_size);
  // Drops the table (after its file was deleted).
  void Evict(uint64_t number);

  const std::shared_ptr<BlockCache>& block_cache() const { return block_cache_; }

 private:
  Env* const env_;
  const std::string dir_;
  std::shared_ptr<BlockCache> block_cache_;
  LruCache<uint64_t, std::shared_ptr<const Table>> tables_;
};

}  // namespace rdb::lsm
