#include "lsm/arena.h"

#include <cstdint>

namespace rdb::lsm {

Arena::Arena(size_t block_bytes) : block_bytes_(block_bytes < 1024 ? 1024 : block_bytes) {}

char* Arena::NewBlock(size_t bytes) {
  blocks_.emplace_back(new char[bytes]);
  usage_.fetch_add(bytes + sizeof(void*), std::memory_order_relaxed);
  return blocks_.back().get();
}

char* Arena::AllocateFallback(size_t bytes) {
  if (bytes > block_bytes_ / 4) return NewBlock(bytes);
  ptr_ = NewBlock(block_bytes_);
  remaining_ = block_bytes_;
  char* r = ptr_;
  ptr_ += bytes;
  remaining_ -= bytes;
  return r;
}

char* Arena::AllocateAligned(size_t bytes) {
  constexpr size_t kAlign = alignof(std::max_align_t) < 8 ? 8 : alignof(void*);
  size_t mod = reinterpret_cast<uintptr_t>(ptr_) & (kAlign - 1);
  size_t slop = mod == 0 ? 0 : kAlign - mod;
  if (bytes + slop <= remaining_) {
    char* r = ptr_ + slop;
    ptr_ += bytes + slop;
    remaining_ -= bytes + slop;
    return r;
  }
  // new[] blocks are aligned for any fundamental type.
  return AllocateFallback(bytes);
}

}  // namespace rdb::lsm
