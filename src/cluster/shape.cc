#include "cluster/shape.h"

#include <nlohmann/json.hpp>

namespace rdb::cluster {

std::string ShapeToJson(const ClusterShape& s) {
  nlohmann::ordered_json j;
  j["dbname"] = s.dbname;
  j["groups"] = s.groups;
  j["group_size"] = s.group_size;
  j["reads"] = s.reads;
  j["writes"] = s.writes;
  return j.dump();
}

Result<ClusterShape> ShapeFromJson(const std::string& key, const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::Corruption("cluster shape at " + key + " is not a JSON object: " + json);
  ClusterShape s;
  auto uint_field = [&](const char* name, uint32_t* out) -> Status {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_unsigned())
      return Status::Corruption("cluster shape at " + key + ": field " + name +
                                " missing or not a number: " + json);
    *out = it->get<uint32_t>();
    return Status::OK();
  };
  auto name = j.find("dbname");
  if (name == j.end() || !name->is_string())
    return Status::Corruption("cluster shape at " + key + ": field dbname missing: " + json);
  s.dbname = name->get<std::string>();
  RDB_RETURN_IF_ERROR(uint_field("groups", &s.groups));
  RDB_RETURN_IF_ERROR(uint_field("group_size", &s.group_size));
  RDB_RETURN_IF_ERROR(uint_field("reads", &s.reads));
  RDB_RETURN_IF_ERROR(uint_field("writes", &s.writes));
  return s;
}

Status CompareShapes(const ClusterShape& stored, const ClusterShape& mine,
                     const std::string& stored_key) {
  auto differs = [&](const std::string& field, const std::string& theirs, const std::string& ours) {
    return Status::FailedPrecondition("cluster shape mismatch: " + field + " is " + ours +
                                      " in this node's configuration but " + theirs +
                                      " in the cluster (stored in etcd at " + stored_key +
                                      "); every node of a database must use the same shape");
  };
  if (stored.dbname != mine.dbname) return differs("dbname", stored.dbname, mine.dbname);
  const std::pair<const char*, uint32_t ClusterShape::*> fields[] = {
      {"groups", &ClusterShape::groups},
      {"group_size", &ClusterShape::group_size},
      {"reads", &ClusterShape::reads},
      {"writes", &ClusterShape::writes}};
  for (const auto& [field, member] : fields) {
    if (stored.*member != mine.*member)
      return differs(field, std::to_string(stored.*member), std::to_string(mine.*member));
  }
  return Status::OK();
}

}  // namespace rdb::cluster
