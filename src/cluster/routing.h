// Routing: which group owns a key (DESIGN.md section 5; docs/design/cluster.md, "Routing").
//
// group = XXH64(key bytes, seed 0) mod groups. This is part of the on-disk contract of a
// database: every event of a key lives in its group's log, so the function must never change for
// a dbname (cluster_unit_test pins fixed key -> group vectors). Pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace rdb::cluster {

// The group of key among groups (precondition: groups > 0). System keys (consumer-group
// positions "$group/<name>") are routed like any other key.
uint32_t GroupOfKey(std::string_view key, uint32_t groups);

// A key of group's own that starts with prefix: the first of prefix + "0", prefix + "1", ... that
// GroupOfKey maps to group (preconditions: groups > 0, group < groups). For per-group system
// records (e.g. each group's consumer-group registry), so that they too live in their key's group.
// Deterministic: every node finds the same key.
std::string KeyInGroup(std::string_view prefix, uint32_t group, uint32_t groups);

}  // namespace rdb::cluster
