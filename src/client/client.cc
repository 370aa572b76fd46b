#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>

#include "rdeebee/v1/rdeebee.grpc.pb.h"

namespace rdb::client {

namespace pb = ::rdeebee::v1;

namespace {

constexpr char kActualVersionKey[] = "rdeebee-actual-version";
// A consumer group's position key (cdc/groups.h kGroupKeyPrefix): how the server routes it.
constexpr char kGroupKeyPrefix[] = "$group/";
// Responses hold at most 16 MiB of events; leave room for framing.
constexpr int kReceiveBytesMax = 64 << 20;
constexpr int kReconnectBackoffMinMs = 100;
constexpr int kReconnectBackoffMaxMs = 2000;
// One connection attempt's limit (gRPC reads it from GRPC_ARG_MIN_RECONNECT_BACKOFF_MS): at 100 ms,
// attempts against a server that has just restarted on a loaded machine kept timing out.
constexpr int kConnectTimeoutMs = 2000;

std::string GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// The inverse of the server's ToGrpcStatus (server/status_mapping.cc).
Code FromGrpcCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return Code::kOk;
    case grpc::StatusCode::NOT_FOUND:
      return Code::kNotFound;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return Code::kInvalidArgument;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Code::kFailedPrecondition;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Code::kResourceExhausted;
    case grpc::StatusCode::ALREADY_EXISTS:
      return Code::kAlreadyExists;
    case grpc::StatusCode::UNIMPLEMENTED:
      return Code::kNotSupported;
    case grpc::StatusCode::ABORTED:
      return Code::kAborted;
    case grpc::StatusCode::DATA_LOSS:
      return Code::kCorruption;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return Code::kUnavailable;
    default:
      return Code::kIoError;
  }
}

Status FromGrpc(const grpc::Status& s, const grpc::ClientContext& ctx, const std::string& address,
                double timeout_seconds) {
  if (s.ok()) return Status::OK();
  std::string msg = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      msg = "server " + address + " unavailable: " + msg;
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      msg = "no answer from " + address + " within " + std::to_string(timeout_seconds) +
            " s (deadline exceeded)";
      break;
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
      msg = "server error: " + msg;
      break;
    default:
      break;
  }
  Status out(FromGrpcCode(s.error_code()), msg);
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find(kActualVersionKey);
  if (it != trailers.end()) {
    std::string v(it->second.data(), it->second.size());
    char* end = nullptr;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (end != v.c_str() && *end == '\0') out.WithActualVersion(n);
  }
  return out;
}

void SetExpected(Expected e, pb::ExpectedVersion* out) {
  switch (e.kind) {
    case Expected::Kind::kAny:
      out->set_kind(pb::EXPECTED_VERSION_KIND_ANY);
      break;
    case Expected::Kind::kNoStream:
      out->set_kind(pb::EXPECTED_VERSION_KIND_NO_STREAM);
      break;
    case Expected::Kind::kExact:
      out->set_kind(pb::EXPECTED_VERSION_KIND_EXACT);
      out->set_version(e.version);
      break;
  }
}

Event FromProto(const pb::Event& e) {
  Event out;
  out.key = e.key();
  out.seq = e.seq();
  out.version = e.version();
  out.kind = e.kind() == pb::EVENT_KIND_DELETE ? Kind::kDelete : Kind::kPut;
  out.event_type = e.event_type();
  out.payload = e.payload();
  out.timestamp_ms = e.timestamp_ms();
  out.idempotency_id = e.idempotency_id();
  return out;
}

}  // namespace

struct Client::Stub {
  std::unique_ptr<pb::EventStore::Stub> stub;
};

std::string DefaultServerAddress() {
  std::string ip = GetEnv("SERVER_IP");
  std::string port = GetEnv("SERVER_PORT");
  if (ip.empty()) ip = "127.0.0.1";
  if (port.empty()) port = "2048";
  return ip + ":" + port;
}

Result<Expected> Expected::Parse(const std::string& text) {
  if (text == "any") return Expected::Any();
  if (text == "none" || text == "0") return Expected::NoStream();
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("expected version must be any, none or a version number, got '" +
                                   text + "'");
  return Expected::Exact(std::stoull(text));
}

