// Routing: which group owns a key (DESIGN.md section 5; docs/design/cluster.md, "Routing").
//
// group = XXH64(key bytes, seed 0) mod groups. This is part of the on-disk contract of a
// database: every event of a key lives in its group's log, so the function must never change for
// a dbname (cluster_unit_test pins fixed key -> group vectors). Pure and thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace rdb::cluster {

// The group of key among groups (precondition: groups > 0). System keys (consumer-group
// positions "$group/<name>") are routed like any other key.
uint32_t GroupOfKey(std::string_view key, uint32_t groups);

}  // namespace rdb::cluster
