// GroupStore: consumer groups, i.e. named durable positions stored in the database itself.
//
// Layout (docs/cdc.md, "consumer groups"): the position of group G is the latest PUT of the system
// key "$group/G", payload the decimal seq; deleting the group appends a DELETE to that key. The
// list of group names is the latest PUT of "$groups" (names joined by '\n', sorted), written
// before a new group's first position and after a group's DELETE, so a crash in between leaves
// at most a name whose key is absent, which List skips.
//
// In a cluster (docs/design/cluster.md, "Consumer groups"), a group's position key lives in the
// shard (group of nodes) that GroupOfKey("$group/G") picks, and the registry is kept per shard:
// each shard's leader 1 lists, under a registry key of its own shard, the groups whose position key
// it owns, so a group's two records are always written by the same leader. The server passes that
// key (GroupStoreOptions::registry_key) and gathers ListGroups from every shard.
//
// Mutations are serialised by one mutex (and use expected versions), so concurrent commits can
// never move a group backwards. Active subscribers are tracked in memory (Acquire).
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "engine/engine.h"

namespace rdb::cdc {

constexpr char kGroupKeyPrefix[] = "$group/";
constexpr char kGroupRegistryKey[] = "$groups";
// In a cluster, group g's registry: the first "$groups/<g>/<i>" that routes to g (KeyInGroup).
constexpr char kGroupShardRegistryPrefix[] = "$groups/";
constexpr size_t kGroupsMax = 10000;  // groups_max: bounds the registry record

struct GroupStoreOptions {
  // The record listing this store's groups: "$groups" on a single node; one per shard in a cluster.
  std::string registry_key = kGroupRegistryKey;
  // Refuse a commit above the local log's last seq (a single node's log holds every seq). A cluster
  // shard's log holds only its own keys' events, so there a position is bounded by kSeqMax only.
  bool bounded_by_local_log = true;
};

struct GroupPosition {
  std::string name;
  uint64_t seq = 0;
  uint64_t updated_ms = 0;  // commit time of the position
};

class GroupStore {
 public:
  explicit GroupStore(Engine* engine, GroupStoreOptions options = {});

  // Replaces the options; only before any other call (the server sets them once, before serving).
  void Configure(GroupStoreOptions options) { options_ = std::move(options); }

  static std::string Key(std::string_view name) { return kGroupKeyPrefix + std::string(name); }

  // The group's position; nullopt if there is no such group.
  Result<std::optional<GroupPosition>> Get(const std::string& name);
  // Stores seq as the group's position (creating the group). kFailedPrecondition if below the
  // stored one; the same seq again is a no-op; kInvalidArgument above the log's last seq (above
  // kSeqMax without bounded_by_local_log). Returns the stored position.
  Result<uint64_t> Commit(const std::string& name, uint64_t seq);
  // Every group of the registry, sorted by name.
  Result<std::vector<GroupPosition>> List();
  // kNotFound if there is no such group.
  Status Delete(const std::string& name);

  // Marks the group as having an active subscriber until the Lease is destroyed.
  // kFailedPrecondition (naming the group) if it already has one.
  class Lease {
   public:
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    friend class GroupStore;
    Lease(GroupStore* store, std::string name) : store_(store), name_(std::move(name)) {}
    GroupStore* store_;
    std::string name_;
  };
  Result<std::unique_ptr<Lease>> Acquire(const std::string& name);
  bool IsActive(const std::string& name) const;

 private:
  Result<std::vector<std::string>> ReadRegistry(uint64_t* version);
  Status WriteRegistry(const std::vector<std::string>& names, uint64_t version);

  Engine* const engine_;
  GroupStoreOptions options_;
  std::mutex write_mu_;  // serialises Commit and Delete
  mutable std::mutex active_mu_;
  std::set<std::string> active_;  // guarded by active_mu_
};

}  // namespace rdb::cdc
