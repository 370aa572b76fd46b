#include "server/service.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "base/clock.h"
#include "cdc/change.h"
#include "cdc/groups.h"
#include "cluster/routing.h"
#include "server/failed_stream.h"
#include "server/status_mapping.h"
#include "server/validation.h"

namespace rdb::server {

namespace pb = ::rdeebee::v1;

namespace {

uint64_t NowMicros() { return Clock::Real()->NowMicros(); }

void ToProto(const Event& e, pb::Event* out) {
  out->set_key(e.key);
  out->set_seq(e.seq);
  out->set_version(e.version);
  out->set_kind(e.kind == EventKind::kDelete ? pb::EVENT_KIND_DELETE : pb::EVENT_KIND_PUT);
  out->set_event_type(e.event_type);
  out->set_payload(e.payload);
  out->set_timestamp_ms(e.timestamp_ms);
  out->set_idempotency_id(e.idempotency_id);
}

void FillAppendResponse(const AppendResult& r, pb::AppendResponse* resp) {
  resp->set_first_seq(r.first_seq);
  resp->set_last_seq(r.last_seq);
  resp->set_first_version(r.first_version);
  resp->set_last_version(r.last_version);
  resp->set_deduplicated(r.deduplicated);
}

// The engine's form of a validated Append request (only for requests served here).
AppendRequest ToEngineAppend(const pb::AppendRequest& req, ExpectedVersion expected) {
  AppendRequest a;
  a.key = req.key();
  a.expected = expected;
  a.idempotency_id = req.idempotency_id();
  a.events.reserve(req.events_size());
  for (const auto& e : req.events()) {
    a.events.push_back(EventData{EventKind::kPut, e.event_type(), e.payload()});
  }
  return a;
}

}  // namespace

EventStoreService::EventStoreService(Engine* engine, Metrics* metrics, CdcService* cdc,
                                     ServiceOptions options)
    : engine_(engine),
      metrics_(metrics),
      cdc_(cdc),
      options_(std::move(options)),
      start_us_(NowMicros()) {
  view_ = options_.cluster_view;
  if (view_ == nullptr && options_.cluster != nullptr) {
    own_view_ = MembershipView(options_.cluster, options_.groups);
    view_ = own_view_.get();
  }
  if (view_ != nullptr) {
    if (view_->groups() == 0) {
      spdlog::error("cluster mode without the cluster's group count: keyed requests will fail");
    }
    forwarder_ = std::make_unique<Forwarder>(view_, options_.forwarder);
    MergedFeedOptions mo;
    mo.groups = view_->groups();
    merged_ = std::make_unique<MergedFeed>(view_, metrics_, mo);
    if (view_->groups() > 0 && view_->group() < view_->groups()) {
      // Each group's consumer-group registry is a key of its own group.
      cdc_->UseClusterShard(
          cluster::KeyInGroup(cdc::kGroupShardRegistryPrefix + std::to_string(view_->group()) + "/",
                              view_->group(), view_->groups()));
    }
  }
}

EventStoreService::~EventStoreService() {
  ShutdownMergedFeed();
  if (forwarder_) forwarder_->Stop();
}

void EventStoreService::ShutdownMergedFeed() {
  if (merged_) merged_->Shutdown();
}

// Single-node mode and group feeds: this node's log. Cluster mode: every group merged (a consumer
// group's stream runs on leader 1 of the group key's shard, which holds the group's lease).
grpc::ServerWriteReactor<pb::SubscribeResponse>* EventStoreService::Subscribe(
    grpc::CallbackServerContext* ctx, const pb::SubscribeRequest* req) {
  if (!merged_ || req->group_feed()) return cdc_->Subscribe(ctx, req);
  if (req->group().empty()) return merged_->Subscribe(ctx, *req);
  if (rdb::Status v = cdc::ValidateGroupName(req->group()); !v.ok()) {
    return new FailedStream<pb::SubscribeResponse>(ToGrpcStatus(v, nullptr));
  }
  Route r = RouteOf(cdc::GroupStore::Key(req->group()), *ctx);
  if (!r.local) {
    if (r.refusal.ok()) return merged_->Relay(ctx, *req, r.group);
    return new FailedStream<pb::SubscribeResponse>(ToGrpcStatus(r.refusal, nullptr));
  }
  Result<CdcService::GroupClaim> claim = cdc_->ClaimGroup(req->group());
  if (!claim.ok())
    return new FailedStream<pb::SubscribeResponse>(ToGrpcStatus(claim.status(), nullptr));
  return merged_->Subscribe(ctx, *req, std::move(claim->lease), claim->position);
}

// One request's bookkeeping: the in-flight slot, admission, metrics and logging. End() frees the
// slot exactly once, from whichever thread has the outcome. Copyable: it travels with the request.
class EventStoreService::Slot {
 public:
  Slot(EventStoreService* svc, Method method, grpc::CallbackServerContext* ctx)
      : svc_(svc), method_(method), ctx_(ctx), start_(NowMicros()) {
    uint32_t now_in_flight = svc_->in_flight_.fetch_add(1) + 1;
    svc_->metrics_->AddInFlight(1);
    if (svc_->draining_.load()) {
      refusal_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
    } else if (now_in_flight > svc_->options_.requests_in_flight_max) {
      refusal_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "too many requests in flight (requests_in_flight_max " +
                                  std::to_string(svc_->options_.requests_in_flight_max) +
                                  "); retry with backoff");
    } else if (ctx->deadline() < std::chrono::system_clock::now()) {
      refusal_ = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                              "the deadline passed before the request was served");
    }
  }

  // Not OK: refuse the request with it (and End it).
  const grpc::Status& refusal() const { return refusal_; }

  void End(const grpc::Status& result) const {
    svc_->in_flight_.fetch_sub(1);
    svc_->metrics_->AddInFlight(-1);
    const uint64_t elapsed = NowMicros() - start_;
    svc_->metrics_->Observe(method_, result.error_code(), elapsed);
    if (!result.ok()) {
      auto level = result.error_code() == grpc::StatusCode::INTERNAL ||
                           result.error_code() == grpc::StatusCode::DATA_LOSS
                       ? spdlog::level::warn
                       : spdlog::level::debug;
      if (spdlog::should_log(level)) {
        spdlog::log(level, "{} from {}: code {}: {}", MethodName(method_), ctx_->peer(),
                    static_cast<int>(result.error_code()), result.error_message());
      }
    } else if (spdlog::should_log(spdlog::level::trace)) {
      spdlog::trace("{} from {}: OK in {} us", MethodName(method_), ctx_->peer(), elapsed);
    }
  }

 private:
  EventStoreService* svc_;
  Method method_;
  grpc::CallbackServerContext* ctx_;
  uint64_t start_;
  grpc::Status refusal_;
};

