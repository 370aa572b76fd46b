// A counter in one etcd key, incremented with compare-and-swap: the node-id allocator of the
// cluster (issue 6) and a test of Txn. The value is a decimal number; an absent key counts as 0.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "etcd/client.h"

namespace rdb::etcd {

struct CounterResult {
  int64_t value = 0;     // the value this call stored (unique among all callers)
  int64_t revision = 0;  // the revision of the write
  int attempts = 0;      // transactions tried (1 = no conflict)
};

// Reads the counter, then in one transaction: if the key's mod_revision is still the one read
// (or it is still absent), put value + 1. Retries on conflict, up to attempts_max times
// (kAborted after that). kCorruption if the key holds something other than a decimal number.
Result<CounterResult> IncrementCounter(Client* client, const std::string& key,
                                       int attempts_max = 100);

// Parses a counter value (decimal, non-negative, fits in int64).
Result<int64_t> ParseCounter(const std::string& key, const std::string& value);

}  // namespace rdb::etcd
