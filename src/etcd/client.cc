#include "etcd/client.h"

#include "etcd/internal.h"

namespace rdb::etcd {

namespace {

// etcd's requests are at most 1.5 MiB by default; range responses can be larger.
constexpr int kMessageBytesMax = 64 << 20;
// Detects a dead connection to a member that stopped answering (etcd allows pings every 5 s).
constexpr int kKeepaliveTimeMs = 10000;
constexpr int kKeepaliveTimeoutMs = 5000;
constexpr size_t kEndpointsMax = 64;

}  // namespace

Result<std::vector<std::string>> Client::ParseEndpoints(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string ep = list.substr(start, comma - start);
    size_t colon = ep.rfind(':');
    if (ep.empty() || colon == std::string::npos || colon == 0 || colon + 1 == ep.size() ||
        ep.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
      return Status::InvalidArgument("etcd endpoints must be HOST:PORT[,HOST:PORT...], got '" +
                                     list + "'");
    }
    out.push_back(ep);
    start = comma + 1;
  }
  return out;
}

Result<std::unique_ptr<Client>> Client::Connect(const std::vector<std::string>& endpoints,
                                                const ClientOptions& options) {
  if (endpoints.empty()) return Status::InvalidArgument("etcd: no endpoints given");
  if (endpoints.size() > kEndpointsMax)
    return Status::InvalidArgument("etcd: more than " + std::to_string(kEndpointsMax) +
                                   " endpoints");
  if (options.timeout_ms <= 0) return Status::InvalidArgument("etcd: timeout_ms must be positive");
  std::string joined;
  for (const auto& e : endpoints) joined += (joined.empty() ? "" : ",") + e;
  RDB_RETURN_IF_ERROR(ParseEndpoints(joined).status());
  return std::unique_ptr<Client>(new Client(endpoints, options));
}

Client::Client(std::vector<std::string> addresses, ClientOptions options)
    : addresses_(std::move(addresses)), options_(options) {
  for (const auto& address : addresses_) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMessageBytesMax);
    args.SetMaxSendMessageSize(kMessageBytesMax);
    if (options_.own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, options_.reconnect_backoff_min_ms);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, options_.connect_timeout_ms);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, options_.reconnect_backoff_max_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
    auto ep = std::make_unique<Endpoint>();
    ep->address = address;
    ep->channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    ep->kv = pb::KV::NewStub(ep->channel);
    ep->lease = pb::Lease::NewStub(ep->channel);
    ep->watch = pb::Watch::NewStub(ep->channel);
    endpoints_.push_back(std::move(ep));
  }
}

Client::~Client() = default;

Endpoint& Client::endpoint(size_t index) const { return *endpoints_[index % endpoints_.size()]; }

std::string Client::current_endpoint() const { return endpoint(current_index()).address; }

void Client::FailedOver(size_t from_index) {
  size_t next = (from_index + 1) % endpoints_.size();
  current_.compare_exchange_strong(from_index, next, std::memory_order_relaxed);
}

// fn(Endpoint&, grpc::ClientContext*) -> grpc::Status. One deadline over every attempt.
template <typename Fn>
Status Client::Call(const char* what, Fn&& fn, int64_t timeout_ms) {
  if (timeout_ms <= 0) timeout_ms = options_.timeout_ms;
  auto deadline = DeadlineIn(timeout_ms);
  size_t start = current_index();
  Status last;
  for (size_t i = 0; i < endpoints_.size(); i++) {
    size_t index = (start + i) % endpoints_.size();
    Endpoint& ep = *endpoints_[index];
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    grpc::Status s = fn(ep, &ctx);
    if (s.ok()) {
      if (i > 0) current_.store(index, std::memory_order_relaxed);
      return Status::OK();
    }
    last = FromGrpc(s, what, ep.address, timeout_ms);
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE ||
        std::chrono::system_clock::now() >= deadline) {
      break;
    }
  }
  return last;
}

Result<PutResult> Client::Put(const std::string& key, const std::string& value,
                              const PutOptions& options) {
  pb::PutRequest req;
  ToProto(key, value, options, &req);
  pb::PutResponse resp;
  RDB_RETURN_IF_ERROR(Call(
      "put", [&](Endpoint& ep, grpc::ClientContext* ctx) { return ep.kv->Put(ctx, req, &resp); }));
  return FromProto(resp);
}

Result<GetResult> Client::Get(const std::string& key, const GetOptions& options) {
  pb::RangeRequest req;
  ToProto(key, options, &req);
  pb::RangeResponse resp;
  RDB_RETURN_IF_ERROR(Call("range", [&](Endpoint& ep, grpc::ClientContext* ctx) {
    return ep.kv->Range(ctx, req, &resp);
  }));
  return FromProto(resp);
}

