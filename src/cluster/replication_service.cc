#include "cluster/replication_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

namespace rdb::cluster {

namespace pb = ::rdeebee::internal::v1;

namespace {

grpc::Status Refuse(grpc::StatusCode code, const std::string& msg) { return {code, msg}; }

grpc::Status FromStatus(const Status& s, const std::string& what) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (s.code()) {
    case Code::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case Code::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case Code::kInvalidArgument:
    case Code::kCorruption:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case Code::kResourceExhausted:
    case Code::kNoSpace:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    default:
      break;
  }
  return {code, what + ": " + s.ToString()};
}

// Waits for a run of async appends; remembers the first failure.
class AppendBarrier {
 public:
  explicit AppendBarrier(size_t n) : left_(n) {}
  AppendCallback Callback() {
    return [this](Result<AppendResult> r) {
      std::lock_guard lock(mu_);
      if (!r.ok() && first_error_.ok()) first_error_ = r.status();
      if (--left_ == 0) cv_.notify_all();
    };
  }
  Status Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return left_ == 0; });
    return first_error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t left_;
  Status first_error_;
};

}  // namespace

Status ApplyReplicatedBodies(Engine* engine, std::vector<std::string> bodies) {
  if (bodies.empty()) return Status::OK();
  AppendBarrier barrier(bodies.size());
  // One batch: the records share group commits (one fdatasync) instead of one each.
  engine->AppendReplicatedBatchAsync(std::move(bodies), barrier.Callback());
  return barrier.Wait();
}

Result<std::vector<std::string>> ReadCommittedBodies(Engine* engine, uint64_t after,
                                                     uint64_t* last) {
  RDB_ASSIGN_OR_RETURN(auto reader, engine->NewLogReader(after + 1));
  std::vector<std::string> bodies;
  size_t bytes = 0;
  ReadRecord rr;
  while (bodies.size() < kReplicateRecordsMax && bytes < kReplicateBytesMax / 2) {
    RDB_ASSIGN_OR_RETURN(bool more, reader->Next(&rr));
    if (!more) break;
    if (rr.record.first_seq <= after) {
      return Status::Corruption("log record at seq " + std::to_string(rr.record.first_seq) +
                                " straddles seq " + std::to_string(after));
    }
    std::string body;
    EncodeRecordBody(rr.record, &body);
    bytes += body.size();
    bodies.push_back(std::move(body));
    *last = rr.record.last_seq();
  }
  return bodies;
}

ReplicationService::ReplicationService(Engine* engine, uint32_t group, std::string node)
    : engine_(engine), group_(group), node_(std::move(node)) {}

uint64_t ReplicationService::newest_epoch() const {
  absl::MutexLock lock(&mu_);
  return newest_epoch_;
}

grpc::Status ReplicationService::Admit(uint64_t epoch, uint64_t* id) {
  absl::MutexLock lock(&mu_);
  const uint64_t floor = std::max(newest_epoch_, engine_->last_epoch());
  if (epoch < floor) {
    return Refuse(grpc::StatusCode::FAILED_PRECONDITION,
                  "member " + node_ + " has seen epoch " + std::to_string(floor) +
                      "; a leader of epoch " + std::to_string(epoch) + " is deposed");
  }
  newest_epoch_ = epoch;
  *id = ++next_stream_;
  current_stream_ = *id;
  return grpc::Status::OK;
}

grpc::Status ReplicationService::StillCurrent(uint64_t id, uint64_t epoch) const {
  absl::MutexLock lock(&mu_);
  if (id == current_stream_) return grpc::Status::OK;
  return Refuse(grpc::StatusCode::FAILED_PRECONDITION,
                "member " + node_ + ": this stream of epoch " + std::to_string(epoch) +
                    " was superseded by a newer one (epoch " + std::to_string(newest_epoch_) + ")");
}

grpc::Status ReplicationService::Apply(const pb::Append& append) {
  if (append.records_size() == 0) return grpc::Status::OK;
  if (static_cast<size_t>(append.records_size()) > kReplicateRecordsMax) {
    return Refuse(grpc::StatusCode::INVALID_ARGUMENT,
                  "an Append holds at most " + std::to_string(kReplicateRecordsMax) + " records");
  }
  const uint64_t end = engine_->last_seq();
  if (append.prev_seq() != end) {
    return Refuse(grpc::StatusCode::FAILED_PRECONDITION,
                  "member " + node_ + "'s log ends at seq " + std::to_string(end) +
                      " but the Append follows seq " + std::to_string(append.prev_seq()));
  }
  Status s = ApplyReplicatedBodies(
      engine_, std::vector<std::string>(append.records().begin(), append.records().end()));
  if (!s.ok()) return FromStatus(s, "member " + node_ + " cannot apply the Append");
  return grpc::Status::OK;
}