namespace {

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address,
                                          const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kReceiveBytesMax);
  args.SetMaxSendMessageSize(kReceiveBytesMax);
  if (options.own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect quickly after a server restart (gRPC's default backoff grows to 2 minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectBackoffMinMs);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kConnectTimeoutMs);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kReconnectBackoffMaxMs);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

// Where one attempt goes: the given server (group -1) or a group's leader 1.
struct Client::Target {
  pb::EventStore::Stub* stub = nullptr;
  std::shared_ptr<pb::EventStore::Stub> hold;  // keeps a leader's stub alive for the attempt
  std::string address;
  int64_t group = -1;
};

// Direct routing's member map (route_direct). Guarded by mu; the map is read without it.
struct Client::Router {
  mutable std::mutex mu;
  std::string mode;  // "", "cluster" or "single-node" (final)
  uint32_t groups = 0;
  std::vector<std::string> leaders;  // by group: leader 1's address ("" = unknown: given server)
  std::vector<std::string> members;  // every member's address: map reads if the server fails
  std::map<std::string, std::shared_ptr<pb::EventStore::Stub>> stubs;  // one per leader address
  bool due = true;       // read the map before the next keyed call (first use, a routed failure)
  bool reading = false;  // a thread is reading it (the others use the current map meanwhile)
  bool failed = false;   // the last read failed: wait 10 gaps before the next
  std::chrono::steady_clock::time_point last_read{};
  bool read_once = false;
  Client::RoutingStats stats;

  std::shared_ptr<pb::EventStore::Stub> StubFor(const std::string& address,
                                                const ClientOptions& options) {
    auto& s = stubs[address];
    if (!s) s = pb::EventStore::NewStub(NewChannel(address, options));
    return s;
  }
};

Result<std::unique_ptr<Client>> Client::Connect(const std::string& address,
                                                const ClientOptions& options) {
  if (address.empty() || address.find(':') == std::string::npos)
    return Status::InvalidArgument("server address must be HOST:PORT, got '" + address + "'");
  auto channel = NewChannel(address, options);
  if (!channel) return Status::Unavailable("cannot create a channel to " + address);
  return std::unique_ptr<Client>(new Client(address, options, std::move(channel)));
}

Client::Client(std::string address, const ClientOptions& options,
               std::shared_ptr<grpc::Channel> channel)
    : address_(std::move(address)),
      options_(options),
      channel_(std::move(channel)),
      stub_(std::make_unique<Stub>()),
      router_(std::make_unique<Router>()) {
  stub_->stub = pb::EventStore::NewStub(channel_);
}

Client::~Client() = default;

Client::RoutingStats Client::routing_stats() const {
  std::lock_guard<std::mutex> l(router_->mu);
  RoutingStats out = router_->stats;
  out.mode = router_->mode;
  out.groups = router_->groups;
  return out;
}

void Client::ReadMap(std::chrono::system_clock::time_point deadline, bool has_deadline) {
  Router& r = *router_;
  // Through the given server first, then through any member known from an earlier read.
  std::vector<std::pair<std::string, std::shared_ptr<pb::EventStore::Stub>>> via;
  via.emplace_back(address_, nullptr);
  {
    std::lock_guard<std::mutex> l(r.mu);
    ++r.stats.map_reads;
    for (const auto& a : r.members)
      if (a != address_) via.emplace_back(a, r.StubFor(a, options_));
  }
  pb::ListMembersResponse resp;
  bool ok = false, unimplemented = false;
  for (const auto& [addr, st] : via) {
    auto d = std::chrono::system_clock::now() + std::chrono::milliseconds(kRouteMapReadTimeoutMs);
    if (has_deadline && deadline < d) d = deadline;
    if (std::chrono::system_clock::now() >= d) break;
    grpc::ClientContext ctx;
    ctx.set_deadline(d);
    resp.Clear();
    grpc::Status s = (st ? st.get() : stub_->stub.get())->ListMembers(&ctx, {}, &resp);
    if (s.ok()) {
      ok = true;
      break;
    }
    if (st == nullptr && s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      unimplemented = true;  // a server without a member map: it is the only node
      break;
    }
  }
  std::lock_guard<std::mutex> l(r.mu);
  r.reading = false;
  r.read_once = true;
  r.last_read = std::chrono::steady_clock::now();
  r.failed = !ok && !unimplemented;
  if (r.failed) return;  // still due; calls go to the given server meanwhile
  r.due = false;
  if (unimplemented || resp.mode() != "cluster") {
    r.mode = "single-node";  // final: every call goes to the given server, as without routing
    r.leaders.clear();
    r.stubs.clear();
    return;
  }
  r.mode = "cluster";
  // The shape's group count: every group has a live member unless a whole group is down (then
  // its keys, and only they, may be mapped wrongly; the node that gets them forwards them).
  for (const pb::Member& m : resp.members()) r.groups = std::max(r.groups, m.group() + 1);
  r.leaders.assign(r.groups, "");
  r.members.clear();
  for (const pb::Member& m : resp.members()) {
    if (m.address().empty()) continue;
    r.members.push_back(m.address());
    if (m.role() == pb::MEMBER_ROLE_LEADER1) r.leaders[m.group()] = m.address();
  }
  // Connections to addresses that left the map are dropped (calls in flight hold their stub).
  for (auto it = r.stubs.begin(); it != r.stubs.end();) {
    if (std::find(r.members.begin(), r.members.end(), it->first) == r.members.end()) {
      it = r.stubs.erase(it);
    } else {
      ++it;
    }
  }
}

Client::Target Client::Pick(const std::string* key, std::chrono::system_clock::time_point deadline,
                            bool has_deadline) {
  Target given{stub_->stub.get(), nullptr, address_, -1};
  if (key == nullptr || !options_.route_direct) return given;
  Router& r = *router_;
  bool read = false;
  {
    std::lock_guard<std::mutex> l(r.mu);
    if (r.mode == "single-node") return given;
    const auto gap = std::chrono::milliseconds(kRouteMapReadGapMs * (r.failed ? 10 : 1));
    if (r.due && !r.reading &&
        (!r.read_once || std::chrono::steady_clock::now() - r.last_read >= gap)) {
      r.reading = true;
      read = true;
    }
  }
  if (read) ReadMap(deadline, has_deadline);
  std::lock_guard<std::mutex> l(r.mu);
  if (r.mode != "cluster" || r.groups == 0) {
    if (r.mode != "single-node") ++r.stats.via_server;
    return given;
  }
  const uint32_t g = GroupOfKey(*key, r.groups);
  if (g >= r.leaders.size() || r.leaders[g].empty()) {
    ++r.stats.via_server;
    return given;
  }
  Target t;
  t.hold = r.StubFor(r.leaders[g], options_);
  t.stub = t.hold.get();
  t.address = r.leaders[g];
  t.group = g;
  ++r.stats.routed;
  return t;
}

void Client::Routed(const Target& target, bool unavailable) {
  if (!unavailable) return;
  Router& r = *router_;
  std::lock_guard<std::mutex> l(r.mu);
  if (r.mode != "cluster") return;
  // A leader change or a node gone: forget that leader (the next attempt goes to the given
  // server, which forwards) and read the map again before the next keyed call.
  if (target.group >= 0 && static_cast<size_t>(target.group) < r.leaders.size() &&
      r.leaders[target.group] == target.address)
    r.leaders[target.group].clear();
  r.due = true;
}

template <typename Attempt>
Status Client::Run(bool retryable, const std::string* key, Attempt&& attempt) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const bool has_deadline = options_.timeout_seconds > 0;
  const auto timeout = std::chrono::microseconds(
      static_cast<int64_t>((has_deadline ? options_.timeout_seconds : 0) * 1e6));
  const auto deadline = std::chrono::system_clock::now() + timeout;
  const auto retry_until =
      start + std::chrono::microseconds(static_cast<int64_t>(
                  (retryable ? std::max(0.0, options_.unavailable_retry_seconds) : 0) * 1e6));
  int backoff_ms = kRetryBackoffInitialMs;
  for (;;) {
    Target target = Pick(key, deadline, has_deadline);
    grpc::ClientContext ctx;
    if (has_deadline) ctx.set_deadline(deadline);
    grpc::Status s = attempt(target.stub, &ctx);
    if (key != nullptr && options_.route_direct)
      Routed(target, s.error_code() == grpc::StatusCode::UNAVAILABLE);
    if (s.ok()) return Status::OK();
    const auto wake = Clock::now() + std::chrono::milliseconds(backoff_ms);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE || wake >= retry_until ||
        (has_deadline && wake >= start + timeout)) {
      return FromGrpc(s, ctx, target.address, options_.timeout_seconds);
    }
    std::this_thread::sleep_until(wake);
    backoff_ms = std::min(backoff_ms * 2, kRetryBackoffMaxMs);
  }
}

