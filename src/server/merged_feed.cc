// MergedFeed (merged_feed.h). Each client stream is a State shared by its server reactor (Stream)
// and its upstream client reactors (Upstream). Every decision is taken under State::mu and turned
// into Actions (reads to start, a write, cancels, the finish) that run after the lock is released,
// so no gRPC call is ever made with a lock held. An upstream is shared (the State and the queued
// Actions hold it), so a cancel never touches a deleted one; it holds its call open (AddHold) until
// a read fails, so it is never deleted while the State may still start a read on it.
#include "server/merged_feed.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "cdc/change.h"
#include "cluster/roster.h"
#include "server/failed_stream.h"

namespace rdb::server {

namespace pb = ::rdeebee::v1;

namespace {

constexpr size_t kMessageChangesMax = 1000;   // changes per client message
constexpr size_t kMessageBytesMax = 1 << 20;  // approximate bytes per client message
constexpr int kShutdownGraceMs = 2000;

uint64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// An upstream that ended with one of these will not do better elsewhere: the client's stream ends
// with it. Anything else (leader gone or deposed, network) is retried on the group's leader.
bool Permanent(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT || code == grpc::StatusCode::OUT_OF_RANGE ||
         code == grpc::StatusCode::UNIMPLEMENTED || code == grpc::StatusCode::PERMISSION_DENIED;
}

}  // namespace

class MergedFeed::Impl {
 public:
  struct State;
  struct GroupBuffer;
  struct Actions;
  class Stream;
  class Upstream;
  using Stub = pb::EventStore::Stub;

  Impl(ClusterView* view, Metrics* metrics, MergedFeedOptions options)
      : view_(view), metrics_(metrics), options_(options) {
    connector_ = std::thread([this] { Connect(); });
  }
  ~Impl() { Shutdown(); }

  void Shutdown();
  grpc::ServerWriteReactor<pb::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* ctx, const pb::SubscribeRequest& req,
      std::unique_ptr<cdc::GroupStore::Lease> lease, std::optional<uint64_t> group_position);
  grpc::ServerWriteReactor<pb::SubscribeResponse>* Relay(grpc::CallbackServerContext* ctx,
                                                         const pb::SubscribeRequest& req,
                                                         uint32_t group);
  Stats stats() const {
    std::lock_guard lock(mu_);
    Stats s = stats_;
    s.streams = states_.size();
    return s;
  }

  // Asks the connector to (re)open group g's upstream of st once delay_ms has passed.
  void RequestConnect(const std::shared_ptr<State>& st, uint32_t g, uint64_t delay_ms);
  void Remove(State* st);
  void CountFailure() {
    std::lock_guard lock(mu_);
    stats_.upstream_failures++;
  }

  ClusterView* const view_;
  Metrics* const metrics_;
  const MergedFeedOptions options_;

 private:
  void Connect();  // the connector thread
  // Registers st's stream and asks for its upstreams.
  grpc::ServerWriteReactor<pb::SubscribeResponse>* Open(grpc::CallbackServerContext* ctx,
                                                        const std::shared_ptr<State>& st);
  std::shared_ptr<Stub> StubFor(const std::string& address);