// One unary call: its Slot and its reactor. Finish() ends the call exactly once.
class EventStoreService::Call {
 public:
  Call(EventStoreService* svc, Method method, grpc::CallbackServerContext* ctx)
      : slot_(svc, method, ctx), ctx_(ctx), reactor_(ctx->DefaultReactor()) {}

  // False when the call was refused (and already finished): do not run it.
  bool Admitted() {
    if (slot_.refusal().ok()) return true;
    FinishGrpc(slot_.refusal());
    return false;
  }

  grpc::ServerUnaryReactor* reactor() const { return reactor_; }

  void Finish(const rdb::Status& s) { FinishGrpc(ToGrpcStatus(s, ctx_)); }
  // A status that is already mapped (a forwarded call's, verbatim).
  void FinishGrpc(const grpc::Status& result) {
    slot_.End(result);
    reactor_->Finish(result);
  }

 private:
  const Slot slot_;
  grpc::CallbackServerContext* const ctx_;
  grpc::ServerUnaryReactor* const reactor_;
};

template <typename Fn>
grpc::ServerUnaryReactor* EventStoreService::Inline(Method method, grpc::CallbackServerContext* ctx,
                                                    Fn&& fn) {
  Call call(this, method, ctx);
  if (call.Admitted()) call.Finish(fn());
  return call.reactor();
}

