// Table: a reader for one immutable SSTable (docs/formats/sstable.md). Opening reads and verifies
// the header, footer, index block and bloom filter and keeps the latter two in memory; data blocks
// are read on demand through the shared block cache. Every block read is checksummed; a mismatch
// is kCorruption naming the file and the block's offset, never a wrong answer.
//
// Thread-safe: Get and iterators may run concurrently. Iterators pin the Table.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "io/env.h"
#include "lsm/block.h"
#include "lsm/bloom.h"
#include "lsm/format.h"
#include "lsm/iterator.h"
#include "lsm/lru_cache.h"
#include "lsm/table_format.h"

namespace rdb::lsm {

// Key: (table file number, block offset). File numbers are never reused within a tree.
using BlockCache = LruCache<std::pair<uint64_t, uint64_t>, std::shared_ptr<const Block>>;

class Table : public std::enable_shared_from_this<Table> {
 public:
  // `name` (the path) is used in error messages; `file_size` is what the manifest recorded and
  // must match the file. `cache` may be null (no caching).
  static Result<std::shared_ptr<const Table>> Open(std::unique_ptr<RandomAccessFile> file,
                                                   std::string name, uint64_t file_size,
                                                   uint64_t cache_id,
                                                   std::shared_ptr<BlockCache> cache);

  // Looks up the newest entry of key.user_key(). bloom_hash = BloomHash(user key).
  Status Get(const LookupKey& key, uint64_t bloom_hash, LookupResult* result,
             std::string* value) const;

  // fill_cache=false for scans that should not evict hot blocks (compaction).
  std::unique_ptr<InternalIterator> NewIterator(bool fill_cache) const;

  uint64_t entry_count() const { return footer_.entry_count; }
  const std::string& name() const { return name_; }

  // Reads (or finds in the cache) the data block at handle.
  Result<std::shared_ptr<const Block>> GetBlock(const BlockHandle& handle, bool fill_cache) const;
  // Annotates a block-level decoding error with the file and offset.
  Status BlockStatus(const BlockHandle& handle, const Status& s) const;

 private:
  Table() = default;
  class Iter;

  std::unique_ptr<RandomAccessFile> file_;
  std::string name_;
  uint64_t file_size_ = 0;
  uint64_t cache_id_ = 0;
  std::shared_ptr<BlockCache> cache_;
  Footer footer_;
  std::shared_ptr<const Block> index_;
  std::string filter_data_;
  BloomFilter filter_;
  bool has_filter_ = false;
};

}  // namespace rdb::lsm
