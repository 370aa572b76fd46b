// rdb-client status: the server's identity, settings and counters.
#include <nlohmann/json.hpp>

#include <iostream>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

int RunStatus(const Options& o, client::Client& c) {
  auto r = c.GetStatus();
  if (!r.ok()) return Fail(r.status());
  const client::ServerStatus& s = *r;
  nlohmann::ordered_json j;
  j["server"] = c.address();
  j["server_version"] = s.server_version;
  j["mode"] = s.mode;
  j["data_dir"] = s.data_dir;
  j["fsync"] = s.fsync;
  j["last_seq"] = s.last_seq;
  j["uptime_ms"] = s.uptime_ms;
  j["appends"] = s.appends;
  j["events_appended"] = s.events_appended;
  j["bytes_appended"] = s.bytes_appended;
  j["group_commits"] = s.group_commits;
  j["log_syncs"] = s.log_syncs;
  j["log_bytes"] = s.log_bytes;
  j["memtable_bytes"] = s.memtable_bytes;
  j["table_count"] = s.table_count;
  j["table_bytes"] = s.table_bytes;
  j["flushes"] = s.flushes;
  j["compactions"] = s.compactions;
  j["levels"] = s.levels;
  j["payload_bytes_max"] = s.payload_bytes_max;
  if (s.mode == "cluster") {
    j["node"] = s.node;
    j["node_id"] = s.node_id;
    j["group"] = s.group;
    j["role"] = s.role;
    j["epoch"] = s.epoch;
  }
  if (o.json) {
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  for (const auto& [k, v] : j.items()) {
    std::cout << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
  }
  return kExitOk;
}

}  // namespace

Verb StatusVerb() {
  return {"status", "Print the server's version, settings and counters", {}, false, RunStatus};
}

}  // namespace rdb::cli
