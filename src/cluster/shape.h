// ClusterShape: the settings every node of one database must agree on (dbname, groups,
// group_size, reads, writes). The first node stores it in etcd; every later node compares its own
// with the stored one and refuses to start on a difference, naming the field.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace rdb::cluster {

struct ClusterShape {
  std::string dbname;
  uint32_t groups = 1;
  uint32_t group_size = 1;
  uint32_t reads = 1;
  uint32_t writes = 1;

  uint64_t slots() const { return static_cast<uint64_t>(groups) * group_size; }
};

// {"dbname":..,"groups":..,"group_size":..,"reads":..,"writes":..}
std::string ShapeToJson(const ClusterShape& shape);
// kCorruption when the stored value is not a shape (names the key).
Result<ClusterShape> ShapeFromJson(const std::string& key, const std::string& json);
// OK when equal; else kFailedPrecondition naming the first field that differs, both values and
// where the stored one lives.
Status CompareShapes(const ClusterShape& stored, const ClusterShape& mine,
                     const std::string& stored_key);

}  // namespace rdb::cluster
