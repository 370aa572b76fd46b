// Blocks: the sorted, prefix-compressed key/value runs that make up an SSTable's data and index
// (docs/formats/sstable.md, "Block contents").
//
//   entry    := varint32 shared | varint32 unshared | varint32 value_bytes | key[shared..] | value
//   contents := entry* | fixed32 restart_offset * num_restarts | fixed32 num_restarts
//
// Every restart_interval-th entry stores its whole key (shared = 0) and is listed in the restart
// array, which Seek binary-searches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lsm/iterator.h"

namespace rdb::lsm {

using KeyCompare = int (*)(std::string_view, std::string_view);

class BlockBuilder {
 public:
  explicit BlockBuilder(int restart_interval = 16);

  // Keys must be added in strictly increasing order.
  void Add(std::string_view key, std::string_view value);
  // Appends the restart array and returns the contents (valid until Reset or destruction).
  std::string_view Finish();
  void Reset();

  size_t SizeEstimate() const { return buf_.size() + 4 * (restarts_.size() + 1); }
  bool empty() const { return entries_ == 0; }
  std::string_view last_key() const { return last_key_; }

 private:
  const int restart_interval_;
  std::string buf_;
  std::vector<uint32_t> restarts_;
  int counter_ = 0;
  uint64_t entries_ = 0;
  std::string last_key_;
  bool finished_ = false;
};

// A parsed block. Immutable; shared by the block cache and iterators.
class Block {
 public:
  // Checks the restart array; a malformed block is kCorruption (the caller names file and offset).
  static Result<std::shared_ptr<const Block>> Parse(std::string contents);

  size_t size() const { return contents_.size(); }

 private:
  friend class BlockIter;
  explicit Block(std::string contents) : contents_(std::move(contents)) {}

  std::string contents_;
  uint32_t restart_offset_ = 0;  // where the restart array starts == end of entries
  uint32_t num_restarts_ = 0;
};

// Iterates one block. Holds a raw pointer: the caller keeps the Block alive. Cheap to construct on
// the stack (Get does).
class BlockIter final : public InternalIterator {
 public:
  // Keys shorter than min_key_bytes are reported as corruption (internal keys must hold their
  // 8-byte trailer before the comparator may look at it).
  BlockIter(const Block* block, KeyCompare cmp, size_t min_key_bytes = 0);

  bool Valid() const override { return current_ < block_->restart_offset_ && status_.ok(); }
  void SeekToFirst() override;
  void Seek(std::string_view target) override;
  void Next() override;
  std::string_view key() const override { return key_; }
  std::string_view value() const override { return value_; }
  Status status() const override { return status_; }

 private:
  uint32_t RestartPoint(uint32_t i) const;
  void SeekToRestart(uint32_t i);
  // Decodes the entry at next_; false (and invalid) at the end or on corruption.
  bool ParseNext();
  void Corrupt();

  const Block* block_;
  const char* data_;
  KeyCompare cmp_;
  size_t min_key_bytes_;
  uint32_t current_;  // offset of the current entry; restart_offset_ when invalid
  uint32_t next_;     // offset of the entry after the current one
  std::string key_;
  std::string_view value_;
  Status status_;
};

}  // namespace rdb::lsm
