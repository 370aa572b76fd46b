// Deterministic keys and payloads shared by the crash test's parent and child, so the parent can
// tell an acknowledged event's exact bytes and recognise anything that was never written.
#pragma once

#include <cstdint>
#include <string>

namespace rdb::crash {

inline std::string KeyFor(uint64_t r) { return "key-" + std::to_string(r % 64); }

// "<run>:<thread>:<i>:<e>:" followed by filler derived from those numbers (10..400 bytes in all).
inline std::string Payload(uint64_t run, int thread, uint64_t i, int e) {
  std::string p = std::to_string(run) + ":" + std::to_string(thread) + ":" + std::to_string(i) +
                  ":" + std::to_string(e) + ":";
  uint64_t x = run * 0x9e3779b97f4a7c15ull ^ (i + 1) * 0xbf58476d1ce4e5b9ull ^
               static_cast<uint64_t>(thread * 31 + e);
  size_t len = 10 + x % 390;
  while (p.size() < len) {
    x ^= x >> 29;
    x *= 0x94d049bb133111ebull;
    p.push_back(static_cast<char>('a' + x % 26));
  }
  return p;
}

}  // namespace rdb::crash
