// rdb-client -k KEY history [--from-version V] [--backward] [--limit N]: the key's events.
#include <iostream>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

int RunHistory(const Options& o, client::Client& c) {
  uint64_t from = o.from_version;
  uint32_t left = o.limit;
  while (left > 0) {
    auto r = c.ReadStream(o.key, from, o.backward, left);
    if (!r.ok()) return Fail(r.status());
    for (const auto& e : r->events) {
      std::cout << (o.json ? EventJson(e) : EventLine(e)) << "\n";
    }
    left -= static_cast<uint32_t>(std::min<size_t>(left, r->events.size()));
    if (r->next == 0 || r->events.empty()) break;
    from = r->next;
  }
  return kExitOk;
}

}  // namespace

Verb HistoryVerb() {
  return {"history",
          "Print the key's events, one per line (exit 1 if the key has none)",
          {"from-version", "backward", "limit", "stale"},
          true,
          RunHistory};
}

}  // namespace rdb::cli