  struct Pending {
    std::weak_ptr<State> st;
    uint32_t group;
    uint64_t at_ms;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;                       // a connect request, a stream removed, or stop
  std::vector<Pending> pending_;                     // guarded by mu_
  std::map<State*, std::shared_ptr<State>> states_;  // open streams (guarded by mu_)
  std::map<std::string, std::shared_ptr<Stub>> stubs_;  // by address (guarded by mu_)
  bool shutting_down_ = false;                          // guarded by mu_
  bool stop_ = false;                                   // guarded by mu_
  Stats stats_;                                         // guarded by mu_
  std::thread connector_;
};

// One group's part of a merged stream.
struct MergedFeed::Impl::GroupBuffer {
  std::deque<pb::ChangeEvent> changes;  // received, not sent yet, increasing seq
  bool start_known = false;             // the group's first upstream sent its opening message
  uint64_t start = 0;                   // the first upstream's opening checkpoint
  uint64_t checkpoint = 0;              // C_g: valid once start_known
  uint64_t received = 0;                // highest seq received from the group (change or C_g)
  std::shared_ptr<Upstream> up;         // the open upstream, if any
  bool reading = false;                 // up has a read outstanding
  bool ended = false;                   // up's last read failed (its OnDone follows)
  bool starting = false;                // up is registered but its call not started yet
};

// What to do once State::mu is released.
struct MergedFeed::Impl::Actions {
  std::vector<std::shared_ptr<Upstream>> reads;
  std::vector<std::shared_ptr<Upstream>> cancels;
  Stream* write = nullptr;
  Stream* finish = nullptr;
  grpc::Status status;
  size_t changes_sent = 0;
};

struct MergedFeed::Impl::State : std::enable_shared_from_this<State> {
  // relay_group < 0: a merged stream of `groups` upstreams; else a relay of req to leader 1 of
  // relay_group (one upstream).
  State(Impl* impl, const pb::SubscribeRequest& req, uint32_t groups, int64_t relay_group)
      : impl(impl), base(req), relay_group(relay_group) {
    if (relay_group < 0) {
      base.set_group_feed(true);
      base.clear_group();
      base.set_checkpoint_interval_ms(impl->options_.upstream_checkpoint_ms);
    }
    interval_ms = req.checkpoint_interval_ms() == 0 ? cdc::kCheckpointIntervalMsDefault
                                                    : req.checkpoint_interval_ms();
    if (req.start() == pb::START_POSITION_AFTER_SEQ) floor = req.after_seq();
    this->groups.resize(relay_group < 0 ? groups : 1);
  }
  // The group whose leader 1 serves upstream g.
  uint32_t LeaderGroup(uint32_t g) const {
    return relay_group < 0 ? g : static_cast<uint32_t>(relay_group);
  }

  // The request for group g's next upstream.
  pb::SubscribeRequest UpstreamRequest(uint32_t g) const;
  // Under mu: sends what M allows, restarts paused reads.
  void PumpLocked(Actions* a);
  // Under mu: starts a read on every upstream without one that may take more (all of them while
  // finishing: a read that fails after the cancel is what lets an upstream end).
  void RestartReadsLocked(Actions* a);
  // Under mu: ends the stream with status once the upstreams are gone and no write is out.
  void BeginFinishLocked(const grpc::Status& status, Actions* a);
  void MaybeFinishLocked(Actions* a);
  void Run(Actions& a);

  // Events.
  // The connector registers g's new upstream (false: the stream is ending, do not start it), then
  // starts its call and says so (Begun).
  bool Started(uint32_t g, const std::shared_ptr<Upstream>& up);
  void Begun(uint32_t g);
  void ReadDone(uint32_t g, bool ok, pb::SubscribeResponse* msg);
  void UpstreamDone(uint32_t g, const grpc::Status& status);
  void WriteDone(bool ok);
  void Cancelled();
  void ReactorDone();

  Impl* const impl;
  pb::SubscribeRequest base;  // the upstreams' request (with the client's start)
  const int64_t relay_group;
  // Changes at or below it are not the subscriber's: its after_seq, or for LATEST the highest
  // of the groups' starts (set with the opening message).
  uint64_t floor = 0;
  std::unique_ptr<cdc::GroupStore::Lease> lease;
  uint32_t interval_ms = 0;
  uint64_t start_us = 0;

  std::mutex mu;
  Stream* stream = nullptr;  // null once its OnDone ran
  std::vector<GroupBuffer> groups;
  int live_upstreams = 0;
  bool sent_first = false;
  uint64_t position = 0;  // every change <= position has been sent
  uint64_t checkpoint_due_ms = 0;
  bool writing = false;
  bool finishing = false;
  bool finished = false;
  grpc::Status final_status;
  pb::SubscribeResponse msg;  // owned by gRPC during a write
};

class MergedFeed::Impl::Stream final : public grpc::ServerWriteReactor<pb::SubscribeResponse> {
 public:
  Stream(std::shared_ptr<State> st, grpc::CallbackServerContext* ctx)
      : st_(std::move(st)), ctx_(ctx) {}
  void OnWriteDone(bool ok) override { st_->WriteDone(ok); }
  void OnCancel() override { st_->Cancelled(); }
  void OnDone() override {
    st_->ReactorDone();
    delete this;
  }
  grpc::CallbackServerContext* ctx() const { return ctx_; }

