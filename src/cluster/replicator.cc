#include "cluster/replicator.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "cluster/replication_service.h"
#include "cluster/sequencer.h"
#include "rdeebee/internal/v1/replication.grpc.pb.h"

namespace rdb::cluster {

namespace pb = ::rdeebee::internal::v1;

namespace {

constexpr int kMessageBytesMax = 64 << 20;

Status FromGrpc(const grpc::Status& s, const std::string& what) {
  return Status::Unavailable(what + ": " + s.error_message() + " (gRPC code " +
                             std::to_string(static_cast<int>(s.error_code())) + ")");
}

}  // namespace

// One member: a thread that keeps a Replicate stream to it and feeds it. Fields marked "mu_" are
// guarded by the Replicator's mutex.
class Replicator::Link {
 public:
  Link(Replicator* r, ReplicaPeer peer) : r_(r), peer_(std::move(peer)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Link() { Stop(); }

  void Stop() {
    {
      absl::MutexLock lock(&r_->mu_);
      stop_ = true;
      if (ctx_ != nullptr) ctx_->TryCancel();
      r_->cv_.SignalAll();
    }
    if (thread_.joinable()) thread_.join();
  }

  const ReplicaPeer& peer() const { return peer_; }
  // This link is to the member the leader counts as leader 2 (the first voter). Needs mu_.
  bool IsLeader2() const {
    return r_->voters_ > 0 && !r_->links_.empty() && r_->links_[0].get() == this;
  }
  uint64_t durable_seq = 0;  // mu_
  bool connected = false;    // mu_

 private:
  void Run() {
    std::string last_error;
    for (;;) {
      Status s = Session();
      absl::MutexLock lock(&r_->mu_);
      connected = false;
      if (stop_) return;
      if (s.ToString() != last_error) {  // once per distinct error, not every retry
        spdlog::warn("replication: member {} ({}): {}", peer_.node, peer_.address, s.ToString());
        last_error = s.ToString();
      }
      r_->mu_.AwaitWithTimeout(absl::Condition(&stop_),
                               absl::Milliseconds(r_->options_.retry_interval_ms));
      if (stop_) return;
    }
  }

  using Stream = grpc::ClientReaderWriter<pb::ReplicateRequest, pb::ReplicateResponse>;

  // Hello and log matching; returns where the member's log ends (it matches this log there).
  Result<uint64_t> Handshake(Stream* stream) {
    pb::ReplicateRequest req;
    req.mutable_hello()->set_group(r_->options_.group);
    req.mutable_hello()->set_epoch(r_->options_.epoch);
    req.mutable_hello()->set_leader(r_->options_.node);
    if (!stream->Write(req)) return Status::Unavailable("stream closed at the Hello");
    for (;;) {
      pb::ReplicateResponse resp;
      if (!stream->Read(&resp)) {
        absl::MutexLock lock(&r_->mu_);
        broken_ = true;  // the member ended the stream: Finish() says why
        return Status::Unavailable("the member ended the stream");
      }
      if (!resp.has_log_end()) return Status::Unavailable("no LogEnd from the member");
      const uint64_t end = resp.log_end().last_seq();
      // The end of the member's last epoch in this log: anything it holds beyond it is a suffix
      // of an older epoch that this leader does not have (never acknowledged).
      const uint64_t match = r_->engine_->EpochEndSeq(resp.log_end().last_epoch());
      if (match >= end) return end;
      spdlog::info(
          "replication: member {} holds seqs up to {} of epoch {}; this log has that "
          "epoch up to {}: it truncates",
          peer_.node, end, resp.log_end().last_epoch(), match);
      req.Clear();
      req.mutable_truncate()->set_after_seq(match);
      if (!stream->Write(req)) return Status::Unavailable("stream closed at the Truncate");
    }
  }

  Status Session() {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMessageBytesMax);
    args.SetMaxSendMessageSize(kMessageBytesMax);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);  // the connect timeout, for gRPC
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel =
        grpc::CreateCustomChannel(peer_.address, grpc::InsecureChannelCredentials(), args);
    auto stub = pb::Replication::NewStub(channel);
    grpc::ClientContext ctx;
    {
      absl::MutexLock lock(&r_->mu_);
      if (stop_) return Status::OK();
      ctx_ = &ctx;
      broken_ = false;
    }
    std::unique_ptr<Stream> stream = stub->Replicate(&ctx);
    Status result = Feed(stream.get());
    // Unblock the ack reader (unless the member already ended the stream: then Finish() says
    // why), collect the stream's status.
    bool ended = false;
    {
      absl::MutexLock lock(&r_->mu_);
      ended = broken_;
    }
    if (!ended) ctx.TryCancel();
    if (reader_.joinable()) reader_.join();
    grpc::Status fin = stream->Finish();
    {
      absl::MutexLock lock(&r_->mu_);
      ctx_ = nullptr;
    }
    if (!fin.ok() && fin.error_code() != grpc::StatusCode::CANCELLED) {
      return FromGrpc(fin, "member " + peer_.node);
    }
    return result;
  }

