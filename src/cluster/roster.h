// The member map as ListMembers shows it, built from one consistent read of the groups prefix
// (every group's registrations and election keys at one etcd revision). Pure: no I/O, unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/keys.h"
#include "etcd/types.h"

namespace rdb::cluster {

enum class Role : uint8_t { kLeader1, kLeader2, kFollower, kJoining };
// "leader1", "leader2", "follower", "joining".
const char* RoleName(Role role);
// Rank among the group's candidates (0 = first by create revision) to role.
Role RoleOfRank(size_t rank);

// A member's registration value (JSON), and its election candidate value (the same without
// last_seq, which changes).
struct Registration {
  std::string node;
  std::string address;
  int64_t id = -1;
  uint64_t last_seq = 0;
};
std::string RegistrationToJson(const Registration& r, bool with_last_seq = true);
Result<Registration> RegistrationFromJson(const std::string& key, const std::string& json);

struct MemberInfo {
  uint32_t group = 0;
  std::string node;
  std::string address;
  int64_t id = -1;
  Role role = Role::kJoining;
  int64_t epoch = 0;      // create revision of the group's leader 1 election key (0: none)
  uint64_t last_seq = 0;  // as the member last reported it
  uint64_t lag = 0;       // leader 1's last_seq minus this member's (0 when ahead or unknown)
};

// kvs: the result of GetPrefix(layout.GroupsPrefix()). Members sorted by group, then role, then
// id. Values that do not parse are skipped (they are reported by the member that owns them).
std::vector<MemberInfo> BuildRoster(const KeyLayout& layout,
                                    const std::vector<etcd::KeyValue>& kvs);

}  // namespace rdb::cluster
