// The node's cluster identity, remembered in its data directory (file `cluster-node`), so a node
// that restarts rejoins its own slot and never takes a second one.
//
// Format (text, one field per line; docs/design/cluster.md):
//   rdeebee-cluster-node v1
//   dbname <name>
//   id <decimal>
//   token <16 hex digits>     (proves ownership of the slot in etcd: slots/<id> holds it)
// Written with WriteFileAtomic (tmp, fsync, rename, fsync dir): a crash leaves the old file or the
// new one, never a torn one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"
#include "io/env.h"

namespace rdb::cluster {

struct NodeIdentity {
  std::string dbname;
  int64_t id = -1;
  std::string token;
};

inline constexpr char kNodeIdFileName[] = "cluster-node";

std::string EncodeNodeIdentity(const NodeIdentity& identity);
// kCorruption naming the path when the text is not a v1 identity.
Result<NodeIdentity> DecodeNodeIdentity(const std::string& path, const std::string& text);

// nullopt when the data directory has no identity yet.
Result<std::optional<NodeIdentity>> ReadNodeIdentity(Env* env, const std::string& data_dir);
Status WriteNodeIdentity(Env* env, const std::string& data_dir, const NodeIdentity& identity);

}  // namespace rdb::cluster
