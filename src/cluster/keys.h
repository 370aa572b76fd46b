// The cluster's etcd key layout (docs/design/cluster.md has the table: value, lease, writer,
// watcher). Every key of one database lives under /rdeebee/<dbname>/.
#pragma once

#include <cstdint>
#include <string>

namespace rdb::cluster {

class KeyLayout {
 public:
  explicit KeyLayout(const std::string& dbname) : root_("/rdeebee/" + dbname + "/") {}

  const std::string& Root() const { return root_; }
  // The shape every node must agree on (JSON, no lease; created once by the first node).
  std::string Shape() const { return root_ + "shape"; }
  // The node-id counter (decimal; the next id is the stored value; IncrementCounter).
  std::string NextNodeId() const { return root_ + "next-node-id"; }
  // Who owns slot `id` (JSON {node, token}; no lease; outlives the node).
  std::string Slot(int64_t id) const { return root_ + "slots/" + std::to_string(id); }
  // A slot open to a replacement (JSON {id, group, node}; no lease).
  std::string VacantPrefix() const { return root_ + "vacant/"; }
  std::string Vacant(int64_t id) const { return VacantPrefix() + std::to_string(id); }
  // Everything live of every group: members and election keys (ListMembers reads it at once).
  std::string GroupsPrefix() const { return root_ + "groups/"; }
  std::string Group(uint32_t group) const { return GroupsPrefix() + std::to_string(group) + "/"; }
  // A member's registration (JSON {node, address, id, last_seq}; the member's lease).
  std::string MembersPrefix(uint32_t group) const { return Group(group) + "members/"; }
  std::string Member(uint32_t group, int64_t id) const {
    return MembersPrefix(group) + std::to_string(id);
  }
  // The group's election: one key per candidate, <prefix><lease hex> (etcd/election.h).
  std::string ElectionPrefix(uint32_t group) const { return Group(group) + "election/"; }

 private:
  std::string root_;
};

}  // namespace rdb::cluster