grpc::Status ReplicationService::Replicate(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<pb::ReplicateResponse, pb::ReplicateRequest>* stream) {
  pb::ReplicateRequest req;
  if (!stream->Read(&req)) return grpc::Status::CANCELLED;
  if (!req.has_hello()) {
    return Refuse(grpc::StatusCode::INVALID_ARGUMENT, "a Replicate stream starts with a Hello");
  }
  const pb::Hello hello = req.hello();
  if (hello.group() != group_) {
    return Refuse(grpc::StatusCode::FAILED_PRECONDITION, "member " + node_ + " is in group " +
                                                             std::to_string(group_) + ", not " +
                                                             std::to_string(hello.group()));
  }
  uint64_t id = 0;
  if (grpc::Status st = Admit(hello.epoch(), &id); !st.ok()) return st;
  spdlog::info("replication: following {} (epoch {}) from seq {}", hello.leader(), hello.epoch(),
               engine_->last_seq());
  auto send_end = [&] {
    pb::ReplicateResponse resp;
    resp.mutable_log_end()->set_last_seq(engine_->last_seq());
    resp.mutable_log_end()->set_last_epoch(engine_->last_epoch());
    return stream->Write(resp);
  };
  {
    absl::MutexLock apply(&apply_mu_);  // after an older stream's Append in progress
    if (!send_end()) return grpc::Status::CANCELLED;
  }
  while (stream->Read(&req)) {
    // Per message, not per stream: a stream whose leader vanished would otherwise hold the lock
    // while it waits for a message that never comes.
    absl::MutexLock apply(&apply_mu_);
    if (grpc::Status st = StillCurrent(id, hello.epoch()); !st.ok()) return st;
    if (req.has_truncate()) {
      const uint64_t after = req.truncate().after_seq();
      spdlog::warn("replication: {} (epoch {}) cuts this log after seq {} (it ends at {})",
                   hello.leader(), hello.epoch(), after, engine_->last_seq());
      Status s = engine_->TruncateAfter(after);
      if (!s.ok()) return FromStatus(s, "member " + node_ + " cannot truncate");
      if (!send_end()) return grpc::Status::CANCELLED;
    } else if (req.has_append()) {
      if (grpc::Status st = Apply(req.append()); !st.ok()) {
        spdlog::warn("replication: {}", st.error_message());
        return st;
      }
      if (!req.append().you_are_leader2()) {
        leader2_epoch_.store(0);
      } else if (engine_->last_seq() >= req.append().leader_end()) {
        leader2_epoch_.store(hello.epoch());
      }
      if (engine_->last_seq() >= req.append().leader_end() && !caught_up_.load()) {
        caught_up_.store(true);
        spdlog::info("replication: caught up with {} at seq {}", hello.leader(),
                     engine_->last_seq());
      }
      pb::ReplicateResponse resp;
      resp.mutable_ack()->set_durable_seq(engine_->last_seq());
      if (!stream->Write(resp)) return grpc::Status::CANCELLED;
    } else {
      return Refuse(grpc::StatusCode::INVALID_ARGUMENT, "unexpected message after the Hello");
    }
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
  }
  return grpc::Status::OK;
}

}  // namespace rdb::cluster

namespace rdb::cluster {

grpc::Status ReplicationService::Tail(grpc::ServerContext*, const pb::TailRequest* req,
                                      pb::TailResponse* resp) {
  if (req->group() != group_) {
    return Refuse(grpc::StatusCode::FAILED_PRECONDITION,
                  "member " + node_ + " is in group " + std::to_string(group_));
  }
  resp->set_last_seq(engine_->last_seq());
  resp->set_last_epoch(engine_->last_epoch());
  resp->set_epoch_end_seq(engine_->EpochEndSeq(req->epoch()));
  return grpc::Status::OK;
}

grpc::Status ReplicationService::Fetch(grpc::ServerContext*, const pb::FetchRequest* req,
                                       pb::FetchResponse* resp) {
  if (req->group() != group_) {
    return Refuse(grpc::StatusCode::FAILED_PRECONDITION,
                  "member " + node_ + " is in group " + std::to_string(group_));
  }
  uint64_t last = 0;
  auto bodies = ReadCommittedBodies(engine_, req->after_seq(), &last);
  if (!bodies.ok()) return FromStatus(bodies.status(), "member " + node_ + " cannot read its log");
  for (std::string& b : *bodies) resp->add_records(std::move(b));
  return grpc::Status::OK;
}

}  // namespace rdb::cluster
