// rdb-client import [-f FILE]: appends events read as JSON lines (stdin by default) over one
// AppendStream, many in flight at once, each acknowledged on its own. The line shape is the one
// `history --json` and `scan --json` print, so `rdb-client scan --json | rdb-client import --server
// B` copies a log's latest events, key by key, into another server (seqs are B's own).
//
// Per line: "key" and "payload" (each with an optional "key_encoding" / "payload_encoding": utf8,
// the default, or base64), optional "event_type", "id" (idempotency id), "expected_version" (any,
// none or N, as text or a number), and "kind" (PUT, the default, or DELETE: a Delete of the key,
// sent once the key's earlier lines are acknowledged). Other fields are ignored. Lines of one key
// are applied in input order (one of a key's appends in flight at a time); different keys are not
// ordered. Prints one result per line, in input order: `seq=<n> version=<v>` or {"seq", "version"}.
// A line the server refuses is reported on stderr with its line number and the rest goes on; a
// line that is not valid stops the import there (after what was sent is acknowledged).
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

// Appends in flight at once (each key has at most one of them).
constexpr size_t kImportInFlightMax = 1024;
// The longest accepted input line: a maximal payload as base64 plus the rest of the object.
constexpr size_t kImportLineBytesMax = (16u << 20) / 3 * 4 + 64 * 1024;

struct Line {
  std::string key;
  bool is_delete = false;
  client::EventInput event;
  client::Expected expected = client::Expected::Any();
  std::string id;
};

Result<std::string> Text(const nlohmann::json& j, const char* field, const char* encoding_field) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string())
    return Status::InvalidArgument(std::string("\"") + field + "\" (a string) is missing");
  std::string encoding = "utf8";
  if (auto e = j.find(encoding_field); e != j.end()) {
    if (!e->is_string() || (*e != "utf8" && *e != "base64"))
      return Status::InvalidArgument(std::string("\"") + encoding_field +
                                     "\" must be utf8 or base64");
    encoding = e->get<std::string>();
  }
  if (encoding == "utf8") return it->get<std::string>();
  Result<std::string> bytes = FromBase64(it->get<std::string>());
  if (!bytes.ok())
    return Status::InvalidArgument(std::string("\"") + field + "\": " + bytes.status().message());
  return bytes;
}

Result<Line> ParseLine(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("not a JSON object");
  Line line;
  RDB_ASSIGN_OR_RETURN(line.key, Text(j, "key", "key_encoding"));
  if (auto k = j.find("kind"); k != j.end()) {
    if (*k == "DELETE") {
      line.is_delete = true;
    } else if (*k != "PUT") {
      return Status::InvalidArgument("\"kind\" must be PUT or DELETE");
    }
  }
  if (!line.is_delete) {
    RDB_ASSIGN_OR_RETURN(line.event.payload, Text(j, "payload", "payload_encoding"));
    if (auto t = j.find("event_type"); t != j.end()) {
      if (!t->is_string()) return Status::InvalidArgument("\"event_type\" must be a string");
      line.event.event_type = t->get<std::string>();
    }
  }
  if (auto e = j.find("expected_version"); e != j.end()) {
    std::string v;
    if (e->is_number_unsigned()) {
      v = std::to_string(e->get<uint64_t>());
    } else if (e->is_string()) {
      v = e->get<std::string>();
    } else {
      return Status::InvalidArgument("\"expected_version\" must be any, none or a version");
    }
    RDB_ASSIGN_OR_RETURN(line.expected, client::Expected::Parse(v));
  }
  if (auto id = j.find("id"); id != j.end()) {
    if (!id->is_string()) return Status::InvalidArgument("\"id\" must be a string");
    line.id = id->get<std::string>();
  }
  return line;
}

// The outcomes, printed in input order as they become known.
class Results {
 public:
  explicit Results(bool json) : json_(json) {}