 private:
  std::shared_ptr<State> st_;
  grpc::CallbackServerContext* const ctx_;
};

class MergedFeed::Impl::Upstream final : public grpc::ClientReadReactor<pb::SubscribeResponse> {
 public:
  Upstream(std::shared_ptr<State> st, uint32_t g, pb::SubscribeRequest req)
      : st_(std::move(st)), g_(g), req_(std::move(req)) {
    // A relayed request is served by its receiver, never sent on again.
    if (st_->relay_group >= 0) ctx_.AddMetadata(kForwardedMetadataKey, "1");
  }
  void Begin(Stub* stub, std::shared_ptr<Upstream> self) {
    self_ = std::move(self);  // dropped in OnDone
    stub->async()->Subscribe(&ctx_, &req_, this);
    AddHold();  // released by the first failed read: until then the State may call Read()
    StartRead(&msg_);
    StartCall();
  }
  void Read() { StartRead(&msg_); }
  void Cancel() { ctx_.TryCancel(); }
  void OnReadDone(bool ok) override {
    st_->ReadDone(g_, ok, &msg_);
    if (!ok) RemoveHold();
  }
  void OnDone(const grpc::Status& s) override {
    st_->UpstreamDone(g_, s);
    std::shared_ptr<Upstream> last = std::move(self_);  // may delete this on return
  }