  Status Feed(Stream* stream) {
    RDB_ASSIGN_OR_RETURN(uint64_t end, Handshake(stream));
    {
      absl::MutexLock lock(&r_->mu_);
      durable_seq = end;
      connected = true;
      r_->cv_.SignalAll();
    }
    spdlog::info("replication: member {} ({}) follows epoch {} from seq {}", peer_.node,
                 peer_.address, r_->options_.epoch, end);
    reader_ = std::thread([this, stream] {
      pb::ReplicateResponse resp;
      while (stream->Read(&resp)) {
        if (!resp.has_ack()) break;
        absl::MutexLock lock(&r_->mu_);
        if (resp.ack().durable_seq() > durable_seq) durable_seq = resp.ack().durable_seq();
        r_->cv_.SignalAll();
      }
      absl::MutexLock lock(&r_->mu_);
      broken_ = true;
      r_->cv_.SignalAll();
    });
    uint64_t sent = end;  // the member's log ends here once everything sent is applied
    {
      // A heartbeat with this log's committed end: a member already level with it knows it has
      // caught up (a new member campaigns only then).
      pb::ReplicateRequest hb;
      hb.mutable_append()->set_prev_seq(sent);
      hb.mutable_append()->set_leader_end(r_->engine_->last_seq());
      {
        absl::MutexLock lock(&r_->mu_);
        hb.mutable_append()->set_you_are_leader2(IsLeader2());
      }
      if (!stream->Write(hb)) return Status::Unavailable("stream closed");
    }
    for (;;) {
      pb::ReplicateRequest req;
      auto* append = req.mutable_append();
      append->set_prev_seq(sent);
      append->set_leader_end(r_->engine_->last_seq());
      uint64_t next_end = sent;
      {
        absl::MutexLock lock(&r_->mu_);
        auto has_work = [&] {
          return stop_ || broken_ || (r_->has_batch_ && r_->batch_prev_ == sent) ||
                 r_->engine_->last_seq() > sent;
        };
        while (!has_work()) r_->cv_.WaitWithTimeout(&r_->mu_, absl::Milliseconds(50));
        if (stop_) return Status::OK();
        if (broken_) return Status::Unavailable("the member ended the stream");
        append->set_you_are_leader2(IsLeader2());
        if (r_->has_batch_ && r_->batch_prev_ == sent) {
          for (const std::string& b : *r_->batch_bodies_) append->add_records(b);
          next_end = r_->batch_last_;
        }
      }
      if (next_end == sent) {  // behind the committed log: catch up from it
        RDB_ASSIGN_OR_RETURN(auto bodies, ReadCommittedBodies(r_->engine_, sent, &next_end));
        if (bodies.empty()) continue;
        for (std::string& b : bodies) append->add_records(std::move(b));
      }
      if (!stream->Write(req)) return Status::Unavailable("stream closed");
      sent = next_end;
    }
  }

  Replicator* const r_;
  const ReplicaPeer peer_;
  bool stop_ = false;                   // mu_
  bool broken_ = false;                 // mu_
  grpc::ClientContext* ctx_ = nullptr;  // mu_
  std::thread reader_;
  std::thread thread_;
};