  // Records line n's outcome (n counts the lines sent, from 1) and prints what is now in order.
  void Done(uint64_t n, uint64_t line_no, Result<client::AppendReply> r) {
    std::lock_guard<std::mutex> l(mu_);
    ready_.emplace(n, std::make_pair(line_no, std::move(r)));
    for (auto it = ready_.begin(); it != ready_.end() && it->first == printed_ + 1;
         it = ready_.erase(it)) {
      printed_++;
      const auto& [no, result] = it->second;
      if (result.ok()) {
        if (json_) {
          std::cout << "{\"seq\": " << result->first_seq
                    << ", \"version\": " << result->first_version << "}\n";
        } else {
          std::cout << "seq=" << result->first_seq << " version=" << result->first_version << "\n";
        }
      } else {
        std::cerr << "rdb-client: line " << no << ": " << result.status().message() << "\n";
        int code = (result.status().code() == Code::kNotFound ||
                    result.status().code() == Code::kFailedPrecondition)
                       ? kExitNotFound
                       : kExitError;
        exit_code_ = std::max(exit_code_, code);
      }
    }
  }
  void Fail(int code) {
    std::lock_guard<std::mutex> l(mu_);
    exit_code_ = std::max(exit_code_, code);
  }
  int exit_code() {
    std::lock_guard<std::mutex> l(mu_);
    std::cout.flush();
    return exit_code_;
  }

 private:
  const bool json_;
  std::mutex mu_;
  std::map<uint64_t, std::pair<uint64_t, Result<client::AppendReply>>> ready_;
  uint64_t printed_ = 0;
  int exit_code_ = kExitOk;
};

int RunImport(const Options& o, client::Client& c) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (o.given("file") && o.file != "-") {
    file.open(o.file, std::ios::binary);
    if (!file) return Fail(Status::InvalidArgument("cannot open " + o.file));
    in = &file;
  }
  Results results(o.json);
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> busy;  // keys with an append in flight
  size_t in_flight = 0;
  // Declared after what its callbacks touch, so it is closed (and its callbacks done) first.
  std::unique_ptr<client::AppendStream> stream = c.OpenAppendStream();
  const auto patience = std::chrono::duration<double>(o.timeout_seconds);
  // Waits until ready() holds; false when nothing was acknowledged for --timeout seconds.
  auto wait = [&](std::unique_lock<std::mutex>& l, auto ready) {
    size_t last = in_flight;
    while (!ready()) {
      if (!cv.wait_for(l, patience, ready) && in_flight == last) return false;
      last = in_flight;
    }
    return true;
  };

  std::string text;
  uint64_t line_no = 0, sent = 0;
  bool stalled = false;
  while (std::getline(*in, text)) {
    line_no++;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (text.size() > kImportLineBytesMax) {
      std::cerr << "rdb-client: line " << line_no << ": longer than " << kImportLineBytesMax
                << " bytes; stopping here\n";
      results.Fail(kExitError);
      break;
    }
    Result<Line> line = ParseLine(text);
    if (!line.ok()) {
      std::cerr << "rdb-client: line " << line_no << ": " << line.status().message()
                << "; stopping here\n";
      results.Fail(kExitError);
      break;
    }
    const uint64_t n = ++sent;
    std::unique_lock<std::mutex> l(mu);
    if (!wait(l, [&] { return in_flight < kImportInFlightMax && !busy.count(line->key); })) {
      stalled = true;
      break;
    }
    if (line->is_delete) {
      l.unlock();
      results.Done(n, line_no, c.Delete(line->key, line->expected, line->id));
      continue;
    }
    busy.insert(line->key);
    in_flight++;
    l.unlock();
    stream->Send(
        client::StreamAppend{line->key, {std::move(line->event)}, line->expected, line->id},
        [&, n, line_no, key = line->key](Result<client::AppendReply> r) {
          results.Done(n, line_no, std::move(r));
          std::lock_guard<std::mutex> g(mu);
          busy.erase(key);
          in_flight--;
          cv.notify_all();
        });
  }
  if (in->bad()) {
    std::cerr << "rdb-client: cannot read the input\n";
    results.Fail(kExitError);
  }
  {
    std::unique_lock<std::mutex> l(mu);
    if (!stalled && !wait(l, [&] { return in_flight == 0; })) stalled = true;
  }
  if (stalled) {
    std::cerr << "rdb-client: no acknowledgement from " << c.address() << " within "
              << o.timeout_seconds
              << " s; cancelling (unacknowledged lines have unknown outcomes)\n";
    results.Fail(kExitError);
  }
  // Cancels what is still pending after --timeout; each such line fails (kUnavailable).
  (void)stream->Close(o.timeout_seconds);
  return results.exit_code();
}

}  // namespace

Verb ImportVerb() {
  return {"import",
          "Append events read as JSON lines (the shape scan --json prints) from -f FILE or "
          "stdin, many in flight over one stream",
          {},
          false,
          RunImport};
}

}  // namespace rdb::cli