 private:
  std::shared_ptr<Upstream> self_;
  std::shared_ptr<State> st_;
  const uint32_t g_;
  grpc::ClientContext ctx_;
  pb::SubscribeRequest req_;
  pb::SubscribeResponse msg_;
};

pb::SubscribeRequest MergedFeed::Impl::State::UpstreamRequest(uint32_t g) const {
  pb::SubscribeRequest r = base;
  if (relay_group >= 0) return r;
  const GroupBuffer& b = groups[g];
  if (b.start_known) {  // else the client's own start again
    r.set_start(pb::START_POSITION_AFTER_SEQ);
    r.set_after_seq(std::max(b.received, floor));
  }
  return r;
}

void MergedFeed::Impl::State::Run(Actions& a) {
  for (auto& up : a.cancels) up->Cancel();
  for (auto& up : a.reads) up->Read();
  if (a.write != nullptr) {
    if (impl->metrics_ != nullptr && a.changes_sent > 0)
      impl->metrics_->AddChangesSent(a.changes_sent);
    a.write->StartWrite(&msg);
  }
  if (a.finish != nullptr) a.finish->Finish(a.status);
}

void MergedFeed::Impl::State::RestartReadsLocked(Actions* a) {
  for (GroupBuffer& b : groups) {
    if (b.up != nullptr && !b.reading && !b.ended &&
        (finishing || b.changes.size() < impl->options_.upstream_buffer_changes)) {
      b.reading = true;
      a->reads.push_back(b.up);
    }
  }
}

void MergedFeed::Impl::State::PumpLocked(Actions* a) {
  if (finishing) {
    RestartReadsLocked(a);
    MaybeFinishLocked(a);
    return;
  }
  if (stream != nullptr && !writing) {
    msg.Clear();
    const uint64_t now = NowMs();
    if (!sent_first) {
      // The opening message, once every group's first upstream has said where it starts: a
      // checkpoint at the merged start. LATEST starts after the highest of the groups' log ends
      // (what another group committed up to there came before the subscription).
      bool known = true;
      uint64_t lowest = UINT64_MAX, highest = 0;
      for (const GroupBuffer& b : groups) {
        known = known && b.start_known;
        lowest = std::min(lowest, b.start);
        highest = std::max(highest, b.start);
      }
      if (known) {
        if (base.start() == pb::START_POSITION_LATEST) {
          floor = highest;
          for (GroupBuffer& b : groups) {
            b.received = std::max(b.received, floor);
            while (!b.changes.empty() && b.changes.front().seq() <= floor) b.changes.pop_front();
          }
        }
        sent_first = true;
        position = base.start() == pb::START_POSITION_LATEST ? floor : lowest;
        msg.mutable_checkpoint()->set_seq(position);
        checkpoint_due_ms = now + interval_ms;
        writing = true;
        a->write = stream;
      }
    } else {
      uint64_t m = UINT64_MAX;
      for (const GroupBuffer& b : groups) m = std::min(m, b.checkpoint);
      size_t n = 0, bytes = 0;
      for (;;) {
        GroupBuffer* next = nullptr;
        for (GroupBuffer& b : groups) {
          if (!b.changes.empty() &&
              (next == nullptr || b.changes.front().seq() < next->changes.front().seq())) {
            next = &b;
          }
        }
        if (next == nullptr || next->changes.front().seq() > m) break;
        if (n >= kMessageChangesMax || bytes >= kMessageBytesMax) break;
        pb::ChangeEvent& c = next->changes.front();
        position = c.seq();
        bytes += c.ByteSizeLong();
        *msg.add_changes() = std::move(c);
        next->changes.pop_front();
        n++;
      }
      bool drained = true;
      for (const GroupBuffer& b : groups) {
        if (!b.changes.empty() && b.changes.front().seq() <= m) drained = false;
      }
      if (drained && m > position) position = m;
      if (n > 0 || now >= checkpoint_due_ms) {
        msg.mutable_checkpoint()->set_seq(position);
        checkpoint_due_ms = now + interval_ms;
        writing = true;
        a->write = stream;
        a->changes_sent = n;
      }
    }
  }
  RestartReadsLocked(a);
}

void MergedFeed::Impl::State::BeginFinishLocked(const grpc::Status& status, Actions* a) {
  if (finishing) return;
  finishing = true;
  final_status = status;
  for (GroupBuffer& b : groups) {
    if (b.up != nullptr && !b.starting) a->cancels.push_back(b.up);  // Begun cancels the others
  }
  RestartReadsLocked(a);
  MaybeFinishLocked(a);
}

void MergedFeed::Impl::State::MaybeFinishLocked(Actions* a) {
  if (!finishing || finished || writing || live_upstreams > 0 || stream == nullptr) return;
  finished = true;
  a->finish = stream;
  a->status = final_status;
}

bool MergedFeed::Impl::State::Started(uint32_t g, const std::shared_ptr<Upstream>& up) {
  std::lock_guard lock(mu);
  if (finishing) return false;
  groups[g].up = up;
  groups[g].reading = true;  // Begin starts the first read
  groups[g].ended = false;
  groups[g].starting = true;
  live_upstreams++;
  return true;
}

void MergedFeed::Impl::State::Begun(uint32_t g) {
  Actions a;
  {
    std::lock_guard lock(mu);
    groups[g].starting = false;
    // The stream began to end meanwhile: BeginFinishLocked left this upstream alone.
    if (finishing && groups[g].up != nullptr) {
      a.cancels.push_back(groups[g].up);
      RestartReadsLocked(&a);
    }
  }
  Run(a);
}

void MergedFeed::Impl::State::ReadDone(uint32_t g, bool ok, pb::SubscribeResponse* in) {
  Actions a;
  {
    std::lock_guard lock(mu);
    GroupBuffer& b = groups[g];
    b.reading = false;
    if (!ok) {
      b.ended = true;
    } else {
      if (!b.start_known) {
        // The first message of the group's first upstream: a checkpoint at its start.
        b.start_known = true;
        b.checkpoint = in->has_checkpoint() ? in->checkpoint().seq() : 0;
        b.start = b.checkpoint;
        b.received = std::max(b.checkpoint, floor);
      }
      for (pb::ChangeEvent& c : *in->mutable_changes()) {
        // Already received from an earlier upstream, or at or before the start.
        if (c.seq() <= b.received) continue;
        b.received = c.seq();
        b.changes.push_back(std::move(c));
      }
      if (in->has_checkpoint() && in->checkpoint().seq() > b.checkpoint) {
        b.checkpoint = in->checkpoint().seq();
        b.received = std::max(b.received, b.checkpoint);
      }
    }
    PumpLocked(&a);
  }
  Run(a);
}

void MergedFeed::Impl::State::UpstreamDone(uint32_t g, const grpc::Status& status) {
  Actions a;
  bool reconnect = false;
  {
    std::lock_guard lock(mu);
    groups[g].up = nullptr;
    groups[g].reading = false;
    groups[g].ended = false;
    live_upstreams--;
    if (!finishing) {
      if (relay_group >= 0) {
        // The group's owner is gone: the consumer resumes from the group's committed position.
        BeginFinishLocked(status.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                     "the consumer group's node ended the stream")
                                      : status,
                          &a);
      } else if (Permanent(status.error_code())) {
        BeginFinishLocked(status, &a);
      } else {
        reconnect = true;
        spdlog::debug("merged feed: group {} stream ended ({}: {}); asking its leader again", g,
                      static_cast<int>(status.error_code()), status.error_message());
      }
    }
    MaybeFinishLocked(&a);
  }
  if (reconnect) {
    impl->CountFailure();
    impl->RequestConnect(shared_from_this(), g, impl->options_.reconnect_interval_ms);
  }
  Run(a);
}

void MergedFeed::Impl::State::WriteDone(bool ok) {
  Actions a;
  {
    std::lock_guard lock(mu);
    writing = false;
    if (!ok) BeginFinishLocked(grpc::Status::CANCELLED, &a);
    PumpLocked(&a);
  }
  Run(a);
}

