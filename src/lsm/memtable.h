// MemTable: the in-memory, sorted write buffer of the tree. A skiplist of entries in an Arena.
//
// Entry encoding (arena bytes, never persisted as such):
//   varint32 internal_key_bytes | user key | fixed64 trailer | varint32 value_bytes | value
//
// Point lookups go through a hash index beside the skiplist: a fixed array of buckets (sized at
// construction, counted in ApproximateBytes), each the head of a chain of entries that runs from
// newest to oldest through a pointer stored just before each entry (in its skiplist node), so Get
// finds the newest entry for a key, or learns it is absent, without walking the skiplist. An entry
// is fully built before it is published with a release store, as skiplist nodes are; readers need
// no lock.
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
  // hash_buckets: size of the point-lookup hash index, rounded up to a power of two (at least
  // kHashBucketsMin).
  explicit MemTable(size_t arena_block_bytes, size_t hash_buckets = kHashBucketsMin);
  static constexpr size_t kHashBucketsMin = 256;
  static constexpr size_t kHashBucketsMax = size_t{1} << 22;
  MemTable(const MemTable&) = delete;
  MemTable& operator=(const MemTable&) = delete;

  // Writer only. `seq` is the tree's internal sequence (unique, increasing: the hash index relies
  // on the last Add for a key being its newest entry); `log_seq` the event
  // log seq the write derives from, tracked for flush decisions.
  void Add(uint64_t seq, ValueType type, std::string_view key, std::string_view value,
           uint64_t log_seq);

  // The newest entry for key: kFound (value set), kDeleted, or kAbsent.
  LookupResult Get(const LookupKey& key, std::string* value) const;

  // Iterates internal keys in order. Pins the memtable.
  std::unique_ptr<InternalIterator> NewIterator() const;

  // Arena blocks plus the hash index's bucket array.
  size_t ApproximateBytes() const { return arena_.MemoryUsage() + bucket_count_ * sizeof(Bucket); }
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
  // The newest entry of a hash chain; each entry's older neighbour is the `const char*` stored
  // in the kChainBytes before it (immutable once published).
  using Bucket = std::atomic<const char*>;
  static constexpr size_t kChainBytes = sizeof(const char*);

  Arena arena_;
  SkipList<EntryCmp> list_;
  const size_t bucket_count_;  // a power of two
  std::unique_ptr<Bucket[]> buckets_;
  std::atomic<uint64_t> entries_{0};
  std::atomic<uint64_t> first_log_seq_{0};
  std::atomic<uint64_t> last_log_seq_{0};
  std::atomic<uint64_t> last_seq_{0};
};

// The internal key of an encoded memtable entry.
std::string_view MemEntryKey(const char* entry);

}  // namespace rdb::lsm
