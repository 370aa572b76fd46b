// Arena: bump allocation for a memtable's nodes and entries. Everything is freed at once when the
// arena is destroyed. Allocation is single-threaded (the memtable writer); MemoryUsage() may be
// read from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace rdb::lsm {

class Arena {
 public:
  // block_bytes: size of the regular blocks requests are carved from. Requests larger than a
  // quarter of it get a block of their own so that little space is wasted.
  explicit Arena(size_t block_bytes);
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  char* Allocate(size_t bytes);
  // Aligned for pointers and atomics.
  char* AllocateAligned(size_t bytes);
  // Bytes of blocks reserved so far (what the memtable size limit is measured against).
  size_t MemoryUsage() const { return usage_.load(std::memory_order_relaxed); }

 private:
  char* AllocateFallback(size_t bytes);
  char* NewBlock(size_t bytes);

  const size_t block_bytes_;
  char* ptr_ = nullptr;
  size_t remaining_ = 0;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::atomic<size_t> usage_{0};
};

inline char* Arena::Allocate(size_t bytes) {
  if (bytes <= remaining_) {
    char* r = ptr_;
    ptr_ += bytes;
    remaining_ -= bytes;
    return r;
  }
  return AllocateFallback(bytes);
}

}  // namespace rdb::lsm
