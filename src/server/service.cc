#include "server/service.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "base/clock.h"
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

}  // namespace

EventStoreService::EventStoreService(Engine* engine, Metrics* metrics, ServiceOptions options)
    : engine_(engine), metrics_(metrics), options_(std::move(options)), start_us_(NowMicros()) {}

template <typename Fn>
grpc::Status EventStoreService::Handle(Method method, grpc::ServerContext* ctx, Fn&& fn) {
  uint64_t start = NowMicros();
  grpc::Status result;
  uint32_t now_in_flight = in_flight_.fetch_add(1) + 1;
  metrics_->AddInFlight(1);
  if (draining_.load()) {
    result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
  } else if (now_in_flight > options_.requests_in_flight_max) {
    result =
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "too many requests in flight (requests_in_flight_max " +
                         std::to_string(options_.requests_in_flight_max) + "); retry with backoff");
  } else if (ctx->deadline() < std::chrono::system_clock::now()) {
    result = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          "the deadline passed before the request was served");
  } else {
    result = ToGrpcStatus(fn(), ctx);
  }
  in_flight_.fetch_sub(1);
  metrics_->AddInFlight(-1);
  uint64_t elapsed = NowMicros() - start;
  metrics_->Observe(method, result.error_code(), elapsed);
  if (!result.ok()) {
    auto level = result.error_code() == grpc::StatusCode::INTERNAL ||
                         result.error_code() == grpc::StatusCode::DATA_LOSS
                     ? spdlog::level::warn
                     : spdlog::level::debug;
    spdlog::log(level, "{} from {}: code {}: {}", MethodName(method), ctx->peer(),
                static_cast<int>(result.error_code()), result.error_message());
  } else {
    spdlog::trace("{} from {}: OK in {} us", MethodName(method), ctx->peer(), elapsed);
  }
  return result;
}

grpc::Status EventStoreService::Append(grpc::ServerContext* ctx, const pb::AppendRequest* req,
                                       pb::AppendResponse* resp) {
  return Handle(Method::kAppend, ctx, [&]() -> rdb::Status {
    RDB_RETURN_IF_ERROR(ValidateAppend(*req, options_.payload_bytes_max));
    RDB_ASSIGN_OR_RETURN(ExpectedVersion expected,
                         ConvertExpected(req->expected_version(), req->has_expected_version()));
    AppendRequest a;
    a.key = req->key();
    a.expected = expected;
    a.idempotency_id = req->idempotency_id();
    a.events.reserve(req->events_size());
    for (const auto& e : req->events()) {
      a.events.push_back(EventData{EventKind::kPut, e.event_type(), e.payload()});
    }
    RDB_ASSIGN_OR_RETURN(AppendResult r, engine_->Append(std::move(a)));
    resp->set_first_seq(r.first_seq);
    resp->set_last_seq(r.last_seq);
    resp->set_first_version(r.first_version);
    resp->set_last_version(r.last_version);
    resp->set_deduplicated(r.deduplicated);
    return rdb::Status::OK();
  });
}

grpc::Status EventStoreService::Delete(grpc::ServerContext* ctx, const pb::DeleteRequest* req,
                                       pb::DeleteResponse* resp) {
  return Handle(Method::kDelete, ctx, [&]() -> rdb::Status {
    RDB_RETURN_IF_ERROR(ValidateRequestKey(req->key()));
    RDB_RETURN_IF_ERROR(ValidateIdempotencyId(req->idempotency_id()));
    RDB_ASSIGN_OR_RETURN(ExpectedVersion expected,
                         ConvertExpected(req->expected_version(), req->has_expected_version()));
    RDB_ASSIGN_OR_RETURN(AppendResult r,
                         engine_->Delete(req->key(), expected, req->idempotency_id()));
    resp->set_seq(r.first_seq);
    resp->set_version(r.first_version);
    resp->set_deduplicated(r.deduplicated);
    return rdb::Status::OK();
  });
}

grpc::Status EventStoreService::Get(grpc::ServerContext* ctx, const pb::GetRequest* req,
                                    pb::GetResponse* resp) {
  return Handle(Method::kGet, ctx, [&]() -> rdb::Status {
    RDB_RETURN_IF_ERROR(ValidateRequestKey(req->key()));
    RDB_ASSIGN_OR_RETURN(Event e, engine_->Get(req->key()));
    ToProto(e, resp->mutable_event());
    return rdb::Status::OK();
  });
}

grpc::Status EventStoreService::ReadStream(grpc::ServerContext* ctx,
                                           const pb::ReadStreamRequest* req,
                                           pb::ReadStreamResponse* resp) {
  return Handle(Method::kReadStream, ctx, [&]() -> rdb::Status {
    RDB_RETURN_IF_ERROR(ValidateRequestKey(req->key()));
    ReadStreamRequest r;
    r.key = req->key();
    r.from_version = req->from_version();
    switch (req->direction()) {
      case pb::DIRECTION_UNSPECIFIED:
      case pb::DIRECTION_FORWARD:
        r.direction = Direction::kForward;
        break;
      case pb::DIRECTION_BACKWARD:
        r.direction = Direction::kBackward;
        break;
      default:
        return rdb::Status::InvalidArgument("unknown direction " +
                                            std::to_string(static_cast<int>(req->direction())));
    }
    RDB_ASSIGN_OR_RETURN(r.limit, ConvertReadLimit(req->limit()));
    RDB_ASSIGN_OR_RETURN(ReadResult result, engine_->ReadStream(r));
    if (result.events.empty()) {
      // An absent key (no events at all) is NOT_FOUND; a key with history past the range is not.
      RDB_ASSIGN_OR_RETURN(KeyState state, engine_->GetKeyState(req->key()));
      if (state.version == 0) return rdb::Status::NotFound("key not found");
    }
    for (const Event& e : result.events) ToProto(e, resp->add_events());
    resp->set_next_version(result.next);
    return rdb::Status::OK();
  });
}

grpc::Status EventStoreService::ReadAll(grpc::ServerContext* ctx, const pb::ReadAllRequest* req,
                                        pb::ReadAllResponse* resp) {
  return Handle(Method::kReadAll, ctx, [&]() -> rdb::Status {
    ReadAllRequest r;
    r.from_seq = req->from_seq();
    r.include_system = req->include_system();
    RDB_ASSIGN_OR_RETURN(r.limit, ConvertReadLimit(req->limit()));
    RDB_ASSIGN_OR_RETURN(ReadResult result, engine_->ReadAll(r));
    for (const Event& e : result.events) ToProto(e, resp->add_events());
    resp->set_next_seq(result.next);
    return rdb::Status::OK();
  });
}

grpc::Status EventStoreService::Status(grpc::ServerContext* ctx, const pb::StatusRequest*,
                                       pb::StatusResponse* resp) {
  return Handle(Method::kStatus, ctx, [&]() -> rdb::Status {
    Engine::Stats s = engine_->stats();
    resp->set_server_version("0.1.0");
    resp->set_mode("single-node");
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

}  // namespace rdb::server