EventStoreService::Route EventStoreService::RouteOf(std::string_view key,
                                                    const grpc::CallbackServerContext& ctx) const {
  Route r;
  if (view_ == nullptr) return r;
  const uint32_t groups = view_->groups();
  if (groups == 0) {
    r.local = false;
    r.refusal = rdb::Status::Unavailable(
        "this node was started without the cluster's group count: it cannot route requests");
    return r;
  }
  r.group = cluster::GroupOfKey(key, groups);
  if (r.group == view_->group() && view_->IsLeader1()) return r;
  r.local = false;
  if (IsForwarded(ctx)) {
    // Leaders changed since the sender looked: the client retries (through the sender, which
    // reads the leaders again after this UNAVAILABLE), rather than the request hopping on.
    r.refusal = rdb::Status::Unavailable("node " + view_->node() + " is not leader 1 of group " +
                                         std::to_string(r.group) + "; retry");
  }
  return r;
}

template <typename Forward>
bool EventStoreService::Routed(const std::shared_ptr<Call>& call,
                               const grpc::CallbackServerContext& ctx, std::string_view key,
                               Forward&& forward) {
  Route r = RouteOf(key, ctx);
  if (r.local) return false;
  if (!r.refusal.ok()) {
    call->Finish(r.refusal);
  } else {
    forward(r.group, [call](const grpc::Status& s) { call->FinishGrpc(s); });
  }
  return true;
}

template <typename Serve, typename Forward>
grpc::ServerUnaryReactor* EventStoreService::RoutedRead(Method method,
                                                        grpc::CallbackServerContext* ctx,
                                                        const std::string& key, Serve&& serve,
                                                        Forward&& forward) {
  auto call = std::make_shared<Call>(this, method, ctx);
  grpc::ServerUnaryReactor* reactor = call->reactor();
  if (!call->Admitted()) return reactor;
  rdb::Status valid = ValidateRequestKey(key);
  if (!valid.ok()) {
    call->Finish(valid);
  } else if (!Routed(call, *ctx, key, std::forward<Forward>(forward))) {
    if (view_ != nullptr && options_.confirm_leadership) {
      // Served here as leader 1: only once etcd confirms this node still is (a deposed leader
      // that has not noticed yet must not answer from its old state).
      rdb::Status confirmed = options_.confirm_leadership();
      if (!confirmed.ok()) {
        call->Finish(rdb::Status::Unavailable(
            "cannot serve a linearizable read here: " + confirmed.message() + "; retry"));
        return reactor;
      }
    }
    call->Finish(serve());
  }
  return reactor;
}

Result<ExpectedVersion> EventStoreService::ValidateAppendRequest(
    const pb::AppendRequest& req) const {
  RDB_RETURN_IF_ERROR(ValidateAppend(req, options_.payload_bytes_max));
  return ConvertExpected(req.expected_version(), req.has_expected_version());
}

grpc::ServerUnaryReactor* EventStoreService::Append(grpc::CallbackServerContext* ctx,
                                                    const pb::AppendRequest* req,
                                                    pb::AppendResponse* resp) {
  auto call = std::make_shared<Call>(this, Method::kAppend, ctx);
  grpc::ServerUnaryReactor* reactor = call->reactor();
  if (!call->Admitted()) return reactor;
  Result<ExpectedVersion> expected = ValidateAppendRequest(*req);
  if (!expected.ok()) {
    call->Finish(expected.status());
    return reactor;
  }
  if (Routed(call, *ctx, req->key(), [&](uint32_t group, Forwarder::Done done) {
        forwarder_->Append(group, ctx, req, resp, std::move(done));
      })) {
    return reactor;
  }
  // The response and the call outlive this function: the commit leader finishes them.
  engine_->AppendAsync(ToEngineAppend(*req, *expected), [call, resp](Result<AppendResult> r) {
    if (r.ok()) FillAppendResponse(*r, resp);
    call->Finish(r.status());
  });
  return reactor;
}