Replicator::Replicator(Engine* engine, ReplicatorOptions options)
    : engine_(engine), options_(std::move(options)) {}

Replicator::~Replicator() { Stop(); }

void Replicator::SetPeers(const std::vector<ReplicaPeer>& peers, size_t voters) {
  std::vector<std::shared_ptr<Link>> keep, drop;
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    for (const ReplicaPeer& p : peers) {
      std::shared_ptr<Link> found;
      for (auto& l : links_)
        if (l && l->peer() == p) found = l;
      keep.push_back(found);
    }
    for (auto& l : links_) {
      bool kept = false;
      for (auto& k : keep) kept = kept || k == l;
      if (!kept) drop.push_back(l);
    }
  }
  for (auto& l : drop) l->Stop();  // outside mu_: Stop takes it and joins the link's thread
  for (size_t i = 0; i < peers.size(); i++)
    if (!keep[i]) keep[i] = std::make_shared<Link>(this, peers[i]);
  absl::MutexLock lock(&mu_);
  if (stop_) {
    // Stopped meanwhile: the new links go down with this scope.
    links_.clear();
  } else {
    links_ = std::move(keep);
    voters_ = std::min(voters, links_.size());
  }
  cv_.SignalAll();
}

bool Replicator::QuorumHolds(uint64_t last_seq) const {
  uint32_t holders = 1;  // this node: the group is durable in its log
  bool leader2 = options_.writes < 2;
  for (size_t i = 0; i < voters_; i++) {
    if (links_[i]->connected && links_[i]->durable_seq >= last_seq) {
      holders++;
      if (i == 0) leader2 = true;
    }
  }
  return leader2 && holders >= options_.writes;
}

Status Replicator::Replicate(uint64_t prev_seq, const std::vector<std::string>& bodies,
                             uint64_t last_seq) {
  absl::MutexLock lock(&mu_);
  has_batch_ = true;
  batch_prev_ = prev_seq;
  batch_last_ = last_seq;
  batch_bodies_ = &bodies;
  cv_.SignalAll();
  Status result;
  for (;;) {
    if (QuorumHolds(last_seq)) break;
    if (stop_) {
      result = Status::Unavailable("replication stopped (leader 1 is stepping down)");
      break;
    }
    mu_.Unlock();
    const bool leader = options_.still_leader();
    mu_.Lock();
    if (!leader) {
      result = Status::FailedPrecondition("this node is no longer leader 1 of group " +
                                          std::to_string(options_.group) + " (epoch " +
                                          std::to_string(options_.epoch) + ")");
      break;
    }
    cv_.WaitWithTimeout(&mu_, absl::Milliseconds(options_.check_interval_ms));
  }
  has_batch_ = false;
  batch_bodies_ = nullptr;
  return result;
}

void Replicator::Stop() {
  std::vector<std::shared_ptr<Link>> links;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    links = links_;
    cv_.SignalAll();
  }
  for (auto& l : links) l->Stop();
  absl::MutexLock lock(&mu_);
  links_.clear();
}

std::vector<Replicator::PeerState> Replicator::peer_states() const {
  absl::MutexLock lock(&mu_);
  std::vector<PeerState> out;
  for (const auto& l : links_) out.push_back({l->peer(), l->durable_seq, l->connected});
  return out;
}

bool Replicator::Holds(uint64_t seq) const {
  absl::MutexLock lock(&mu_);
  return QuorumHolds(seq);
}

namespace {
// The last seq etcd revision of `seq` numbers.
uint64_t RevisionEnd(uint64_t seq) {
  return seq / kSeqsPerRevision * kSeqsPerRevision + kSeqsPerRevision - 1;
}
}  // namespace

