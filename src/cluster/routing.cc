#include "cluster/routing.h"

#include <xxhash.h>

#include <cassert>

namespace rdb::cluster {

uint32_t GroupOfKey(std::string_view key, uint32_t groups) {
  assert(groups > 0);
  // XXH64 of the key's bytes with seed 0: stable across platforms and libxxhash versions
  // (its output is specified), so every node and every client agrees.
  const uint64_t h = XXH64(key.data(), key.size(), /*seed=*/0);
  return static_cast<uint32_t>(h % groups);
}

}  // namespace rdb::cluster