// One AppendStream. Reads a request, submits it (the engine, or the key's leader 1 through the
// Forwarder) and reads the next, up to append_stream_in_flight_max unacknowledged. Acks are queued
// as requests finish and written one response at a time, each response carrying every ack queued
// while the previous one was being written. Finishes once reading has ended (half-close, cancel
// or a drain) and no request is in flight and no ack is waiting: the reactor is deleted in OnDone,
// so no engine or forwarder callback can outlive it.
class EventStoreService::AppendStreamReactor final
    : public grpc::ServerBidiReactor<pb::AppendStreamRequest, pb::AppendStreamResponse> {
 public:
  AppendStreamReactor(EventStoreService* svc, grpc::CallbackServerContext* ctx)
      : svc_(svc), ctx_(ctx) {
    {
      absl::MutexLock l(&svc_->streams_mu_);
      svc_->streams_.insert(this);
    }
    StartRead(&req_);
    if (svc_->draining_.load()) Drain();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        absl::MutexLock l(&mu_);
        read_ended_ = true;
      }
      MaybeFinish();
      return;
    }
    Serve(req_);
    bool more = false;
    {
      absl::MutexLock l(&mu_);
      if (draining_) {
        read_ended_ = true;
      } else if (in_flight_ < svc_->options_.append_stream_in_flight_max) {
        more = true;
      } else {
        read_paused_ = true;
      }
    }
    if (more) {
      StartRead(&req_);
    } else {
      MaybeFinish();
    }
  }

  void OnWriteDone(bool ok) override {
    bool more = false;
    {
      absl::MutexLock l(&mu_);
      if (!ok) {
        client_gone_ = true;  // acks have nowhere to go; the requests still complete
        next_.Clear();
      }
      if (next_.acks_size() > 0) {
        resp_.Swap(&next_);
        next_.Clear();
        more = true;
      } else {
        writing_ = false;
      }
    }
    if (more) {
      StartWrite(&resp_);
    } else {
      MaybeFinish();
    }
  }

  void OnDone() override {
    {
      absl::MutexLock l(&svc_->streams_mu_);
      svc_->streams_.erase(this);
    }
    delete this;
  }

  // The server is draining: stop reading new requests; end after the accepted ones are acked.
  void Drain() {
    {
      absl::MutexLock l(&mu_);
      draining_ = true;
    }
    MaybeFinish();
  }

 private:
  void Serve(const pb::AppendStreamRequest& r) {
    {
      absl::MutexLock l(&mu_);
      in_flight_++;
    }
    const uint64_t id = r.request_id();
    Slot slot(svc_, Method::kAppendStream, ctx_);
    if (!slot.refusal().ok()) return Ack(id, slot, slot.refusal(), std::nullopt, nullptr);
    Result<ExpectedVersion> expected = svc_->ValidateAppendRequest(r.append());
    if (!expected.ok()) return AckStatus(id, slot, expected.status(), nullptr);
    Route route = svc_->RouteOf(r.append().key(), *ctx_);
    if (!route.local) {
      if (!route.refusal.ok()) return AckStatus(id, slot, route.refusal, nullptr);
      struct Forwarded {
        pb::AppendRequest req;
        pb::AppendResponse resp;
        std::optional<uint64_t> actual_version;
      };
      auto f = std::make_shared<Forwarded>();
      f->req = r.append();
      svc_->forwarder_->Append(
          route.group, ctx_, &f->req, &f->resp,
          [this, id, slot, f](const grpc::Status& s) {
            Ack(id, slot, s, f->actual_version, s.ok() ? &f->resp : nullptr);
          },
          &f->actual_version);
      return;
    }
    svc_->engine_->AppendAsync(ToEngineAppend(r.append(), *expected),
                               [this, id, slot](Result<AppendResult> result) {
                                 if (!result.ok())
                                   return AckStatus(id, slot, result.status(), nullptr);
                                 pb::AppendResponse resp;
                                 FillAppendResponse(*result, &resp);
                                 Ack(id, slot, grpc::Status::OK, std::nullopt, &resp);
                               });
  }

  void AckStatus(uint64_t id, const Slot& slot, const rdb::Status& s,
                 const pb::AppendResponse* result) {
    Ack(id, slot, ToGrpcStatus(s, nullptr), s.actual_version(), result);
  }

  void Ack(uint64_t id, const Slot& slot, const grpc::Status& s,
           std::optional<uint64_t> actual_version, const pb::AppendResponse* result) {
    slot.End(s);
    bool write = false, read = false;
    {
      absl::MutexLock l(&mu_);
      in_flight_--;
      if (!client_gone_ && !finished_) {
        pb::AppendAck* ack = next_.add_acks();
        ack->set_request_id(id);
        ack->set_code(static_cast<int32_t>(s.error_code()));
        ack->set_message(s.error_message());
        if (actual_version) ack->set_actual_version(*actual_version);
        if (result != nullptr) *ack->mutable_result() = *result;
        if (!writing_) {
          writing_ = write = true;
          resp_.Swap(&next_);
          next_.Clear();
        }
      }
      if (read_paused_ && !draining_ && in_flight_ < svc_->options_.append_stream_in_flight_max) {
        read_paused_ = false;
        read = true;
      }
    }
    if (write) StartWrite(&resp_);
    if (read) StartRead(&req_);
    if (!write && !read) MaybeFinish();
  }

  void MaybeFinish() {
    grpc::Status status;
    {
      absl::MutexLock l(&mu_);
      if (finished_ || in_flight_ > 0 || writing_ || next_.acks_size() > 0) return;
      // Draining, with nothing in flight: finishing ends an outstanding read.
      if (!read_ended_ && !draining_) return;
      finished_ = true;
      status = draining_ ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                        "server is shutting down; reconnect to another server or "
                                        "retry")
                         : grpc::Status::OK;
    }
    Finish(status);
  }

  EventStoreService* const svc_;
  grpc::CallbackServerContext* const ctx_;
  pb::AppendStreamRequest req_;    // the read in progress (gRPC allows one)
  pb::AppendStreamResponse resp_;  // the write in progress (gRPC allows one)
  absl::Mutex mu_;
  pb::AppendStreamResponse next_ ABSL_GUARDED_BY(mu_);  // acks waiting for the next write
  uint32_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;         // submitted, not yet acked
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // at the in-flight limit
  bool read_ended_ ABSL_GUARDED_BY(mu_) = false;   // half-close, cancel or drain
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool client_gone_ ABSL_GUARDED_BY(mu_) = false;  // a write failed
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<pb::AppendStreamRequest, pb::AppendStreamResponse>*
EventStoreService::AppendStream(grpc::CallbackServerContext* ctx) {
  return new AppendStreamReactor(this, ctx);
}

