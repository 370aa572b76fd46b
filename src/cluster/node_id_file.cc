#include "cluster/node_id_file.h"

#include <sstream>

namespace rdb::cluster {

namespace {
constexpr char kMagic[] = "rdeebee-cluster-node v1";
}

std::string EncodeNodeIdentity(const NodeIdentity& n) {
  return std::string(kMagic) + "\ndbname " + n.dbname + "\nid " + std::to_string(n.id) +
         "\ntoken " + n.token + "\n";
}

Result<NodeIdentity> DecodeNodeIdentity(const std::string& path, const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption(path + ": not a cluster node identity (" + why +
                              "); remove it only if this data directory belongs to no cluster");
  };
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kMagic) return bad("missing header '" + line + "'");
  NodeIdentity n;
  bool has_name = false, has_id = false, has_token = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    if (sp == std::string::npos) return bad("line '" + line + "'");
    std::string field = line.substr(0, sp), value = line.substr(sp + 1);
    if (field == "dbname") {
      n.dbname = value;
      has_name = true;
    } else if (field == "id") {
      if (value.empty() || value.size() > 9 ||
          value.find_first_not_of("0123456789") != std::string::npos)
        return bad("id '" + value + "'");
      n.id = std::stoll(value);
      has_id = true;
    } else if (field == "token") {
      if (value.size() != 16 || value.find_first_not_of("0123456789abcdef") != std::string::npos)
        return bad("token '" + value + "'");
      n.token = value;
      has_token = true;
    } else {
      return bad("unknown field '" + field + "'");
    }
  }
  if (!has_name || !has_id || !has_token) return bad("a field is missing");
  return n;
}

Result<std::optional<NodeIdentity>> ReadNodeIdentity(Env* env, const std::string& data_dir) {
  std::string path = JoinPath(data_dir, kNodeIdFileName);
  if (!env->FileExists(path)) return std::optional<NodeIdentity>();
  std::string text;
  RDB_RETURN_IF_ERROR(ReadFileToString(env, path, &text));
  RDB_ASSIGN_OR_RETURN(NodeIdentity n, DecodeNodeIdentity(path, text));
  return std::optional<NodeIdentity>(std::move(n));
}

Status WriteNodeIdentity(Env* env, const std::string& data_dir, const NodeIdentity& identity) {
  return WriteFileAtomic(env, JoinPath(data_dir, kNodeIdFileName), EncodeNodeIdentity(identity));
}

}  // namespace rdb::cluster