Result<GetResult> Client::GetPrefix(const std::string& prefix, GetOptions options) {
  options.range_end = PrefixRangeEnd(prefix);
  return Get(prefix, options);
}

Result<DeleteResult> Client::Delete(const std::string& key, const DeleteOptions& options) {
  pb::DeleteRangeRequest req;
  ToProto(key, options, &req);
  pb::DeleteRangeResponse resp;
  RDB_RETURN_IF_ERROR(Call("delete", [&](Endpoint& ep, grpc::ClientContext* ctx) {
    return ep.kv->DeleteRange(ctx, req, &resp);
  }));
  return FromProto(resp);
}

Result<DeleteResult> Client::DeletePrefix(const std::string& prefix) {
  DeleteOptions o;
  o.range_end = PrefixRangeEnd(prefix);
  return Delete(prefix, o);
}

Result<TxnResult> Client::Commit(const Txn& txn) {
  pb::TxnRequest req;
  ToProto(txn, &req);
  pb::TxnResponse resp;
  RDB_RETURN_IF_ERROR(Call(
      "txn", [&](Endpoint& ep, grpc::ClientContext* ctx) { return ep.kv->Txn(ctx, req, &resp); }));
  return FromProto(resp);
}

Status Client::Compact(int64_t revision, bool physical) {
  pb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(physical);
  pb::CompactionResponse resp;
  return Call("compact", [&](Endpoint& ep, grpc::ClientContext* ctx) {
    return ep.kv->Compact(ctx, req, &resp);
  });
}

Result<Lease> Client::LeaseGrant(int64_t ttl_s, int64_t id) {
  if (ttl_s <= 0) return Status::InvalidArgument("etcd lease grant: TTL must be >= 1 s");
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl_s);
  req.set_id(id);
  pb::LeaseGrantResponse resp;
  RDB_RETURN_IF_ERROR(Call("lease grant", [&](Endpoint& ep, grpc::ClientContext* ctx) {
    return ep.lease->LeaseGrant(ctx, req, &resp);
  }));
  if (!resp.error().empty()) return Status::FailedPrecondition("etcd lease grant: " + resp.error());
  return Lease{resp.id(), resp.ttl()};
}

Status Client::LeaseRevoke(int64_t id) {
  pb::LeaseRevokeRequest req;
  req.set_id(id);
  pb::LeaseRevokeResponse resp;
  return Call("lease revoke", [&](Endpoint& ep, grpc::ClientContext* ctx) {
    return ep.lease->LeaseRevoke(ctx, req, &resp);
  });
}

Result<int64_t> Client::LeaseKeepAliveOnce(int64_t id, int64_t timeout_ms) {
  pb::LeaseKeepAliveRequest req;
  req.set_id(id);
  pb::LeaseKeepAliveResponse resp;
  RDB_RETURN_IF_ERROR(Call(
      "lease keep-alive",
      [&](Endpoint& ep, grpc::ClientContext* ctx) {
        // etcd's keep-alive is a stream; one request and one answer, then close our side.
        auto stream = ep.lease->LeaseKeepAlive(ctx);
        bool ok = stream->Write(req) && stream->Read(&resp);
        stream->WritesDone();
        if (!ok) ctx->TryCancel();
        grpc::Status s = stream->Finish();
        if (!ok && s.ok())
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "keep-alive stream closed early");
        if (ok && s.error_code() == grpc::StatusCode::CANCELLED) return grpc::Status::OK;
        return s;
      },
      timeout_ms));
  if (resp.ttl() <= 0)
    return Status::NotFound("etcd lease keep-alive: lease " + std::to_string(id) +
                            " not found (expired or revoked)");
  return resp.ttl();
}

Result<LeaseInfo> Client::LeaseTimeToLive(int64_t id, bool keys) {
  pb::LeaseTimeToLiveRequest req;
  req.set_id(id);
  req.set_keys(keys);
  pb::LeaseTimeToLiveResponse resp;
  RDB_RETURN_IF_ERROR(Call("lease time-to-live", [&](Endpoint& ep, grpc::ClientContext* ctx) {
    return ep.lease->LeaseTimeToLive(ctx, req, &resp);
  }));
  LeaseInfo out;
  out.id = resp.id();
  out.ttl_s = resp.ttl();
  out.granted_ttl_s = resp.grantedttl();
  for (const auto& k : resp.keys()) out.keys.push_back(k);
  return out;
}

Result<int64_t> Client::Revision() {
  GetOptions o;
  o.count_only = true;
  RDB_ASSIGN_OR_RETURN(GetResult r, Get(std::string(1, '\0'), o));
  return r.revision;
}

}  // namespace rdb::etcd
