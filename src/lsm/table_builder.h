// TableBuilder: writes one SSTable (docs/formats/sstable.md) from internal keys added in order.
// Output is buffered and appended to the file in large writes; the caller syncs and closes the
// file after Finish.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "io/env.h"
#include "lsm/block.h"
#include "lsm/bloom.h"
#include "lsm/lsm_tree.h"
#include "lsm/table_format.h"

namespace rdb::lsm {

struct TableOptions {
  size_t block_bytes = 4096;
  int bloom_bits_per_key = 10;  // 0: no filter
  Compression compression = Compression::kNone;
  int restart_interval = 16;
};

class TableBuilder {
 public:
  // `file` is not owned and must outlive the builder.
  TableBuilder(const TableOptions& options, WritableFile* file);
  TableBuilder(const TableBuilder&) = delete;
  TableBuilder& operator=(const TableBuilder&) = delete;

  // Internal keys must be strictly increasing.
  Status Add(std::string_view ikey, std::string_view value);
  // Writes the last data block, the filter, the index and the footer.
  Status Finish();

  uint64_t entries() const { return entries_; }
  // Bytes of the file so far (written or buffered); the final size after Finish.
  uint64_t FileSize() const { return offset_; }
  const std::string& smallest() const { return smallest_; }
  const std::string& largest() const { return largest_; }

 private:
  Status FinishDataBlock();
  // Appends a finished block (payload + trailer) to the output; returns its handle.
  BlockHandle EmitBlock(std::string_view contents, Compression compression);
  Status WriteOut(bool all);

  const TableOptions options_;
  WritableFile* file_;
  std::string out_;      // bytes not yet appended to file_
  uint64_t offset_ = 0;  // file offset of the end of out_
  BlockBuilder data_;
  BlockBuilder index_;
  BloomBuilder bloom_;
  std::string scratch_;
  std::string last_user_key_;
  std::string smallest_;
  std::string largest_;
  uint64_t entries_ = 0;
  bool finished_ = false;
};

}  // namespace rdb::lsm
