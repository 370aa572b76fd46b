// Change data capture: the shape of a change, subscription filters and their limits.
// Semantics and guarantees: docs/cdc.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace rdb::cdc {

// Named limits (CONTRACT.md, proto SubscribeRequest).
constexpr size_t kPrefixesMax = 64;       // subscribe_prefixes_max
constexpr size_t kPrefixBytesMax = 1024;  // subscribe_prefix_bytes_max
constexpr size_t kTypesMax = 64;          // subscribe_types_max
constexpr size_t kTypeBytesMax = 128;     // subscribe_type_bytes_max
constexpr uint32_t kCheckpointIntervalMsDefault = 1000;
constexpr uint32_t kCheckpointIntervalMsMin = 10;
constexpr uint32_t kCheckpointIntervalMsMax = 60000;
constexpr size_t kGroupNameBytesMax = 128;  // group_name_bytes_max

enum class ChangeOp : uint8_t { kCreate = 1, kUpdate = 2, kDelete = 3 };
const char* ChangeOpName(ChangeOp op);  // "CREATE", "UPDATE", "DELETE"

// Which changes a subscription passes on: key prefixes OR'ed, event types OR'ed, the two sets
// AND'ed; an empty set matches everything. '$' system keys only with include_system.
struct Filter {
  std::vector<std::string> key_prefixes;
  std::vector<std::string> event_types;
  bool include_system = false;

  bool MatchesKey(std::string_view key) const;
  bool MatchesType(std::string_view event_type) const;
};

// Checks the filter limits; the message names the limit broken.
Status ValidateFilter(const Filter& filter);
// 0 (= default) or kCheckpointIntervalMsMin..kCheckpointIntervalMsMax.
Status ValidateCheckpointInterval(uint32_t interval_ms);
// 1..kGroupNameBytesMax bytes of [A-Za-z0-9._-].
Status ValidateGroupName(std::string_view name);

// One change as a subscription hands it to its sink. The views are valid only during the call.
struct ChangeView {
  uint64_t seq = 0;
  std::string_view key;
  uint64_t version = 0;
  ChangeOp op = ChangeOp::kCreate;
  std::optional<std::string_view> before;  // only with include_before, when the key had a value
  std::optional<std::string_view> after;   // absent for a DELETE
  std::string_view event_type;
  uint64_t timestamp_ms = 0;
};

// An owned copy of a ChangeView (tests, tools).
struct Change {
  uint64_t seq = 0;
  std::string key;
  uint64_t version = 0;
  ChangeOp op = ChangeOp::kCreate;
  std::optional<std::string> before;
  std::optional<std::string> after;
  std::string event_type;
  uint64_t timestamp_ms = 0;

  static Change From(const ChangeView& v);
};

}  // namespace rdb::cdc