namespace {

// Client side of one AppendStream: one write and one read in flight at a time (gRPC's rule); the
// read loop runs until the server ends the stream.
class AppendStreamImpl final
    : public AppendStream,
      public grpc::ClientBidiReactor<pb::AppendStreamRequest, pb::AppendStreamResponse> {
 public:
  AppendStreamImpl(pb::EventStore::Stub* stub, std::string address) : address_(std::move(address)) {
    stub->async()->AppendStream(&ctx_, this);
    StartRead(&resp_);
    StartCall();
  }

  ~AppendStreamImpl() override { (void)Close(kAppendStreamCloseSecondsDefault); }

  void Send(const StreamAppend& append, Done done) override {
    // Built before the lock: only the id and the queueing need it.
    pb::AppendStreamRequest req;
    pb::AppendRequest* a = req.mutable_append();
    a->set_key(append.key);
    for (const auto& e : append.events) {
      auto* ev = a->add_events();
      ev->set_payload(e.payload);
      ev->set_event_type(e.event_type);
    }
    SetExpected(append.expected, a->mutable_expected_version());
    a->set_idempotency_id(append.idempotency_id);
    Status refusal;
    bool write = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (ended_ || closing_) {
        refusal = Status::Unavailable("append stream to " + address_ + " has ended");
      } else if (pending_.size() >= kAppendStreamPendingMax) {
        refusal = Status::ResourceExhausted("append stream has " +
                                            std::to_string(kAppendStreamPendingMax) +
                                            " appends pending (kAppendStreamPendingMax)");
      } else {
        const uint64_t id = ++last_id_;
        pending_.emplace(id, std::move(done));
        req.set_request_id(id);
        if (writing_) {
          queue_.push_back(std::move(req));
        } else {
          writing_ = write = true;
          req_ = std::move(req);
        }
      }
    }
    if (!refusal.ok()) return done(refusal);
    if (write) StartWrite(&req_);
  }