void EventStoreService::StartDraining() {
  draining_.store(true);
  absl::MutexLock l(&streams_mu_);
  for (AppendStreamReactor* s : streams_) s->Drain();
}

grpc::ServerUnaryReactor* EventStoreService::Delete(grpc::CallbackServerContext* ctx,
                                                    const pb::DeleteRequest* req,
                                                    pb::DeleteResponse* resp) {
  auto call = std::make_shared<Call>(this, Method::kDelete, ctx);
  grpc::ServerUnaryReactor* reactor = call->reactor();
  if (!call->Admitted()) return reactor;
  rdb::Status valid = ValidateRequestKey(req->key());
  if (valid.ok()) valid = ValidateIdempotencyId(req->idempotency_id());
  Result<ExpectedVersion> expected =
      valid.ok() ? ConvertExpected(req->expected_version(), req->has_expected_version())
                 : Result<ExpectedVersion>(valid);
  if (!expected.ok()) {
    call->Finish(expected.status());
    return reactor;
  }
  if (Routed(call, *ctx, req->key(), [&](uint32_t group, Forwarder::Done done) {
        forwarder_->Delete(group, ctx, req, resp, std::move(done));
      })) {
    return reactor;
  }
  engine_->DeleteAsync(req->key(), *expected, req->idempotency_id(),
                       [call, resp](Result<AppendResult> r) {
                         if (r.ok()) {
                           resp->set_seq(r->first_seq);
                           resp->set_version(r->first_version);
                           resp->set_deduplicated(r->deduplicated);
                         }
                         call->Finish(r.status());
                       });
  return reactor;
}

grpc::ServerUnaryReactor* EventStoreService::Get(grpc::CallbackServerContext* ctx,
                                                 const pb::GetRequest* req, pb::GetResponse* resp) {
  if (view_ == nullptr || req->stale()) {
    // Single-node mode, or a stale read: this node's own copy, whatever its role.
    return Inline(Method::kGet, ctx, [&]() -> rdb::Status {
      RDB_RETURN_IF_ERROR(ValidateRequestKey(req->key()));
      return GetLocal(*req, resp);
    });
  }
  return RoutedRead(
      Method::kGet, ctx, req->key(), [&] { return GetLocal(*req, resp); },
      [&](uint32_t group, Forwarder::Done done) {
        forwarder_->Get(group, ctx, req, resp, std::move(done));
      });
}

