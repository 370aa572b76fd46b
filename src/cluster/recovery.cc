#include "cluster/recovery.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <future>

#include "cluster/replication_service.h"
#include "rdeebee/internal/v1/replication.grpc.pb.h"

namespace rdb::cluster {

namespace pb = ::rdeebee::internal::v1;

namespace {

std::unique_ptr<pb::Replication::Stub> StubFor(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return pb::Replication::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

struct Answer {
  const ReplicaPeer* peer = nullptr;
  pb::TailResponse tail;
};

}  // namespace

Result<RecoveryOutcome> RecoverTail(Engine* engine, const std::vector<ReplicaPeer>& peers,
                                    const RecoveryOptions& options) {
  const uint64_t my_epoch = engine->last_epoch();
  std::vector<std::future<std::optional<Answer>>> asks;
  for (const ReplicaPeer& p : peers) {
    asks.push_back(std::async(std::launch::async, [&p, &options, my_epoch] {
      auto stub = StubFor(p.address);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(options.timeout_ms));
      pb::TailRequest req;
      req.set_group(options.group);
      req.set_epoch(my_epoch);
      Answer a{&p, {}};
      grpc::Status s = stub->Tail(&ctx, req, &a.tail);
      return s.ok() ? std::optional<Answer>(a) : std::nullopt;
    }));
  }
  RecoveryOutcome out;
  std::optional<Answer> best;
  for (auto& f : asks) {
    std::optional<Answer> a = f.get();
    if (!a) continue;
    out.answers++;
    const auto key = [](const pb::TailResponse& t) {
      return std::make_pair(t.last_epoch(), t.last_seq());
    };
    if (!best || key(a->tail) > key(best->tail)) best = a;
  }
  if (out.answers < options.answers_needed) {
    return Status::Unavailable("tail recovery reached " + std::to_string(out.answers) + " of the " +
                               std::to_string(options.answers_needed) +
                               " members it needs (reads)");
  }
  const auto mine = std::make_pair(my_epoch, engine->last_seq());
  if (!best || std::make_pair(best->tail.last_epoch(), best->tail.last_seq()) <= mine) return out;
  // The most advanced member is ahead: drop what this log holds beyond the end of its last epoch
  // in that member's log (an older epoch's unacknowledged suffix), then copy the rest.
  const pb::TailResponse& t = best->tail;
  if (t.epoch_end_seq() < engine->last_seq()) {
    spdlog::warn("recovery: {} has epoch {} up to seq {}; this log goes on to {}: cutting it",
                 best->peer->node, my_epoch, t.epoch_end_seq(), engine->last_seq());
    RDB_RETURN_IF_ERROR(engine->TruncateAfter(t.epoch_end_seq()));
    out.truncated_after = t.epoch_end_seq();
  }
  auto stub = StubFor(best->peer->address);
  while (engine->last_seq() < t.last_seq()) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::FetchRequest req;
    req.set_group(options.group);
    req.set_after_seq(engine->last_seq());
    pb::FetchResponse resp;
    grpc::Status s = stub->Fetch(&ctx, req, &resp);
    if (!s.ok()) {
      return Status::Unavailable("recovery: fetching from " + best->peer->node +
                                 " failed: " + s.error_message());
    }
    if (resp.records_size() == 0) break;
    RDB_RETURN_IF_ERROR(ApplyReplicatedBodies(
        engine, std::vector<std::string>(resp.records().begin(), resp.records().end())));
    out.fetched_records += resp.records_size();
  }
  spdlog::info("recovery: copied {} records from {} (its log ends at seq {}, epoch {})",
               out.fetched_records, best->peer->node, t.last_seq(), t.last_epoch());
  return out;
}

}  // namespace rdb::cluster