  Status Close(double timeout_seconds) override {
    bool half_close = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!closing_) {
        closing_ = true;
        half_close = !writing_ && !ended_;
        if (half_close) writes_done_ = true;
      }
    }
    if (half_close) StartWritesDone();
    std::unique_lock<std::mutex> l(mu_);
    auto finished = [this] { return done_; };
    if (timeout_seconds > 0) {
      if (!cv_.wait_for(l, std::chrono::duration<double>(timeout_seconds), finished)) {
        l.unlock();
        ctx_.TryCancel();
        l.lock();
      }
    }
    cv_.wait(l, finished);
    return final_;
  }

  void OnWriteDone(bool ok) override {
    bool write = false, half_close = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (ok && !queue_.empty()) {
        req_ = std::move(queue_.front());
        queue_.pop_front();
        write = true;
      } else {
        queue_.clear();  // a failed write: the stream is broken; OnDone fails what is pending
        writing_ = false;
        if (closing_ && !writes_done_ && ok) half_close = writes_done_ = true;
      }
    }
    if (write) StartWrite(&req_);
    if (half_close) StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> l(mu_);
      ended_ = true;
      return;
    }
    std::vector<std::pair<Done, Result<AppendReply>>> ready;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const pb::AppendAck& ack : resp_.acks()) {
        auto it = pending_.find(ack.request_id());
        if (it == pending_.end()) continue;  // not ours: ignore (a server bug would show here)
        ready.emplace_back(std::move(it->second), FromAck(ack));
        pending_.erase(it);
      }
    }
    StartRead(&resp_);
    for (auto& [done, result] : ready) done(std::move(result));
  }

  void OnDone(const grpc::Status& s) override {
    std::map<uint64_t, Done> failed;
    Status final_status = FromGrpc(s, ctx_, address_, 0);
    {
      std::lock_guard<std::mutex> l(mu_);
      ended_ = true;
      failed.swap(pending_);
    }
    Status lost = Status::Unavailable(
        "append stream to " + address_ + " ended before this append was acknowledged (" +
        (s.ok() ? std::string("closed") : final_status.message()) + "); its outcome is unknown");
    for (auto& [id, done] : failed) done(lost);
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    final_ = final_status;
    cv_.notify_all();
  }

 private:
  Result<AppendReply> FromAck(const pb::AppendAck& ack) const {
    if (ack.code() == 0) {
      const pb::AppendResponse& r = ack.result();
      return AppendReply{r.first_seq(), r.last_seq(), r.first_version(), r.last_version(),
                         r.deduplicated()};
    }
    Status st(FromGrpcCode(static_cast<grpc::StatusCode>(ack.code())), ack.message());
    if (ack.has_actual_version()) st.WithActualVersion(ack.actual_version());
    return st;
  }

  const std::string address_;
  grpc::ClientContext ctx_;
  pb::AppendStreamRequest req_;    // the write in progress
  pb::AppendStreamResponse resp_;  // the read in progress
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pb::AppendStreamRequest> queue_;  // waiting for the write in progress
  std::map<uint64_t, Done> pending_;           // sent, not acknowledged, by request id
  uint64_t last_id_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool writes_done_ = false;
  bool ended_ = false;  // the read loop ended: no ack is coming
  bool done_ = false;   // OnDone ran
  Status final_;
};

}  // namespace