rdb::Status EventStoreService::GetLocal(const pb::GetRequest& req, pb::GetResponse* resp) {
  RDB_ASSIGN_OR_RETURN(Event e, engine_->Get(req.key()));
  ToProto(e, resp->mutable_event());
  return rdb::Status::OK();
}

grpc::ServerUnaryReactor* EventStoreService::ReadStream(grpc::CallbackServerContext* ctx,
                                                        const pb::ReadStreamRequest* req,
                                                        pb::ReadStreamResponse* resp) {
  if (view_ == nullptr || req->stale()) {
    return Inline(Method::kReadStream, ctx, [&]() -> rdb::Status {
      RDB_RETURN_IF_ERROR(ValidateRequestKey(req->key()));
      return ReadStreamLocal(*req, resp);
    });
  }
  return RoutedRead(
      Method::kReadStream, ctx, req->key(), [&] { return ReadStreamLocal(*req, resp); },
      [&](uint32_t group, Forwarder::Done done) {
        forwarder_->ReadStream(group, ctx, req, resp, std::move(done));
      });
}

rdb::Status EventStoreService::ReadStreamLocal(const pb::ReadStreamRequest& req,
                                               pb::ReadStreamResponse* resp) {
  ReadStreamRequest r;
  r.key = req.key();
  r.from_version = req.from_version();
  switch (req.direction()) {
    case pb::DIRECTION_UNSPECIFIED:
    case pb::DIRECTION_FORWARD:
      r.direction = Direction::kForward;
      break;
    case pb::DIRECTION_BACKWARD:
      r.direction = Direction::kBackward;
      break;
    default:
      return rdb::Status::InvalidArgument("unknown direction " +
                                          std::to_string(static_cast<int>(req.direction())));
  }
  RDB_ASSIGN_OR_RETURN(r.limit, ConvertReadLimit(req.limit()));
  RDB_ASSIGN_OR_RETURN(ReadResult result, engine_->ReadStream(r));
  if (result.events.empty()) {
    // An absent key (no events at all) is NOT_FOUND; a key with history past the range is not.
    RDB_ASSIGN_OR_RETURN(KeyState state, engine_->GetKeyState(req.key()));
    if (state.version == 0) return rdb::Status::NotFound("key not found");
  }
  for (const Event& e : result.events) ToProto(e, resp->add_events());
  resp->set_next_version(result.next);
  return rdb::Status::OK();
}

rdb::Status EventStoreService::ReadAllLocal(const pb::ReadAllRequest& req,
                                            pb::ReadAllResponse* resp) {
  ReadAllRequest r;
  r.from_seq = req.from_seq();
  r.include_system = req.include_system();
  RDB_ASSIGN_OR_RETURN(r.limit, ConvertReadLimit(req.limit()));
  RDB_ASSIGN_OR_RETURN(ReadResult result, engine_->ReadAll(r));
  for (const Event& e : result.events) ToProto(e, resp->add_events());
  resp->set_next_seq(result.next);
  return rdb::Status::OK();
}

template <typename Resp, typename Local, typename Forward>
void EventStoreService::Gather(const std::shared_ptr<FanOut<Resp>>& fan, Local&& local,
                               Forward&& forward) {
  // The last Complete may finish the call: nothing of the call is touched after the loop.
  const uint32_t groups = view_->groups();
  const uint32_t own = view_->group();
  for (uint32_t g = 0; g < groups; ++g) {
    if (g == own && view_->IsLeader1()) {
      fan->Complete(g, ToGrpcStatus(local(fan->part(g)), nullptr));
    } else {
      forward(g, fan->part(g), [fan, g](const grpc::Status& s) { fan->Complete(g, s); });
    }
  }
}

