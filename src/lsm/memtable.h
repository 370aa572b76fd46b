// MemTable: the in-memory, sorted write buffer of the tree. A skiplist of entries in an Arena.
//
// Entry encoding (arena bytes, never persisted as such):
//   varint32 internal_key_bytes | user key | fixed64 trailer | varint32 value_bytes | value
//
// Thread-safety: one writer (Add) and any number of concurrent readers (Get, iterators). A
// memtable is shared by shared_ptr: the tree holds the mutable and the immutable one, and every
// reader or iterator pins the ones it uses.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lsm/arena.h"
#include "lsm/format.h"
#include "lsm/iterator.h"
#include "lsm/skiplist.h"

namespace rdb::lsm {

class MemTable : public std::enable_shared_from_this<MemTable> {
 public:
  // arena_block_bytes: the arena's allocation unit (size limits are measured in blocks).
  explicit MemTable(size_t arena_block_bytes);
  MemTable(const MemTable&) = delete;
  MemTable& operator=(const MemTable&) = delete;

  // Writer only. `seq` is the tree's internal sequence (unique, increasing); `log_seq` the event
  // log seq the write derives from, tracked for flush decisions.
  void Add(uint64_t seq, ValueType type, std::string_view key, std::string_view value,
           uint64_t log_seq);

  // The newest entry for key: kFound (value set), kDeleted, or kAbsent.
  LookupResult Get(const LookupKey& key, std::string* value) const;

  // Iterates internal keys in order. Pins the memtable.
  std::unique_ptr<InternalIterator> NewIterator() const;

  size_t ApproximateBytes() const { return arena_.MemoryUsage(); }
  uint64_t entries() const { return entries_.load(std::memory_order_acquire); }
  bool empty() const { return entries() == 0; }
  // Lowest / highest log seq of any write (0 while empty).
  uint64_t first_log_seq() const { return first_log_seq_.load(std::memory_order_acquire); }
  uint64_t last_log_seq() const { return last_log_seq_.load(std::memory_order_acquire); }
  // Highest internal sequence written (0 while empty).
  uint64_t last_seq() const { return last_seq_.load(std::memory_order_acquire); }

 private:
  // A search key, decoded once per search.
  struct SearchKey {
    std::string_view user_key;
    uint64_t trailer;
  };
  struct EntryCmp {
    int operator()(const char* entry, const SearchKey& key) const;
  };
  class Iter;

  Arena arena_;
  SkipList<EntryCmp> list_;
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> first_log_seq_{0};
  std::atomic<uint64_t> last_log_seq_{0};
  std::atomic<uint64_t> last_seq_{0};
};

// The internal key of an encoded memtable entry.
std::string_view MemEntryKey(const char* entry);

}  // namespace rdb::lsm