std::unique_ptr<AppendStream> Client::OpenAppendStream() {
  return std::make_unique<AppendStreamImpl>(stub_->stub.get(), address_);
}

Result<AppendReply> Client::Append(const std::string& key, const std::vector<EventInput>& events,
                                   Expected expected, const std::string& idempotency_id) {
  pb::AppendRequest req;
  req.set_key(key);
  for (const auto& e : events) {
    auto* ev = req.add_events();
    ev->set_payload(e.payload);
    ev->set_event_type(e.event_type);
  }
  SetExpected(expected, req.mutable_expected_version());
  req.set_idempotency_id(idempotency_id);
  pb::AppendResponse resp;
  RDB_RETURN_IF_ERROR(
      Run(!idempotency_id.empty(), &key, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
        resp.Clear();
        return stub->Append(ctx, req, &resp);
      }));
  return AppendReply{resp.first_seq(), resp.last_seq(), resp.first_version(), resp.last_version(),
                     resp.deduplicated()};
}

Result<AppendReply> Client::Delete(const std::string& key, Expected expected,
                                   const std::string& idempotency_id) {
  pb::DeleteRequest req;
  req.set_key(key);
  SetExpected(expected, req.mutable_expected_version());
  req.set_idempotency_id(idempotency_id);
  pb::DeleteResponse resp;
  RDB_RETURN_IF_ERROR(
      Run(!idempotency_id.empty(), &key, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
        resp.Clear();
        return stub->Delete(ctx, req, &resp);
      }));
  return AppendReply{resp.seq(), resp.seq(), resp.version(), resp.version(), resp.deduplicated()};
}

Result<Event> Client::Get(const std::string& key) {
  pb::GetRequest req;
  req.set_key(key);
  req.set_stale(options_.stale_reads);
  const std::string* read_key = options_.stale_reads ? nullptr : &key;  // stale: the asked node
  pb::GetResponse resp;
  RDB_RETURN_IF_ERROR(
      Run(true, read_key, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
        resp.Clear();
        return stub->Get(ctx, req, &resp);
      }));
  return FromProto(resp.event());
}

Result<ReadReply> Client::ReadStream(const std::string& key, uint64_t from_version, bool backward,
                                     uint32_t limit) {
  pb::ReadStreamRequest req;
  req.set_key(key);
  req.set_from_version(from_version);
  req.set_direction(backward ? pb::DIRECTION_BACKWARD : pb::DIRECTION_FORWARD);
  req.set_limit(limit);
  req.set_stale(options_.stale_reads);
  const std::string* read_key = options_.stale_reads ? nullptr : &key;  // stale: the asked node
  pb::ReadStreamResponse resp;
  RDB_RETURN_IF_ERROR(
      Run(true, read_key, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
        resp.Clear();
        return stub->ReadStream(ctx, req, &resp);
      }));
  ReadReply out;
  out.events.reserve(resp.events_size());
  for (const auto& e : resp.events()) out.events.push_back(FromProto(e));
  out.next = resp.next_version();
  return out;
}

