// rdb-client scan [--from SEQ] [--limit N]: the global log in seq order (--from is inclusive).
#include <iostream>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

int RunScan(const Options& o, client::Client& c) {
  uint64_t from = 0;
  if (!o.from.empty()) {
    auto f = ParseSeq(o.from);
    if (!f.ok()) return UsageError(f.status().message());
    from = *f;
  }
  uint32_t left = o.limit;
  while (left > 0) {
    auto r = c.ReadAll(from, left);
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

Verb ScanVerb() {
  return {"scan", "Print all events in seq order, one per line", {"from", "limit"}, false, RunScan};
}

}  // namespace rdb::cli
