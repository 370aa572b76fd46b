// libFuzzer target: the engine's index value decoders (latest, stream pointer, idempotency entry)
// and the index key parser (whatever it accepts must re-encode to a key that parses the same).
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

  rdb::index::ParsedIndexKey key;
  if (rdb::index::ParseIndexKey(in, &key)) {
    std::string again = key.tag == rdb::index::kLatestTag ? rdb::index::LatestKey(key.key)
                        : key.tag == rdb::index::kStreamTag
                            ? rdb::index::StreamKey(key.key, key.version)
                            : rdb::index::IdempotencyKey(key.key, key.idempotency_id);
    rdb::index::ParsedIndexKey back;
    RDB_CHECK(rdb::index::ParseIndexKey(again, &back));
    RDB_CHECK(back.tag == key.tag && back.key == key.key && back.version == key.version &&
              back.idempotency_id == key.idempotency_id);
  }
  return 0;
}
