// rdb-client members [--json]: every live node of the cluster, one line each: group, node,
// address, role, epoch, last_seq and lag behind leader 1. In single-node mode, the server itself.
#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

int RunMembers(const Options& o, client::Client& c) {
  auto members = c.ListMembers();
  if (!members.ok()) return Fail(members.status());
  for (const client::Member& m : *members) {
    if (o.json) {
      nlohmann::ordered_json j;
      j["group"] = m.group;
      j["node"] = m.node;
      j["address"] = m.address;
      j["id"] = m.id;
      j["role"] = m.role;
      j["epoch"] = m.epoch;
      j["last_seq"] = m.last_seq;
      j["lag"] = m.lag;
      std::cout << j.dump() << "\n";
    } else {
      std::cout << "group=" << m.group << " node=" << m.node << " address=" << m.address
                << " role=" << m.role << " epoch=" << m.epoch << " last_seq=" << m.last_seq
                << " lag=" << m.lag << "\n";
    }
  }
  return kExitOk;
}

}  // namespace
Verb MembersVerb() {
  return {"members",
          "List the cluster's live nodes: group, node, address, role, epoch, last_seq, lag",
          {},
          false,
          RunMembers};
}

}  // namespace rdb::cli
