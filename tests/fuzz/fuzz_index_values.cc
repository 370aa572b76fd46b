// libFuzzer target: the engine's index value decoders (latest, stream pointer, idempotency entry).
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/check.h"
#include "engine/index_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  rdb::index::Latest latest;
  if (rdb::index::DecodeLatest(in, &latest)) {
    rdb::index::Latest again;
    RDB_CHECK(rdb::index::DecodeLatest(rdb::index::EncodeLatest(latest), &again));
    RDB_CHECK(again.version == latest.version && again.ptr.seq == latest.ptr.seq);
  }
  rdb::index::Pointer ptr;
  (void)rdb::index::DecodePointer(in, &ptr);
  rdb::index::IdempotencyEntry id;
  (void)rdb::index::DecodeIdempotency(in, &id);
  return 0;
}