Result<CommitHook::SeqGrant> LeaderHook::TakeSeqs(uint32_t n) {
  if (failed_.load()) {
    return Status::Unavailable("leader 1 of epoch " + std::to_string(epoch_) +
                               " lost its write quorum and is stepping down; retry");
  }
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = true;
    takes_++;
  }
  Result<SeqRange> range = sequencer_->Next(n);
  bool raise = false;
  // etcd's revision went back (restored from an older backup): these seqs could land below what
  // the merged feed already passed, so they are not used.
  const bool behind = range.ok() && range->first <= watermark_.load();
  {
    absl::MutexLock lock(&mu_);
    // Without seqs nothing of the group is written (and GroupDone does not come).
    if (!range.ok() || behind) in_flight_ = false;
    raise = range.ok() && established_;
  }
  if (!range.ok()) return range.status();
  if (behind) {
    return Status::FailedPrecondition("etcd's revision " +
                                      std::to_string(range->first / kSeqsPerRevision) +
                                      " is behind group's committed watermark " +
                                      std::to_string(watermark_.load()) + "; no seqs issued");
  }
  if (raise) Raise(range->first - 1);
  return SeqGrant{range->first, epoch_};
}

Status LeaderHook::Replicate(uint64_t prev_seq, const std::vector<std::string>& bodies,
                             uint64_t last_seq) {
  Status s = replicator_->Replicate(prev_seq, bodies, last_seq);
  if (!s.ok()) failed_.store(true);
  return s;
}

void LeaderHook::GroupDone(GroupOutcome outcome, uint64_t last_seq) {
  const bool committed = outcome == GroupOutcome::kCommitted;
  if (outcome == GroupOutcome::kInDoubt) failed_.store(true);
  uint64_t w = 0;
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = false;
    // A quorum holds this group, so also everything before it: the epoch is established.
    if (committed) established_ = true;
    if (committed) w = RevisionEnd(last_seq);
    // Revisions the watch reported while this batch was in flight: it is settled now, and the
    // next batch starts after they existed.
    if (established_ && seen_revision_ > 0) {
      w = std::max(w,
                   static_cast<uint64_t>(seen_revision_) * kSeqsPerRevision + kSeqsPerRevision - 1);
    }
  }
  if (w > 0) Raise(w);
}

void LeaderHook::ObserveRevision(int64_t revision) {
  bool raise = false;
  {
    absl::MutexLock lock(&mu_);
    if (fence_lost_ || revision <= seen_revision_) return;
    seen_revision_ = revision;
    raise = established_ && !in_flight_;
  }
  if (raise) Raise(static_cast<uint64_t>(revision) * kSeqsPerRevision + kSeqsPerRevision - 1);
}

void LeaderHook::LoseFence() {
  absl::MutexLock lock(&mu_);
  fence_lost_ = true;
  seen_revision_ = 0;
}

Result<uint64_t> LeaderHook::AdvanceWatermark() {
  if (failed_.load()) return Status::FailedPrecondition("leader 1 failed a write in this epoch");
  uint64_t takes = 0;
  bool newly_established = false;
  {
    absl::MutexLock lock(&mu_);
    if (!established_ && replicator_->Holds(start_seq_)) {
      established_ = true;
      // A quorum holds the log as it was when this node took over; what it lacks of older
      // epochs no leader can commit any more, and new batches number above it.
      newly_established = true;
    }
    if (!established_) return watermark_.load();
    takes = takes_;
  }
  if (newly_established) Raise(start_seq_);
  RDB_ASSIGN_OR_RETURN(int64_t revision, sequencer_->FencedRevision());
  bool raise = false;
  {
    absl::MutexLock lock(&mu_);
    // No batch was numbered during the read (it could have a revision at or below R) and none is
    // in flight: every granted group is visible, and the next batch's revision is above R.
    raise = !in_flight_ && takes_ == takes && !failed_.load();
  }
  if (raise) Raise(static_cast<uint64_t>(revision) * kSeqsPerRevision + kSeqsPerRevision - 1);
  return watermark_.load();
}

void LeaderHook::Raise(uint64_t w) {
  if (failed_.load()) return;
  uint64_t cur = watermark_.load();
  while (w > cur && !watermark_.compare_exchange_weak(cur, w)) {
  }
  if (w > cur && on_watermark_) on_watermark_();
}

}  // namespace rdb::cluster