Result<ReadReply> Client::ReadAll(uint64_t from_seq, uint32_t limit, bool include_system) {
  pb::ReadAllRequest req;
  req.set_from_seq(from_seq);
  req.set_limit(limit);
  req.set_include_system(include_system);
  pb::ReadAllResponse resp;
  RDB_RETURN_IF_ERROR(Run(true, nullptr, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
    resp.Clear();
    return stub->ReadAll(ctx, req, &resp);
  }));
  ReadReply out;
  out.events.reserve(resp.events_size());
  for (const auto& e : resp.events()) out.events.push_back(FromProto(e));
  out.next = resp.next_seq();
  return out;
}

Result<ServerStatus> Client::GetStatus() {
  pb::StatusRequest req;
  pb::StatusResponse r;
  RDB_RETURN_IF_ERROR(
      Run(false, nullptr, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
        r.Clear();
        return stub->Status(ctx, req, &r);
      }));
  ServerStatus out;
  out.server_version = r.server_version();
  out.mode = r.mode();
  out.data_dir = r.data_dir();
  out.fsync = r.fsync();
  out.levels = r.levels();
  out.last_seq = r.last_seq();
  out.uptime_ms = r.uptime_ms();
  out.appends = r.appends();
  out.events_appended = r.events_appended();
  out.bytes_appended = r.bytes_appended();
  out.group_commits = r.group_commits();
  out.log_syncs = r.log_syncs();
  out.log_bytes = r.log_bytes();
  out.memtable_bytes = r.memtable_bytes();
  out.table_count = r.table_count();
  out.table_bytes = r.table_bytes();
  out.flushes = r.flushes();
  out.compactions = r.compactions();
  out.payload_bytes_max = r.payload_bytes_max();
  out.node = r.node();
  out.node_id = r.node_id();
  out.group = r.group();
  out.role = r.role();
  out.epoch = r.epoch();
  return out;
}

namespace {

const char* MemberRoleName(pb::MemberRole role) {
  switch (role) {
    case pb::MEMBER_ROLE_LEADER1:
      return "leader1";
    case pb::MEMBER_ROLE_LEADER2:
      return "leader2";
    case pb::MEMBER_ROLE_FOLLOWER:
      return "follower";
    case pb::MEMBER_ROLE_JOINING:
      return "joining";
    default:
      return "unknown";
  }
}

}  // namespace

Result<std::vector<Member>> Client::ListMembers() {
  pb::ListMembersRequest req;
  pb::ListMembersResponse r;
  RDB_RETURN_IF_ERROR(
      Run(false, nullptr, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
        r.Clear();
        return stub->ListMembers(ctx, req, &r);
      }));
  std::vector<Member> out;
  out.reserve(r.members_size());
  for (const pb::Member& m : r.members()) {
    out.push_back(Member{m.group(), m.node(), m.address(), m.id(), MemberRoleName(m.role()),
                         m.epoch(), m.last_seq(), m.lag()});
  }
  return out;
}

// --- change data capture ---

namespace {

class GrpcSubscription final : public Subscription {
 public:
  GrpcSubscription(pb::EventStore::Stub* stub, const pb::SubscribeRequest& req, std::string address)
      : address_(std::move(address)) {
    reader_ = stub->Subscribe(&ctx_, req);
  }
  ~GrpcSubscription() override {
    if (!finished_) {
      ctx_.TryCancel();
      pb::SubscribeResponse drain;
      while (reader_->Read(&drain)) {
      }
      (void)reader_->Finish();
    }
  }

  Status Next(std::vector<Change>* changes, uint64_t* checkpoint) override {
    *checkpoint = 0;
    if (finished_) return end_;
    if (!reader_->Read(&msg_)) {
      finished_ = true;
      grpc::Status s = reader_->Finish();
      if (cancelled_.load()) {
        end_ = Status::Aborted("subscription cancelled");
      } else if (s.ok()) {
        end_ = Status::Unavailable("server " + address_ + " ended the subscription");
      } else {
        end_ = FromGrpc(s, ctx_, address_, 0);
      }
      return end_;
    }
    for (const pb::ChangeEvent& c : msg_.changes()) {
      Change out;
      out.seq = c.seq();
      out.key = c.key();
      out.version = c.version();
      out.op = c.op() == pb::CHANGE_OP_DELETE   ? ChangeOp::kDelete
               : c.op() == pb::CHANGE_OP_UPDATE ? ChangeOp::kUpdate
                                                : ChangeOp::kCreate;
      if (c.has_before()) out.before = c.before();
      if (c.has_after()) out.after = c.after();
      out.event_type = c.event_type();
      out.timestamp_ms = c.timestamp_ms();
      changes->push_back(std::move(out));
    }
    if (msg_.has_checkpoint()) *checkpoint = msg_.checkpoint().seq();
    return Status::OK();
  }