void MergedFeed::Impl::State::Cancelled() {
  Actions a;
  {
    std::lock_guard lock(mu);
    BeginFinishLocked(grpc::Status::CANCELLED, &a);
  }
  Run(a);
}

void MergedFeed::Impl::State::ReactorDone() {
  {
    std::lock_guard lock(mu);
    stream = nullptr;
    if (impl->metrics_ != nullptr) {
      impl->metrics_->Observe(Method::kSubscribe, final_status.error_code(), NowUs() - start_us);
    }
  }
  if (impl->metrics_ != nullptr) impl->metrics_->AddSubscribers(-1);
  impl->Remove(this);
}

// --- Impl ---

grpc::ServerWriteReactor<pb::SubscribeResponse>* MergedFeed::Impl::Subscribe(
    grpc::CallbackServerContext* ctx, const pb::SubscribeRequest& req,
    std::unique_ptr<cdc::GroupStore::Lease> lease, std::optional<uint64_t> group_position) {
  if (options_.groups == 0) {
    return new FailedStream<pb::SubscribeResponse>(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "the cluster's group count is not known yet"));
  }
  // The leaders validate the rest; these are checked here so a bad request fails at once.
  cdc::Filter filter;
  filter.key_prefixes.assign(req.key_prefixes().begin(), req.key_prefixes().end());
  filter.event_types.assign(req.event_types().begin(), req.event_types().end());
  Status valid = cdc::ValidateFilter(filter);
  if (valid.ok()) valid = cdc::ValidateCheckpointInterval(req.checkpoint_interval_ms());
  if (valid.ok() && req.start() != pb::START_POSITION_AFTER_SEQ && req.after_seq() != 0)
    valid = Status::InvalidArgument("after_seq applies to START_POSITION_AFTER_SEQ only");
  if (valid.ok() && !pb::StartPosition_IsValid(req.start()))
    valid = Status::InvalidArgument("unknown start position " + std::to_string(req.start()));
  if (!valid.ok()) {
    return new FailedStream<pb::SubscribeResponse>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, valid.message()));
  }
  pb::SubscribeRequest first = req;
  if (group_position) {  // a consumer group's stored position wins over the start
    first.set_start(pb::START_POSITION_AFTER_SEQ);
    first.set_after_seq(*group_position);
  }
  auto st = std::make_shared<State>(this, first, options_.groups, -1);
  st->lease = std::move(lease);
  return Open(ctx, st);
}

grpc::ServerWriteReactor<pb::SubscribeResponse>* MergedFeed::Impl::Relay(
    grpc::CallbackServerContext* ctx, const pb::SubscribeRequest& req, uint32_t group) {
  return Open(ctx, std::make_shared<State>(this, req, 1, group));
}

grpc::ServerWriteReactor<pb::SubscribeResponse>* MergedFeed::Impl::Open(
    grpc::CallbackServerContext* ctx, const std::shared_ptr<State>& st) {
  st->start_us = NowUs();
  auto* stream = new Stream(st, ctx);
  {
    std::lock_guard lock(mu_);
    if (shutting_down_ || states_.size() >= options_.subscribers_max) {
      const bool down = shutting_down_;
      delete stream;
      return new FailedStream<pb::SubscribeResponse>(
          down ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down")
               : grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "too many subscribers: " + std::to_string(states_.size()) +
                                  " open (subscribers_max " +
                                  std::to_string(options_.subscribers_max) + ")"));
    }
    st->stream = stream;
    states_[st.get()] = st;
  }
  if (metrics_ != nullptr) metrics_->AddSubscribers(1);
  // Nothing is sent before every group's first upstream sent its opening message.
  for (uint32_t g = 0; g < st->groups.size(); g++) RequestConnect(st, g, 0);
  return stream;
}

void MergedFeed::Impl::RequestConnect(const std::shared_ptr<State>& st, uint32_t g,
                                      uint64_t delay_ms) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    pending_.push_back({st, g, NowMs() + delay_ms});
  }
  cv_.notify_all();
}

void MergedFeed::Impl::Remove(State* st) {
  std::shared_ptr<State> keep;  // released after the lock
  {
    std::lock_guard lock(mu_);
    auto it = states_.find(st);
    if (it != states_.end()) {
      keep = std::move(it->second);
      states_.erase(it);
    }
  }
  cv_.notify_all();
}