grpc::ServerUnaryReactor* EventStoreService::ReadAll(grpc::CallbackServerContext* ctx,
                                                     const pb::ReadAllRequest* req,
                                                     pb::ReadAllResponse* resp) {
  if (view_ == nullptr || IsForwarded(*ctx)) {
    // Single-node mode; or one group's part of another node's gathered ReadAll, which that node
    // sends to the group's leader 1 (tests also read a member's own log this way).
    return Inline(Method::kReadAll, ctx, [&] { return ReadAllLocal(*req, resp); });
  }
  auto call = std::make_shared<Call>(this, Method::kReadAll, ctx);
  grpc::ServerUnaryReactor* reactor = call->reactor();
  if (!call->Admitted()) return reactor;
  Result<size_t> limit = ConvertReadLimit(req->limit());
  if (!limit.ok()) {
    call->Finish(limit.status());
  } else if (view_->groups() == 0) {
    call->Finish(rdb::Status::Unavailable(
        "this node was started without the cluster's group count: it cannot read other groups"));
  } else {
    auto fan = std::make_shared<FanOut<pb::ReadAllResponse>>(
        view_->groups(), [call, resp, n = *limit](std::vector<pb::ReadAllResponse>* parts,
                                                  const grpc::Status& failure) {
          if (failure.ok()) MergeReadAllPages(parts, n, resp);
          call->FinishGrpc(failure);
        });
    Gather(
        fan, [&](pb::ReadAllResponse* part) { return ReadAllLocal(*req, part); },
        [&](uint32_t g, pb::ReadAllResponse* part, Forwarder::Done done) {
          forwarder_->ReadAll(g, ctx, req, part, std::move(done));
        });
  }
  return reactor;
}

grpc::ServerUnaryReactor* EventStoreService::ListGroups(grpc::CallbackServerContext* ctx,
                                                        const pb::ListGroupsRequest* req,
                                                        pb::ListGroupsResponse* resp) {
  if (view_ == nullptr || IsForwarded(*ctx)) return cdc_->ListGroups(ctx, req, resp);
  auto call = std::make_shared<Call>(this, Method::kListGroups, ctx);
  grpc::ServerUnaryReactor* reactor = call->reactor();
  if (!call->Admitted()) return reactor;
  if (view_->groups() == 0) {
    call->Finish(rdb::Status::Unavailable(
        "this node was started without the cluster's group count: it cannot read other groups"));
  } else {
    auto fan = std::make_shared<FanOut<pb::ListGroupsResponse>>(
        view_->groups(),
        [call, resp](std::vector<pb::ListGroupsResponse>* parts, const grpc::Status& failure) {
          if (failure.ok()) MergeGroupLists(parts, resp);
          call->FinishGrpc(failure);
        });
    Gather(
        fan, [&](pb::ListGroupsResponse* part) { return cdc_->ListGroupsLocal(part); },
        [&](uint32_t g, pb::ListGroupsResponse* part, Forwarder::Done done) {
          forwarder_->ListGroups(g, ctx, req, part, std::move(done));
        });
  }
  return reactor;
}

grpc::ServerUnaryReactor* EventStoreService::Status(grpc::CallbackServerContext* ctx,
                                                    const pb::StatusRequest*,
                                                    pb::StatusResponse* resp) {
  return Inline(Method::kStatus, ctx, [&]() -> rdb::Status {
    Engine::Stats s = engine_->stats();
    resp->set_server_version("0.1.0");
    resp->set_mode(options_.cluster != nullptr ? "cluster" : "single-node");
    if (cluster::Membership* m = options_.cluster) {
      resp->set_node(m->node());
      resp->set_node_id(static_cast<uint64_t>(m->id()));
      resp->set_group(m->group());
      resp->set_role(cluster::RoleName(m->role()));
      resp->set_epoch(m->epoch());
    }
    resp->set_data_dir(options_.data_dir);
    resp->set_fsync(options_.fsync);
    resp->set_last_seq(s.last_seq);
    resp->set_uptime_ms((NowMicros() - start_us_) / 1000);
    resp->set_appends(s.appends);
    resp->set_events_appended(s.events_appended);
    resp->set_bytes_appended(s.bytes_appended);
    resp->set_group_commits(s.group_commits);
    resp->set_log_syncs(s.log_syncs);
    resp->set_log_bytes(s.log_bytes);
    resp->set_memtable_bytes(s.index.memtable_bytes);
    resp->set_table_count(s.index.table_count);
    resp->set_table_bytes(s.index.table_bytes);
    resp->set_flushes(s.index.flushes);
    resp->set_compactions(s.index.compactions);
    resp->set_levels(s.index.levels);
    resp->set_payload_bytes_max(options_.payload_bytes_max);
    return rdb::Status::OK();
  });
}