  void Cancel() override {
    cancelled_.store(true);
    ctx_.TryCancel();
  }

 private:
  std::string address_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<pb::SubscribeResponse>> reader_;
  pb::SubscribeResponse msg_;
  std::atomic<bool> cancelled_{false};
  bool finished_ = false;
  Status end_;
};

}  // namespace

Result<std::unique_ptr<Subscription>> Client::Subscribe(const SubscribeOptions& options) {
  pb::SubscribeRequest req;
  switch (options.start) {
    case SubscribeOptions::Start::kEarliest:
      req.set_start(pb::START_POSITION_EARLIEST);
      break;
    case SubscribeOptions::Start::kLatest:
      req.set_start(pb::START_POSITION_LATEST);
      break;
    case SubscribeOptions::Start::kAfterSeq:
      req.set_start(pb::START_POSITION_AFTER_SEQ);
      req.set_after_seq(options.after_seq);
      break;
  }
  for (const auto& p : options.key_prefixes) req.add_key_prefixes(p);
  for (const auto& t : options.event_types) req.add_event_types(t);
  req.set_include_before(options.include_before);
  req.set_group(options.group);
  req.set_include_system(options.include_system);
  req.set_checkpoint_interval_ms(options.checkpoint_interval_ms);
  return std::unique_ptr<Subscription>(
      std::make_unique<GrpcSubscription>(stub_->stub.get(), req, address_));
}

Result<uint64_t> Client::CommitGroupPosition(const std::string& group, uint64_t seq) {
  pb::CommitGroupPositionRequest req;
  req.set_group(group);
  req.set_seq(seq);
  const std::string group_key = kGroupKeyPrefix + group;
  pb::CommitGroupPositionResponse resp;
  RDB_RETURN_IF_ERROR(
      Run(true, &group_key, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
        resp.Clear();
        return stub->CommitGroupPosition(ctx, req, &resp);
      }));
  return resp.seq();
}

Result<std::vector<GroupInfo>> Client::ListGroups(uint64_t* last_seq) {
  pb::ListGroupsRequest req;
  pb::ListGroupsResponse resp;
  RDB_RETURN_IF_ERROR(Run(true, nullptr, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
    resp.Clear();
    return stub->ListGroups(ctx, req, &resp);
  }));
  std::vector<GroupInfo> out;
  for (const pb::GroupInfo& g : resp.groups()) {
    out.push_back(GroupInfo{g.group(), g.seq(), g.lag(), g.active(), g.updated_ms()});
  }
  if (last_seq != nullptr) *last_seq = resp.last_seq();
  return out;
}

Status Client::DeleteGroup(const std::string& group) {
  pb::DeleteGroupRequest req;
  req.set_group(group);
  const std::string group_key = kGroupKeyPrefix + group;
  pb::DeleteGroupResponse resp;
  RDB_RETURN_IF_ERROR(
      Run(false, &group_key, [&](pb::EventStore::Stub* stub, grpc::ClientContext* ctx) {
        resp.Clear();
        return stub->DeleteGroup(ctx, req, &resp);
      }));
  return Status::OK();
}

Status Client::WaitUntilReady(double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::microseconds(static_cast<int64_t>(timeout_seconds * 1e6));
  Status last = Status::Unavailable("server " + address_ + " did not answer");
  while (std::chrono::steady_clock::now() < deadline) {
    pb::StatusRequest req;
    pb::StatusResponse r;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    grpc::Status s = stub_->stub->Status(&ctx, req, &r);
    if (s.ok()) return Status::OK();
    last = FromGrpc(s, ctx, address_, 0.5);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return last;
}

}  // namespace rdb::client
