// Client: the C++ client library of RDeeBee's gRPC API (proto/rdeebee/v1/rdeebee.proto), shared by
// rdb-client, rdb-bench and later tools (sinks).
//
// Every call returns rdb::Status / rdb::Result carrying the server's code and message (the inverse
// of the server's mapping, see ToStatus below). An expected-version conflict is kFailedPrecondition
// with actual_version() set from the "rdeebee-actual-version" trailing metadata.
//
// Thread-safety: a Client may be used from many threads at once (gRPC stubs are thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "cluster/routing.h"

namespace grpc {
class Channel;
class Status;
}  // namespace grpc

namespace rdb::client {

// How long a safe call keeps retrying UNAVAILABLE by default (ClientOptions::
// unavailable_retry_seconds): a cluster's failover takes up to its lease TTL plus ~1 s.
inline constexpr double kUnavailableRetrySecondsDefault = 5;
// The pause before the first retry; it doubles up to kRetryBackoffMaxMs.
inline constexpr int kRetryBackoffInitialMs = 25;
inline constexpr int kRetryBackoffMaxMs = 500;
// Direct routing (ClientOptions::route_direct): at most one member-map read per this period, and
// one read's limit (it is also bounded by the call's own deadline).
inline constexpr int kRouteMapReadGapMs = 100;
inline constexpr int kRouteMapReadTimeoutMs = 2000;

struct ClientOptions {
  // Per-call deadline, retries included. 0 = none.
  double timeout_seconds = 10;
  // A call that is safe to send again — a read (Get, ReadStream, ReadAll, ListGroups), an Append
  // or Delete with an idempotency id (the server returns the original {seq, version}), or
  // CommitGroupPosition (committing the same seq again is a no-op) — and that fails with
  // UNAVAILABLE (a cluster's leader changing, a node restarting or draining, no connection) is
  // sent again, with backoff, for up to this long and never past timeout_seconds. 0 = never.
  // Writes without an idempotency id, DeleteGroup, Status and ListMembers are never retried.
  double unavailable_retry_seconds = kUnavailableRetrySecondsDefault;
  // Give this client its own TCP connection instead of sharing one with other clients of the
  // process that talk to the same server (the benchmark's --clients N means N connections).
  bool own_connection = false;
  // Cluster mode: Get and ReadStream read the asked node's own copy (GetRequest.stale) instead of
  // leader 1's confirmed state.
  bool stale_reads = false;
  // Cluster mode: send Append, Delete, Get, ReadStream (not stale_reads ones), CommitGroupPosition
  // and DeleteGroup straight to leader 1 of their key's group (cluster::GroupOfKey; consumer groups
  // by "$group/<name>") instead of through the given server, which would forward them (one hop).
  // The first such call reads the member map (ListMembers through the given server); a server in
  // single-node mode, or a map that cannot be read, leaves every call on the given server. One
  // connection per leader address. A routed call that fails with UNAVAILABLE (leader change, node
  // gone) drops that group's leader, so the next attempt goes to the given server (which forwards)
  // until the map is read again (at most every kRouteMapReadGapMs); retries follow
  // unavailable_retry_seconds. Every other call (ReadAll, ListGroups, Subscribe, Status,
  // ListMembers) always goes to the given server. Off by default in the library (tests and tools
  // that mean to talk to one node); rdb-client turns it on (--no-direct turns it off).
  bool route_direct = false;
};

// The group of key among groups (> 0): the server's own cluster::GroupOfKey
// (docs/design/cluster.md, "Routing").
inline uint32_t GroupOfKey(const std::string& key, uint32_t groups) {
  return cluster::GroupOfKey(key, groups);
}

// "HOST:PORT" from --server, else SERVER_IP / SERVER_PORT, else 127.0.0.1:2048.
std::string DefaultServerAddress();

struct Expected {
  enum class Kind : uint8_t { kAny, kNoStream, kExact };
  Kind kind = Kind::kAny;
  uint64_t version = 0;  // for kExact