std::shared_ptr<MergedFeed::Impl::Stub> MergedFeed::Impl::StubFor(const std::string& address) {
  std::lock_guard lock(mu_);
  std::shared_ptr<Stub>& stub = stubs_[address];
  if (!stub) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    stub = pb::EventStore::NewStub(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  return stub;
}

void MergedFeed::Impl::Connect() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_) return;
    const uint64_t now = NowMs();
    uint64_t next_at = UINT64_MAX;
    std::vector<Pending> due;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->at_ms <= now) {
        due.push_back(std::move(*it));
        it = pending_.erase(it);
      } else {
        next_at = std::min(next_at, it->at_ms);
        ++it;
      }
    }
    if (due.empty()) {
      if (next_at == UINT64_MAX) {
        cv_.wait(lock);
      } else {
        cv_.wait_for(lock, std::chrono::milliseconds(next_at - now));
      }
      continue;
    }
    lock.unlock();
    // One read of the member map serves every due request.
    std::map<uint32_t, std::string> leaders;
    Result<std::vector<cluster::MemberInfo>> members = view_->ListMembers();
    if (members.ok()) {
      for (const cluster::MemberInfo& m : *members) {
        if (m.role == cluster::Role::kLeader1) leaders[m.group] = m.address;
      }
    }
    std::vector<Pending> retry;
    for (Pending& p : due) {
      std::shared_ptr<State> st = p.st.lock();
      if (!st) continue;
      {
        std::lock_guard sl(st->mu);
        if (st->finishing) continue;
      }
      auto it = leaders.find(st->LeaderGroup(p.group));
      if (it == leaders.end()) {
        retry.push_back({st, p.group, NowMs() + options_.reconnect_interval_ms});
        continue;
      }
      std::shared_ptr<Stub> stub = StubFor(it->second);
      pb::SubscribeRequest req;
      {
        std::lock_guard sl(st->mu);
        req = st->UpstreamRequest(p.group);
      }
      auto up = std::make_shared<Upstream>(st, p.group, std::move(req));
      if (!st->Started(p.group, up)) continue;
      up->Begin(stub.get(), up);
      st->Begun(p.group);
      {
        std::lock_guard l(mu_);
        stats_.upstreams_opened++;
      }
    }
    lock.lock();
    for (Pending& p : retry) pending_.push_back(std::move(p));
  }
}

void MergedFeed::Impl::Shutdown() {
  std::vector<std::shared_ptr<State>> open;
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    shutting_down_ = true;
    for (auto& [p, st] : states_) open.push_back(st);
  }
  for (auto& st : open) {
    Actions a;
    {
      std::lock_guard lock(st->mu);
      st->BeginFinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"),
                            &a);
    }
    st->Run(a);
  }
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::milliseconds(kShutdownGraceMs),
                      [&] { return states_.empty(); })) {
      // A write stuck behind a client that stopped reading: cancel it.
      // The lock keeps each Stream alive (its OnDone waits in Remove); its State's lock is not
      // held while cancelling, as OnCancel takes it.
      for (auto& [p, st] : states_) {
        grpc::CallbackServerContext* ctx = nullptr;
        {
          std::lock_guard sl(st->mu);
          if (st->stream != nullptr) ctx = st->stream->ctx();
        }
        if (ctx != nullptr) ctx->TryCancel();
      }
      cv_.wait(lock, [&] { return states_.empty(); });
    }
    stop_ = true;
  }
  cv_.notify_all();
  if (connector_.joinable()) connector_.join();
}

// --- MergedFeed ---

MergedFeed::MergedFeed(ClusterView* view, Metrics* metrics, MergedFeedOptions options)
    : impl_(std::make_unique<Impl>(view, metrics, options)) {}

MergedFeed::~MergedFeed() = default;

void MergedFeed::Shutdown() { impl_->Shutdown(); }

grpc::ServerWriteReactor<pb::SubscribeResponse>* MergedFeed::Subscribe(
    grpc::CallbackServerContext* ctx, const pb::SubscribeRequest& req,
    std::unique_ptr<cdc::GroupStore::Lease> lease, std::optional<uint64_t> group_position) {
  return impl_->Subscribe(ctx, req, std::move(lease), group_position);
}

grpc::ServerWriteReactor<pb::SubscribeResponse>* MergedFeed::Relay(grpc::CallbackServerContext* ctx,
                                                                   const pb::SubscribeRequest& req,
                                                                   uint32_t group) {
  return impl_->Relay(ctx, req, group);
}

MergedFeed::Stats MergedFeed::stats() const { return impl_->stats(); }

}  // namespace rdb::server
