#include "cluster/routing.h"

#include <xxhash.h>

#include <cassert>
#include <cstdlib>

namespace rdb::cluster {

uint32_t GroupOfKey(std::string_view key, uint32_t groups) {
  assert(groups > 0);
  // XXH64 of the key's bytes with seed 0: stable across platforms and libxxhash versions
  // (its output is specified), so every node and every client agrees.
  const uint64_t h = XXH64(key.data(), key.size(), /*seed=*/0);
  return static_cast<uint32_t>(h % groups);
}

std::string KeyInGroup(std::string_view prefix, uint32_t group, uint32_t groups) {
  assert(group < groups);
  // Each candidate hits group with probability 1 / groups: the bound is never reached in practice
  // ((1 - 1/groups)^kCandidatesMax is far below any hardware error rate).
  constexpr uint64_t kCandidatesMax = 1ull << 24;
  for (uint64_t i = 0; i < kCandidatesMax; ++i) {
    std::string key = std::string(prefix) + std::to_string(i);
    if (GroupOfKey(key, groups) == group) return key;
  }
  std::abort();  // a hash that never reaches a group is a bug
}

}  // namespace rdb::cluster
