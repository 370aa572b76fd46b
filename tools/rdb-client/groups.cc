// rdb-client groups [--json]: every consumer group with its position, lag and whether a
// subscriber is attached. rdb-client groups --delete G: deletes group G (exit 1 if there is none).
#include <iostream>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

int RunGroups(const Options& o, client::Client& c) {
  if (!o.delete_group.empty()) {
    Status s = c.DeleteGroup(o.delete_group);
    if (!s.ok()) return Fail(s);
    if (o.json) {
      std::cout << GroupDeletedJson(o.delete_group) << "\n";
    } else {
      std::cout << "deleted " << o.delete_group << "\n";
    }
    return kExitOk;
  }
  uint64_t last = 0;
  auto groups = c.ListGroups(&last);
  if (!groups.ok()) return Fail(groups.status());
  for (const client::GroupInfo& g : *groups) {
    if (o.json) {
      std::cout << GroupJson(g) << "\n";
    } else {
      std::cout << g.group << " seq=" << g.seq << " lag=" << g.lag
                << (g.active ? " active" : " idle") << "\n";
    }
  }
  return kExitOk;
}

}  // namespace

Verb GroupsVerb() {
  return {"groups",
          "List consumer groups (name, seq, lag, active), or --delete G",
          {"delete"},
          false,
          RunGroups};
}

}  // namespace rdb::cli