grpc::ServerUnaryReactor* EventStoreService::CommitGroupPosition(
    grpc::CallbackServerContext* ctx, const pb::CommitGroupPositionRequest* req,
    pb::CommitGroupPositionResponse* resp) {
  Route r = RouteOf(cdc::GroupStore::Key(req->group()), *ctx);
  if (r.local) return cdc_->CommitGroupPosition(ctx, req, resp);
  auto call = std::make_shared<Call>(this, Method::kCommitGroupPosition, ctx);
  if (!call->Admitted()) return call->reactor();
  if (!r.refusal.ok()) {
    call->Finish(r.refusal);
  } else {
    forwarder_->CommitGroupPosition(r.group, ctx, req, resp,
                                    [call](const grpc::Status& s) { call->FinishGrpc(s); });
  }
  return call->reactor();
}

grpc::ServerUnaryReactor* EventStoreService::DeleteGroup(grpc::CallbackServerContext* ctx,
                                                         const pb::DeleteGroupRequest* req,
                                                         pb::DeleteGroupResponse* resp) {
  Route r = RouteOf(cdc::GroupStore::Key(req->group()), *ctx);
  if (r.local) return cdc_->DeleteGroup(ctx, req, resp);
  auto call = std::make_shared<Call>(this, Method::kDeleteGroup, ctx);
  if (!call->Admitted()) return call->reactor();
  if (!r.refusal.ok()) {
    call->Finish(r.refusal);
  } else {
    forwarder_->DeleteGroup(r.group, ctx, req, resp,
                            [call](const grpc::Status& s) { call->FinishGrpc(s); });
  }
  return call->reactor();
}

namespace {

pb::MemberRole ToProto(cluster::Role role) {
  switch (role) {
    case cluster::Role::kLeader1:
      return pb::MEMBER_ROLE_LEADER1;
    case cluster::Role::kLeader2:
      return pb::MEMBER_ROLE_LEADER2;
    case cluster::Role::kFollower:
      return pb::MEMBER_ROLE_FOLLOWER;
    case cluster::Role::kJoining:
      return pb::MEMBER_ROLE_JOINING;
  }
  return pb::MEMBER_ROLE_UNSPECIFIED;
}

}  // namespace

// Metrics count ListMembers under Status (both are operators' reads of the server's state).
grpc::ServerUnaryReactor* EventStoreService::ListMembers(grpc::CallbackServerContext* ctx,
                                                         const pb::ListMembersRequest*,
                                                         pb::ListMembersResponse* resp) {
  return Inline(Method::kStatus, ctx, [&]() -> rdb::Status {
    if (options_.cluster == nullptr) {
      resp->set_mode("single-node");
      pb::Member* m = resp->add_members();
      m->set_group(0);
      m->set_node("single-node");
      m->set_address(options_.address);
      m->set_id(0);
      m->set_role(pb::MEMBER_ROLE_LEADER1);
      m->set_epoch(0);
      m->set_last_seq(engine_->last_seq());
      m->set_lag(0);
      return rdb::Status::OK();
    }
    resp->set_mode("cluster");
    RDB_ASSIGN_OR_RETURN(std::vector<cluster::MemberInfo> members, options_.cluster->ListMembers());
    for (const cluster::MemberInfo& info : members) {
      pb::Member* m = resp->add_members();
      m->set_group(info.group);
      m->set_node(info.node);
      m->set_address(info.address);
      m->set_id(static_cast<uint64_t>(info.id));
      m->set_role(ToProto(info.role));
      m->set_epoch(info.epoch);
      m->set_last_seq(info.last_seq);
      m->set_lag(info.lag);
    }
    return rdb::Status::OK();
  });
}

}  // namespace rdb::server
