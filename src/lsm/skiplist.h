// SkipList: the ordered index of a memtable. One writer inserts while any number of readers search
// and iterate without locks: a node is fully built before it is published with a release store,
// and readers follow links with acquire loads. Nodes are never removed; they live in the Arena
// until the whole list is destroyed.
//
// Keys are `const char*` into arena memory. Searches compare a node's key against a search key of
// any type K for which Cmp provides `int operator()(const char* node_key, const K& key)`; the
// memtable passes a pre-decoded key so that it is not re-parsed at every step. Inserting a key that
// compares equal to an existing one is a bug.
#pragma once

#include <atomic>
#include <cstdint>
#include <new>

#include "base/check.h"
#include "lsm/arena.h"

namespace rdb::lsm {

template <typename Cmp>
class SkipList {
  struct Node;

 public:
  static constexpr int kMaxHeight = 12;

  SkipList(Cmp cmp, Arena* arena);
  SkipList(const SkipList&) = delete;
  SkipList& operator=(const SkipList&) = delete;

  // Allocates a node whose key storage (key_bytes) directly follows its links, for locality,
  // preceded by prefix_bytes (pointer-aligned when prefix_bytes is a multiple of 8) that belong to
  // the caller. Fill the returned buffer, then pass it to Insert. Writer only.
  char* AllocateKey(size_t key_bytes, size_t prefix_bytes = 0);
  // Links the key allocated by the last AllocateKey; `search_key` is the same key in the form the
  // comparator searches with. Writer only.
  template <typename K>
  void Insert(const char* key, const K& search_key);

  class Iterator {
   public:
    explicit Iterator(const SkipList* list) : list_(list) {}
    bool Valid() const { return node_ != nullptr; }
    const char* key() const { return node_->key; }
    void Next() { node_ = node_->Next(0); }
    template <typename K>
    void Seek(const K& target) {
      node_ = list_->FindGreaterOrEqual(target, nullptr);
    }
    void SeekToFirst() { node_ = list_->head_->Next(0); }

   private:
    const SkipList* list_;
    Node* node_ = nullptr;
  };

 private:
  struct Node {
    const char* key;
    std::atomic<Node*> next[1];  // really `height` links

    Node* Next(int i) const { return next[i].load(std::memory_order_acquire); }
    void SetNext(int i, Node* n) { next[i].store(n, std::memory_order_release); }
    Node* RelaxedNext(int i) const { return next[i].load(std::memory_order_relaxed); }
    void RelaxedSetNext(int i, Node* n) { next[i].store(n, std::memory_order_relaxed); }
  };

  Node* NewNode(int height, size_t key_bytes, size_t prefix_bytes = 0);
  int RandomHeight();
  template <typename K>
  Node* FindGreaterOrEqual(const K& key, Node** prev) const;

  Cmp cmp_;
  Arena* arena_;
  Node* head_;
  std::atomic<int> max_height_{1};
  uint64_t rng_ = 0x9e3779b97f4a7c15ull;
  Node* pending_ = nullptr;  // allocated by AllocateKey, not yet inserted
  int pending_height_ = 0;
};

template <typename Cmp>
SkipList<Cmp>::SkipList(Cmp cmp, Arena* arena)
    : cmp_(cmp), arena_(arena), head_(NewNode(kMaxHeight, 0)) {
  head_->key = nullptr;
  for (int i = 0; i < kMaxHeight; i++) head_->RelaxedSetNext(i, nullptr);
}

template <typename Cmp>
typename SkipList<Cmp>::Node* SkipList<Cmp>::NewNode(int height, size_t key_bytes,
                                                     size_t prefix_bytes) {
  size_t links = sizeof(Node) + sizeof(std::atomic<Node*>) * (height - 1);
  char* mem = arena_->AllocateAligned(links + prefix_bytes + key_bytes);
  Node* n = new (mem) Node;
  for (int i = 1; i < height; i++) new (&n->next[i]) std::atomic<Node*>(nullptr);
  n->key = mem + links + prefix_bytes;
  return n;
}

template <typename Cmp>
int SkipList<Cmp>::RandomHeight() {
  // xorshift64; each level is kept with probability 1/4.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  uint64_t r = rng_;
  int height = 1;
  while (height < kMaxHeight && (r & 3) == 0) {
    height++;
    r >>= 2;
  }
  return height;
}

template <typename Cmp>
char* SkipList<Cmp>::AllocateKey(size_t key_bytes, size_t prefix_bytes) {
  pending_height_ = RandomHeight();
  pending_ = NewNode(pending_height_, key_bytes, prefix_bytes);
  return const_cast<char*>(pending_->key);
}

template <typename Cmp>
template <typename K>
typename SkipList<Cmp>::Node* SkipList<Cmp>::FindGreaterOrEqual(const K& key, Node** prev) const {
  Node* x = head_;
  int level = max_height_.load(std::memory_order_relaxed) - 1;
  Node* bound = nullptr;  // a node already compared >= key on a higher level
  while (true) {
    Node* next = x->Next(level);
    if (next != nullptr && next != bound && cmp_(next->key, key) < 0) {
      x = next;
      continue;
    }
    if (prev != nullptr) prev[level] = x;
    if (level == 0) return next;
    bound = next;
    level--;
  }
}

template <typename Cmp>
template <typename K>
void SkipList<Cmp>::Insert(const char* key, const K& search_key) {
  RDB_DCHECK(pending_ != nullptr && pending_->key == key);
  (void)key;
  Node* prev[kMaxHeight];
  Node* at = FindGreaterOrEqual(search_key, prev);
  RDB_DCHECK(at == nullptr || cmp_(at->key, search_key) != 0);
  (void)at;
  int height = pending_height_;
  int max_height = max_height_.load(std::memory_order_relaxed);
  if (height > max_height) {
    for (int i = max_height; i < height; i++) prev[i] = head_;
    // Readers that see the new height before the links find head_->next == nullptr there and
    // simply drop a level.
    max_height_.store(height, std::memory_order_relaxed);
  }
  Node* n = pending_;
  for (int i = 0; i < height; i++) {
    n->RelaxedSetNext(i, prev[i]->RelaxedNext(i));
    prev[i]->SetNext(i, n);
  }
  pending_ = nullptr;
}

}  // namespace rdb::lsm
