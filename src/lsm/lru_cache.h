// LruCache: a sharded, thread-safe cache bounded by the total charge of its entries, evicting in
// approximately least-recently-used order. Used for the block cache (charge = block bytes, key =
// (file number, block offset)) and the table cache (charge = 1 per open table).
//
// Eviction is "second chance" (CLOCK): a hit only sets the entry's referenced bit, so the hot read
// path does not reorder a list; the evictor walks from the oldest end, moving referenced entries
// back to the young end (clearing the bit) and evicting the first unreferenced one.
//
// Values are copied out (use shared_ptr values): an entry evicted while a reader still holds its
// value stays alive until the reader lets go, so eviction never invalidates a reader. Such pinned
// values are not counted against the capacity once evicted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <list>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "lsm/mutex.h"

namespace rdb::lsm {

template <typename K, typename V>
class LruCache {
 public:
  // capacity: the bound on the summed charges. The cache uses up to 16 shards, but never so many
  // that a shard's share would drop below min_shard_charge.
  LruCache(size_t capacity, size_t min_shard_charge) {
    size_t shards = 1;
    while (shards < 16 && capacity / (shards * 2) >= min_shard_charge) shards *= 2;
    shards_.reset(new Shard[shards]);
    for (size_t i = 0; i < shards; i++) shards_[i].capacity = capacity / shards;
    mask_ = shards - 1;
  }
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  bool Lookup(const K& key, V* out) {
    Shard& s = ShardOf(key);
    MutexLock lock(&s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return false;
    it->second->referenced = true;
    *out = it->second->value;
    return true;
  }

  // Inserts or replaces. An entry whose charge exceeds a shard's capacity is not cached.
  void Insert(const K& key, V value, size_t charge) {
    Shard& s = ShardOf(key);
    MutexLock lock(&s.mu);
    if (charge > s.capacity) return;
    auto it = s.map.find(key);
    if (it != s.map.end()) {
      s.usage -= it->second->charge;
      s.lru.erase(it->second);
      s.map.erase(it);
    }
    s.lru.push_front(Entry{key, std::move(value), charge, false});
    s.map.emplace(key, s.lru.begin());
    s.usage += charge;
    // Each entry gets at most one second chance per pass, so this ends within 2 * size steps.
    while (s.usage > s.capacity && !s.lru.empty()) {
      auto victim = std::prev(s.lru.end());
      if (victim->referenced && victim != s.lru.begin()) {
        victim->referenced = false;
        s.lru.splice(s.lru.begin(), s.lru, victim);
        continue;
      }
      s.usage -= victim->charge;
      s.map.erase(victim->key);
      s.lru.erase(victim);
    }
  }

  void Erase(const K& key) {
    Shard& s = ShardOf(key);
    MutexLock lock(&s.mu);
    auto it = s.map.find(key);
    if (it == s.map.end()) return;
    s.usage -= it->second->charge;
    s.lru.erase(it->second);
    s.map.erase(it);
  }

  // Summed charge of the cached entries.
  size_t usage() {
    size_t total = 0;
    for (size_t i = 0; i <= mask_; i++) {
      MutexLock lock(&shards_[i].mu);
      total += shards_[i].usage;
    }
    return total;
  }

 private:
  struct Entry {
    K key;
    V value;
    size_t charge;
    bool referenced;  // hit since it was last considered for eviction
  };
  struct Shard {
    Mutex mu;
    size_t capacity = 0;
    size_t usage ABSL_GUARDED_BY(mu) = 0;
    std::list<Entry> lru ABSL_GUARDED_BY(mu);  // youngest first
    absl::flat_hash_map<K, typename std::list<Entry>::iterator> map ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(const K& key) {
    size_t h = absl::Hash<K>{}(key);
    return shards_[(h >> 7) & mask_];
  }

  std::unique_ptr<Shard[]> shards_;
  size_t mask_ = 0;
};

}  // namespace rdb::lsm