  static Expected Any() { return {}; }
  static Expected NoStream() { return {Kind::kNoStream, 0}; }
  static Expected Exact(uint64_t v) { return {Kind::kExact, v}; }
  // "any", "none", "0" (= none) or a version N >= 1.
  static Result<Expected> Parse(const std::string& text);
};

struct EventInput {
  std::string payload;
  std::string event_type;
};

struct AppendReply {
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t first_version = 0;
  uint64_t last_version = 0;
  bool deduplicated = false;
};

enum class Kind : uint8_t { kPut, kDelete };

struct Event {
  std::string key;
  uint64_t seq = 0;
  uint64_t version = 0;
  Kind kind = Kind::kPut;
  std::string event_type;
  std::string payload;
  uint64_t timestamp_ms = 0;
  std::string idempotency_id;
};

struct ReadReply {
  std::vector<Event> events;
  uint64_t next = 0;  // version (ReadStream) or seq (ReadAll) to continue from; 0 = end reached
};

struct ServerStatus {
  std::string server_version, mode, data_dir, fsync, levels;
  uint64_t last_seq = 0, uptime_ms = 0, appends = 0, events_appended = 0, bytes_appended = 0;
  uint64_t group_commits = 0, log_syncs = 0, log_bytes = 0, memtable_bytes = 0, table_count = 0;
  uint64_t table_bytes = 0, flushes = 0, compactions = 0, payload_bytes_max = 0;
  // Cluster mode only (mode == "cluster"): this node's place in the cluster.
  std::string node, role;  // role: leader1 | leader2 | follower | joining
  uint64_t node_id = 0;
  uint32_t group = 0;
  int64_t epoch = 0;
};

// A live node of the cluster (ListMembers); in single-node mode, the server itself.
struct Member {
  uint32_t group = 0;
  std::string node, address;
  uint64_t id = 0;
  std::string role;  // leader1 | leader2 | follower | joining
  int64_t epoch = 0;
  uint64_t last_seq = 0;
  uint64_t lag = 0;  // how far last_seq is behind its group's leader 1
};

// --- change data capture (Subscribe) ---

enum class ChangeOp : uint8_t { kCreate, kUpdate, kDelete };

struct Change {
  uint64_t seq = 0;
  std::string key;
  uint64_t version = 0;
  ChangeOp op = ChangeOp::kCreate;
  std::optional<std::string> before;  // only with include_before, when the key had a value
  std::optional<std::string> after;   // absent for a DELETE
  std::string event_type;
  uint64_t timestamp_ms = 0;
};

struct SubscribeOptions {
  enum class Start : uint8_t { kEarliest, kLatest, kAfterSeq };
  Start start = Start::kEarliest;
  uint64_t after_seq = 0;                 // for kAfterSeq: changes with seq > after_seq
  std::vector<std::string> key_prefixes;  // OR'ed; empty = every key
  std::vector<std::string> event_types;   // OR'ed; empty = every type; ANDed with the prefixes
  bool include_before = false;
  std::string group;  // consumer group: its committed position wins over `start`
  bool include_system = false;
  uint32_t checkpoint_interval_ms = 0;  // 0 = the server's default (1000)
};

// One open Subscribe stream. Not thread-safe, except Cancel(), which any thread may call.
class Subscription {
 public:
  virtual ~Subscription() = default;
  // Blocks for the next stream message. Appends its changes (strictly increasing seq) to *changes
  // and sets *checkpoint to its checkpoint seq (0 if it carries none). Returns OK, or the status
  // that ended the stream (kAborted "subscription cancelled" after Cancel(); the server's code and
  // message otherwise; a server that ended the stream normally gives kUnavailable).
  virtual Status Next(std::vector<Change>* changes, uint64_t* checkpoint) = 0;
  // Ends the stream from any thread; a blocked Next() returns.
  virtual void Cancel() = 0;
};

struct GroupInfo {
  std::string group;
  uint64_t seq = 0;
  uint64_t lag = 0;
  bool active = false;
  uint64_t updated_ms = 0;
};

// One append of an AppendStream: what Client::Append takes.
struct StreamAppend {
  std::string key;
  std::vector<EventInput> events;
  Expected expected = Expected::Any();
  std::string idempotency_id;
};

// Appends sent but not yet acknowledged on one AppendStream (the client's bound; the server reads
// ahead at most 256 of them and holds the rest back with flow control).
inline constexpr size_t kAppendStreamPendingMax = 4096;
// How long destroying an AppendStream that was not closed waits for its acks before cancelling.
inline constexpr double kAppendStreamCloseSecondsDefault = 10;

// A pipelined append stream (EventStore.AppendStream), for high rates of small appends: Send()
// queues an append and returns at once; its done callback runs once, on a gRPC thread, with that
// append's own outcome — what Client::Append would return (an expected-version conflict is
// kFailedPrecondition with actual_version() set). Appends in flight together may be applied in
// any order. Nothing is retried: if the stream breaks, every unacknowledged append fails with
// kUnavailable and its outcome is unknown (send it again, with the same idempotency id, on a new
// stream). There is no per-append deadline: Close() bounds the wait. Thread-safe; done callbacks
// may call Send(). The stream goes to the client's given server (a cluster node forwards appends
// for other groups).
class AppendStream {
 public:
  using Done = std::function<void(Result<AppendReply>)>;
  // Close(kAppendStreamCloseSecondsDefault) if not closed.
  virtual ~AppendStream() = default;
  // Queues one append. done runs with kResourceExhausted at once when kAppendStreamPendingMax
  // appends are pending, and with kUnavailable once the stream has ended.
  virtual void Send(const StreamAppend& append, Done done) = 0;
  // Half-closes and waits, up to timeout_seconds (0 = no limit), for every pending done to run,
  // then cancels the rest (they fail with kUnavailable). Returns the stream's final status.
  virtual Status Close(double timeout_seconds = 0) = 0;
};

class Client {
 public:
  // Creates a client for "HOST:PORT". Does not wait for the connection: the first call does.
  static Result<std::unique_ptr<Client>> Connect(const std::string& address,
                                                 const ClientOptions& options = {});
  ~Client();

