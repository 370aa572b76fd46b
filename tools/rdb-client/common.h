// Shared pieces of rdb-client's verbs: the parsed options, the verb table, output formatting
// (human lines and --json objects, CONTRACT.md "rdb-client") and the exit-code rule.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "client/client.h"

namespace rdb::cli {

// Exit codes (CONTRACT.md): 0 ok; 1 not found or precondition failed; 2 anything else.
constexpr int kExitOk = 0;
constexpr int kExitNotFound = 1;
constexpr int kExitError = 2;

constexpr uint32_t kLimitDefault = 1000;
constexpr uint32_t kLimitMax = 10000;

struct Options {
  // Global options (before or after the verb).
  std::string key;
  std::string payload;
  std::string file;
  std::string event_type;                // the single --type of write (from event_types)
  std::vector<std::string> event_types;  // every --type given (subscribe: a filter, OR'ed)
  std::string id;
  std::string expected = "any";
  std::string server;
  bool json = false;
  double timeout_seconds = 10;
  // Send keyed requests to --server (which forwards them) instead of straight to their group's
  // leader 1 (ClientOptions::route_direct, on by default; no effect on a single node).
  bool no_direct = false;
  // Verb options (accepted before the verb too; checked against the verb in main.cc).
  uint64_t from_version = 0;
  bool backward = false;
  uint32_t limit = kLimitDefault;
  std::string from;  // scan: a seq (inclusive); subscribe: earliest | latest | SEQ (exclusive)
  std::vector<std::string> prefixes;  // subscribe --prefix
  std::string group;                  // subscribe --group
  bool before = false;                // subscribe --before
  uint64_t count = 0;                 // subscribe --count (0 = no limit)
  std::string delete_group;           // groups --delete
  bool stale = false;                 // read / history --stale (cluster: the node's own copy)

  // Which options were given, by long name without dashes ("key", "payload", ...).
  std::function<bool(const std::string&)> given;
};

// A verb: its name and description, the verb options it accepts, and how it runs. Returns the exit
// code. Usage errors print to stderr and return kExitError.
struct Verb {
  std::string name;
  std::string description;
  std::vector<std::string> verb_options;  // e.g. {"from-version", "backward", "limit"}
  bool needs_key = false;
  std::function<int(const Options&, client::Client&)> run;
};

Verb WriteVerb();
Verb ReadVerb();
Verb DeleteVerb();
Verb HistoryVerb();
Verb ScanVerb();
Verb StatusVerb();
Verb SubscribeVerb();
Verb GroupsVerb();
Verb MembersVerb();
Verb ImportVerb();

// Prints "rdb-client: <message>" to stderr and returns the exit code for the status.
int Fail(const Status& status);
// Prints a usage error and returns kExitError.
int UsageError(const std::string& message);

bool IsUtf8(std::string_view s);
std::string Base64(std::string_view s);
// The inverse of Base64 (standard alphabet, '=' padding required); kInvalidArgument otherwise.
Result<std::string> FromBase64(std::string_view s);
// One event as a JSON line (no newline) and as a human line: <seq> <key> v<version> <KIND>
// <payload>.
std::string EventJson(const client::Event& e);
std::string EventLine(const client::Event& e);
// A change (subscribe) as a JSON line ("type": "change") and as a human line:
// <seq> <key> v<version> <OP> <payload>.
std::string ChangeJson(const client::Change& c);
std::string ChangeLine(const client::Change& c);
std::string CheckpointJson(uint64_t seq);
// groups --json: {"group", "seq", "lag", "active", "updated_ms"}; --delete: {"deleted": G}.
std::string GroupJson(const client::GroupInfo& g);
std::string GroupDeletedJson(const std::string& group);
// Parses a seq (decimal, 53 bits at most) for --from.
Result<uint64_t> ParseSeq(const std::string& text);
// Payload shortened for a human line: at most kShortChars characters, control bytes escaped;
// non-UTF-8 payloads as "base64:..." shortened.
std::string ShortPayload(std::string_view payload);
constexpr size_t kShortChars = 64;

// Writes bytes to stdout exactly.
void WriteStdout(std::string_view bytes);

}  // namespace rdb::cli
