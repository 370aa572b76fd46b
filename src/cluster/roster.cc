#include "cluster/roster.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace rdb::cluster {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kLeader1:
      return "leader1";
    case Role::kLeader2:
      return "leader2";
    case Role::kFollower:
      return "follower";
    case Role::kJoining:
      return "joining";
  }
  return "?";
}

Role RoleOfRank(size_t rank) {
  return rank == 0 ? Role::kLeader1 : rank == 1 ? Role::kLeader2 : Role::kFollower;
}

std::string RegistrationToJson(const Registration& r, bool with_last_seq) {
  nlohmann::ordered_json j;
  j["node"] = r.node;
  j["address"] = r.address;
  j["id"] = r.id;
  if (with_last_seq) j["last_seq"] = r.last_seq;
  return j.dump();
}

Result<Registration> RegistrationFromJson(const std::string& key, const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("node") || !j["node"].is_string() ||
      !j.contains("address") || !j["address"].is_string() || !j.contains("id") ||
      !j["id"].is_number_integer())
    return Status::Corruption("registration at " + key + " is not {node, address, id}: " + json);
  Registration r;
  r.node = j["node"].get<std::string>();
  r.address = j["address"].get<std::string>();
  r.id = j["id"].get<int64_t>();
  if (j.contains("last_seq") && j["last_seq"].is_number_unsigned())
    r.last_seq = j["last_seq"].get<uint64_t>();
  return r;
}

namespace {

struct GroupState {
  std::map<int64_t, Registration> members;            // by id
  std::vector<std::pair<int64_t, int64_t>> election;  // (create revision, member id)
};

// "<group>/<kind>/<rest>" after the groups prefix.
bool SplitKey(const std::string& rest, uint32_t* group, std::string* kind) {
  size_t a = rest.find('/');
  if (a == std::string::npos || a == 0 || a > 9) return false;
  std::string g = rest.substr(0, a);
  if (g.find_first_not_of("0123456789") != std::string::npos) return false;
  size_t b = rest.find('/', a + 1);
  if (b == std::string::npos) return false;
  *group = static_cast<uint32_t>(std::stoul(g));
  *kind = rest.substr(a + 1, b - a - 1);
  return true;
}

}  // namespace

std::vector<MemberInfo> BuildRoster(const KeyLayout& layout,
                                    const std::vector<etcd::KeyValue>& kvs) {
  const std::string prefix = layout.GroupsPrefix();
  std::map<uint32_t, GroupState> groups;
  for (const etcd::KeyValue& kv : kvs) {
    if (kv.key.compare(0, prefix.size(), prefix) != 0) continue;
    uint32_t group = 0;
    std::string kind;
    if (!SplitKey(kv.key.substr(prefix.size()), &group, &kind)) continue;
    auto reg = RegistrationFromJson(kv.key, kv.value);
    if (!reg.ok()) continue;
    if (kind == "members") {
      groups[group].members[reg->id] = *reg;
    } else if (kind == "election") {
      groups[group].election.emplace_back(kv.create_revision, reg->id);
    }
  }
  std::vector<MemberInfo> out;
  for (auto& [group, st] : groups) {
    std::sort(st.election.begin(), st.election.end());
    const int64_t epoch = st.election.empty() ? 0 : st.election.front().first;
    std::map<int64_t, Role> roles;
    for (size_t rank = 0; rank < st.election.size(); ++rank)
      roles.emplace(st.election[rank].second, RoleOfRank(rank));  // first key of an id wins
    uint64_t leader_seq = 0;
    bool leader_known = false;
    if (!st.election.empty()) {
      auto it = st.members.find(st.election.front().second);
      if (it != st.members.end()) {
        leader_seq = it->second.last_seq;
        leader_known = true;
      }
    }
    for (const auto& [id, reg] : st.members) {
      MemberInfo m;
      m.group = group;
      m.node = reg.node;
      m.address = reg.address;
      m.id = id;
      auto role = roles.find(id);
      m.role = role == roles.end() ? Role::kJoining : role->second;
      m.epoch = epoch;
      m.last_seq = reg.last_seq;
      m.lag = leader_known && leader_seq > reg.last_seq ? leader_seq - reg.last_seq : 0;
      out.push_back(std::move(m));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const MemberInfo& a, const MemberInfo& b) {
    if (a.group != b.group) return a.group < b.group;
    if (a.role != b.role) return a.role < b.role;
    return a.id < b.id;
  });
  return out;
}

}  // namespace rdb::cluster