  Result<AppendReply> Append(const std::string& key, const std::vector<EventInput>& events,
                             Expected expected = Expected::Any(),
                             const std::string& idempotency_id = "");
  Result<AppendReply> Append(const std::string& key, const EventInput& event,
                             Expected expected = Expected::Any(),
                             const std::string& idempotency_id = "") {
    return Append(key, std::vector<EventInput>{event}, expected, idempotency_id);
  }
  // first_seq == last_seq and first_version == last_version in the reply.
  Result<AppendReply> Delete(const std::string& key, Expected expected = Expected::Any(),
                             const std::string& idempotency_id = "");
  Result<Event> Get(const std::string& key);
  Result<ReadReply> ReadStream(const std::string& key, uint64_t from_version, bool backward,
                               uint32_t limit);
  Result<ReadReply> ReadAll(uint64_t from_seq, uint32_t limit, bool include_system = false);
  Result<ServerStatus> GetStatus();
  // Every live node, sorted by group then id.
  Result<std::vector<Member>> ListMembers();

  // Opens an AppendStream to the given server (no deadline; see AppendStream).
  std::unique_ptr<AppendStream> OpenAppendStream();

  // Opens a Subscribe stream (no deadline: it lasts until cancelled or the server ends it). The
  // server's errors (e.g. a busy group) arrive from the first Next().
  Result<std::unique_ptr<Subscription>> Subscribe(const SubscribeOptions& options);
  // Stores a group's position; returns the stored position. Backwards: kFailedPrecondition.
  Result<uint64_t> CommitGroupPosition(const std::string& group, uint64_t seq);
  // Every group, sorted by name; *last_seq (if given) gets the log's last seq.
  Result<std::vector<GroupInfo>> ListGroups(uint64_t* last_seq = nullptr);
  Status DeleteGroup(const std::string& group);

  // Waits until the server answers a Status call or the timeout passes.
  Status WaitUntilReady(double timeout_seconds);

  const std::string& address() const { return address_; }

  // Direct routing's state (route_direct), for tests and tools.
  struct RoutingStats {
    std::string mode;         // "" (not read yet, or unreadable), "cluster" or "single-node"
    uint32_t groups = 0;      // as derived from the member map (highest group + 1)
    uint64_t map_reads = 0;   // member-map reads attempted
    uint64_t routed = 0;      // attempts sent straight to a group's leader 1
    uint64_t via_server = 0;  // keyed attempts sent to the given server instead
  };
  RoutingStats routing_stats() const;

 private:
  struct Stub;
  struct Router;
  struct Target;
  // Runs attempt(stub, ctx) with a fresh context per attempt, under the call's deadline; retries
  // UNAVAILABLE as ClientOptions says when retryable. key: routed as route_direct says (null:
  // always the given server). The error of the last attempt, mapped.
  template <typename Attempt>
  Status Run(bool retryable, const std::string* key, Attempt&& attempt);
  // Where an attempt for key goes (reads the member map first when due).
  Target Pick(const std::string* key, std::chrono::system_clock::time_point deadline,
              bool has_deadline);
  void ReadMap(std::chrono::system_clock::time_point deadline, bool has_deadline);
  void Routed(const Target& target, bool unavailable);
  Client(std::string address, const ClientOptions& options, std::shared_ptr<grpc::Channel> channel);
  std::string address_;
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Stub> stub_;
  std::unique_ptr<Router> router_;
};

}  // namespace rdb::client
