#include "cdc/change.h"

#include "engine/engine.h"

namespace rdb::cdc {

const char* ChangeOpName(ChangeOp op) {
  switch (op) {
    case ChangeOp::kCreate:
      return "CREATE";
    case ChangeOp::kUpdate:
      return "UPDATE";
    case ChangeOp::kDelete:
      return "DELETE";
  }
  return "?";
}

bool Filter::MatchesKey(std::string_view key) const {
  if (!include_system && !key.empty() && key[0] == kSystemKeyPrefix) return false;
  if (key_prefixes.empty()) return true;
  for (const std::string& p : key_prefixes) {
    if (key.substr(0, p.size()) == p) return true;
  }
  return false;
}

bool Filter::MatchesType(std::string_view event_type) const {
  if (event_types.empty()) return true;
  for (const std::string& t : event_types) {
    if (t == event_type) return true;
  }
  return false;
}

Status ValidateFilter(const Filter& filter) {
  if (filter.key_prefixes.size() > kPrefixesMax) {
    return Status::InvalidArgument("subscription has " +
                                   std::to_string(filter.key_prefixes.size()) +
                                   " key prefixes; the maximum is " + std::to_string(kPrefixesMax) +
                                   " (subscribe_prefixes_max)");
  }
  for (const std::string& p : filter.key_prefixes) {
    if (p.size() > kPrefixBytesMax) {
      return Status::InvalidArgument("a key prefix is " + std::to_string(p.size()) +
                                     " bytes; the maximum is " + std::to_string(kPrefixBytesMax) +
                                     " (subscribe_prefix_bytes_max)");
    }
  }
  if (filter.event_types.size() > kTypesMax) {
    return Status::InvalidArgument("subscription has " + std::to_string(filter.event_types.size()) +
                                   " event types; the maximum is " + std::to_string(kTypesMax) +
                                   " (subscribe_types_max)");
  }
  for (const std::string& t : filter.event_types) {
    if (t.size() > kTypeBytesMax) {
      return Status::InvalidArgument("an event type is " + std::to_string(t.size()) +
                                     " bytes; the maximum is " + std::to_string(kTypeBytesMax) +
                                     " (subscribe_type_bytes_max)");
    }
  }
  return Status::OK();
}

Status ValidateCheckpointInterval(uint32_t interval_ms) {
  if (interval_ms != 0 &&
      (interval_ms < kCheckpointIntervalMsMin || interval_ms > kCheckpointIntervalMsMax)) {
    return Status::InvalidArgument(
        "checkpoint_interval_ms is " + std::to_string(interval_ms) + "; it must be 0 (default " +
        std::to_string(kCheckpointIntervalMsDefault) + ") or " +
        std::to_string(kCheckpointIntervalMsMin) + ".." + std::to_string(kCheckpointIntervalMsMax));
  }
  return Status::OK();
}

Status ValidateGroupName(std::string_view name) {
  if (name.empty() || name.size() > kGroupNameBytesMax) {
    return Status::InvalidArgument("group name must be 1.." + std::to_string(kGroupNameBytesMax) +
                                   " bytes (group_name_bytes_max), got " +
                                   std::to_string(name.size()));
  }
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument("group name '" + std::string(name) +
                                     "' may only hold the characters [A-Za-z0-9._-]");
    }
  }
  return Status::OK();
}

Change Change::From(const ChangeView& v) {
  Change c;
  c.seq = v.seq;
  c.key.assign(v.key);
  c.version = v.version;
  c.op = v.op;
  if (v.before) c.before.emplace(*v.before);
  if (v.after) c.after.emplace(*v.after);
  c.event_type.assign(v.event_type);
  c.timestamp_ms = v.timestamp_ms;
  return c;
}

}  // namespace rdb::cdc
