// CdcService: Subscribe streams run on a small pool of dispatcher threads (never on gRPC's
// callback threads): a worker polls a stream's cdc::Subscription for one message, calls StartWrite
// and moves on; OnWriteDone puts the stream back in the ready queue (or, on the live tail, parks or
// holds it without waking a worker). So each stream has at most
// one message in flight and a paused consumer stops the reading (back-pressure, bounded memory).
// Streams with nothing to send wait in `waiting_` until the shared TailCache advances past their
// position or their checkpoint is due; the waker thread moves them back. A live stream with only a
// little new data is held up to live_batch_delay_us (in `held_`, released by the workers' timed
// wait) so one message carries several commits. docs/cdc.md.
#include "server/cdc_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "cdc/groups.h"
#include "cdc/subscription.h"
#include "cdc/tail_cache.h"
#include "server/failed_stream.h"
#include "server/status_mapping.h"

namespace rdb::server {

namespace pb = ::rdeebee::v1;

namespace {

constexpr size_t kWorkers = 2;                // dispatcher threads
constexpr size_t kMessageChangesMax = 1000;   // changes per stream message
constexpr size_t kMessageBytesMax = 1 << 20;  // approximate bytes per stream message
constexpr uint64_t kWakerTickMsMax = 50;      // the waker's longest sleep
constexpr int kShutdownGraceMs = 2000;        // then streams stuck in a write are cancelled

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

pb::ChangeOp ToProto(cdc::ChangeOp op) {
  switch (op) {
    case cdc::ChangeOp::kCreate:
      return pb::CHANGE_OP_CREATE;
    case cdc::ChangeOp::kUpdate:
      return pb::CHANGE_OP_UPDATE;
    case cdc::ChangeOp::kDelete:
      return pb::CHANGE_OP_DELETE;
  }
  return pb::CHANGE_OP_UNSPECIFIED;
}

}  // namespace

class CdcService::Impl {
 public:
  class Stream;

  Impl(Engine* engine, Metrics* metrics, CdcOptions options)
      : engine_(engine),
        metrics_(metrics),
        options_(options),
        cache_(engine, cdc::TailCacheOptions{}),
        groups_(engine) {
    cache_.Start();
    for (size_t i = 0; i < kWorkers; i++) workers_.emplace_back([this] { Work(); });
    waker_ = std::thread([this] { Wake(); });
  }
  ~Impl() { Shutdown(); }

  void Shutdown();
  void NotifyWatermark();
  Result<CdcService::GroupClaim> ClaimGroup(const std::string& name) {
    RDB_RETURN_IF_ERROR(cdc::ValidateGroupName(name));
    CdcService::GroupClaim claim;
    RDB_ASSIGN_OR_RETURN(claim.lease, groups_.Acquire(name));
    RDB_ASSIGN_OR_RETURN(std::optional<cdc::GroupPosition> pos, groups_.Get(name));
    if (pos) claim.position = pos->seq;
    return claim;
  }
  void UseClusterShard(std::string registry_key) {
    groups_.Configure(cdc::GroupStoreOptions{std::move(registry_key), false});
  }
  grpc::ServerWriteReactor<pb::SubscribeResponse>* Subscribe(grpc::CallbackServerContext* ctx,
                                                             const pb::SubscribeRequest* req);
  Status Commit(const pb::CommitGroupPositionRequest& req, pb::CommitGroupPositionResponse* resp);
  Status List(pb::ListGroupsResponse* resp);
  Status Delete(const pb::DeleteGroupRequest& req);
  CdcService::Stats stats() const {
    CdcService::Stats st;
    st.cache_records_read = cache_.stats().records_read;
    st.reader_opens = reader_opens_.load(std::memory_order_relaxed);
    st.chunks_read = chunks_read_.load(std::memory_order_relaxed);
    return st;
  }
  void Observe(Method m, const grpc::Status& s, uint64_t start_us) {
    if (metrics_ == nullptr) return;
    metrics_->Observe(m, s.error_code(), NowUs() - start_us);
  }

  // Called by reactors (any thread).
  void Schedule(Stream* s);
  void WriteDone(Stream* s, bool ok);
  void Done(Stream* s);

 private:
  Result<std::unique_ptr<Stream>> Open(grpc::CallbackServerContext* ctx,
                                       const pb::SubscribeRequest& req, grpc::Status* failure);
  void Work();
  void Wake();
  void Process(Stream* s);
  // With mu_ held: true if s (live, its message written) should wait for more data rather than
  // be polled now, given the cache's end.
  bool ShouldHoldLocked(const Stream* s, uint64_t cache_end, uint64_t now_ms) const;
  // With mu_ held: parks s in held_ until now_us + live_batch_delay_us. Returns true if the
  // workers must be notified (their timed wait has to include this deadline).
  bool HoldLocked(Stream* s, uint64_t now_us);

  Engine* const engine_;
  Metrics* const metrics_;
  const CdcOptions options_;
  cdc::TailCache cache_;
  cdc::GroupStore groups_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // the ready queue got a stream, or stopping
  std::condition_variable done_cv_;  // a stream finished
  std::set<Stream*> streams_;        // every open stream (guarded by mu_)
  std::deque<Stream*> ready_;        // guarded by mu_
  std::set<Stream*> waiting_;        // nothing to send until the cache advances or a checkpoint
  // Live streams waiting (up to live_batch_delay_us) for more data, with their deadlines (steady
  // clock, us), in deadline order. An entry whose stream is no longer held_ is stale and skipped.
  std::deque<std::pair<Stream*, uint64_t>> held_;  // guarded by mu_
  bool shutting_down_ = false;                     // guarded by mu_
  uint64_t watermark_gen_ = 0;                     // NotifyWatermark calls (guarded by mu_)
  bool stop_threads_ = false;                      // guarded by mu_
  std::vector<std::thread> workers_;
  std::thread waker_;
  // Sums of the subscriptions' reader_opens() and chunks_read() (stats()).
  std::atomic<uint64_t> reader_opens_{0};
  std::atomic<uint64_t> chunks_read_{0};
};

class CdcService::Impl::Stream final : public grpc::ServerWriteReactor<pb::SubscribeResponse> {
 public:
  Stream(Impl* svc, grpc::CallbackServerContext* ctx, std::unique_ptr<cdc::Subscription> sub,
         std::unique_ptr<cdc::GroupStore::Lease> lease, uint32_t interval_ms, bool group_feed)
      : svc_(svc),
        ctx_(ctx),
        sub_(std::move(sub)),
        lease_(std::move(lease)),
        interval_ms_(interval_ms),
        group_feed_(group_feed),
        start_us_(std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count()) {}

  void OnWriteDone(bool ok) override { svc_->WriteDone(this, ok); }
  void OnCancel() override {
    {
      std::lock_guard lock(svc_->mu_);
      cancelled_ = true;
    }
    svc_->Schedule(this);
  }
  void OnDone() override {
    svc_->Observe(Method::kSubscribe, final_status_, start_us_);
    svc_->Done(this);
    delete this;
  }

 private:
  friend class Impl;
  Impl* const svc_;
  grpc::CallbackServerContext* const ctx_;
  std::unique_ptr<cdc::Subscription> sub_;  // used only by the worker holding busy_
  std::unique_ptr<cdc::GroupStore::Lease> lease_;
  const uint32_t interval_ms_;
  // A group_feed stream (SubscribeRequest.group_feed): every message carries the group's
  // committed watermark as its checkpoint, sent as soon as it rises.
  const bool group_feed_;
  const uint64_t start_us_;
  pb::SubscribeResponse msg_;  // owned by gRPC between StartWrite and OnWriteDone
  grpc::Status final_status_;
  // Guarded by svc_->mu_:
  bool queued_ = false;     // in ready_
  bool busy_ = false;       // a worker is polling it
  bool wake_ = false;       // scheduled while busy: look again
  bool writing_ = false;    // a StartWrite is outstanding
  bool cancelled_ = false;  // the client went away or a write failed
  bool finished_ = false;   // Finish was called: only OnDone may touch it now
  bool try_cancelled_ = false;
  bool sent_first_ = false;
  bool live_ = false;  // the last poll reached the cache's end (the live tail)
  bool held_ = false;  // in held_
  uint64_t checkpoint_due_ms_ = 0;
  uint64_t position_ = 0;         // the subscription's position after the last poll
  uint64_t checkpoint_sent_ = 0;  // group_feed: the last checkpoint sent
  uint64_t watermark_gen_ = 0;    // group_feed: svc_->watermark_gen_ when it last polled
  bool held_back_ = false;        // group_feed: parked until the watermark reaches the log's end
  // sub_'s counters already added to the service's sums (used only by the worker holding busy_).
  uint64_t counted_reader_opens_ = 0;
  uint64_t counted_chunks_read_ = 0;
};

void CdcService::Impl::Schedule(Stream* s) {
  {
    std::lock_guard lock(mu_);
    if (s->finished_) return;
    if (s->busy_) {
      s->wake_ = true;
      return;
    }
    waiting_.erase(s);
    s->held_ = false;  // its entry in held_ is stale now
    if (s->queued_) return;
    s->queued_ = true;
    ready_.push_back(s);
  }
  work_cv_.notify_one();
}

bool CdcService::Impl::ShouldHoldLocked(const Stream* s, uint64_t cache_end,
                                        uint64_t now_ms) const {
  // A group feed is one hop of a merged stream: it never waits (the merged stream may).
  return options_.live_batch_delay_us > 0 && !s->group_feed_ && s->live_ && !s->cancelled_ &&
         !shutting_down_ && cache_end > s->position_ &&
         cache_end - s->position_ < options_.live_batch_changes && s->checkpoint_due_ms_ > now_ms;
}

bool CdcService::Impl::HoldLocked(Stream* s, uint64_t now_us) {
  const bool first = held_.empty();
  s->held_ = true;
  held_.emplace_back(s, now_us + options_.live_batch_delay_us);
  return first;
}

// The previous message of s has been written. A live stream with nothing new goes straight back to
// waiting_ and one with a little new data to held_, both without waking a worker; the rest is
// scheduled (polled now).
void CdcService::Impl::WriteDone(Stream* s, bool ok) {
  enum class Next : uint8_t { kParked, kHeldFirst, kSchedule } next = Next::kSchedule;
  {
    std::lock_guard lock(mu_);
    s->writing_ = false;
    if (!ok) s->cancelled_ = true;
    if (!s->finished_ && !s->queued_ && !s->busy_ && !s->cancelled_ && !shutting_down_ &&
        s->live_) {
      const uint64_t now_ms = NowMs();
      const uint64_t end = cache_.end();
      if (s->checkpoint_due_ms_ > now_ms && end <= s->position_ &&
          (!s->group_feed_ || s->watermark_gen_ == watermark_gen_)) {
        // Checked under mu_: the waker scans waiting_ under mu_ after every advance of the cache,
        // so it cannot miss one that happens after this check.
        waiting_.insert(s);
        next = Next::kParked;
      } else if (ShouldHoldLocked(s, end, now_ms)) {
        next = HoldLocked(s, NowUs()) ? Next::kHeldFirst : Next::kParked;
      }
    }
  }
  switch (next) {
    case Next::kParked:
      return;
    case Next::kHeldFirst:
      work_cv_.notify_one();  // a worker's timed wait must include the new deadline
      return;
    case Next::kSchedule:
      Schedule(s);
      return;
  }
}

void CdcService::Impl::Done(Stream* s) {
  {
    std::lock_guard lock(mu_);
    streams_.erase(s);
    waiting_.erase(s);
    std::erase(ready_, s);
    std::erase_if(held_, [s](const auto& h) { return h.first == s; });
  }
  if (metrics_ != nullptr) metrics_->AddSubscribers(-1);
  done_cv_.notify_all();
}

void CdcService::Impl::Work() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (stop_threads_) return;
    // Held streams whose delay is over become ready.
    if (!held_.empty()) {
      const uint64_t now = NowUs();
      while (!held_.empty() && held_.front().second <= now) {
        Stream* h = held_.front().first;
        held_.pop_front();
        if (!h->held_) continue;  // released early, or held again later (a newer entry)
        h->held_ = false;
        if (!h->queued_) {
          h->queued_ = true;
          ready_.push_back(h);
        }
      }
    }
    if (ready_.empty()) {
      if (held_.empty()) {
        work_cv_.wait(lock);
      } else {
        const auto deadline =
            std::chrono::steady_clock::time_point(std::chrono::microseconds(held_.front().second));
        work_cv_.wait_until(lock, deadline);
      }
      continue;
    }
    Stream* s = ready_.front();
    ready_.pop_front();
    s->queued_ = false;
    if (s->finished_ || s->busy_) continue;
    if (s->writing_) {
      // OnWriteDone reschedules it. A shutdown cancels a write stuck behind a paused consumer.
      continue;
    }
    if (s->cancelled_ || shutting_down_) {
      s->finished_ = true;
      s->final_status_ =
          s->cancelled_ ? grpc::Status::CANCELLED
                        : grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
      lock.unlock();
      s->Finish(s->final_status_);
      lock.lock();
      continue;
    }
    s->busy_ = true;
    lock.unlock();
    Process(s);
    lock.lock();
  }
}

// Polls one message for s and starts writing it, or parks s in waiting_. Called with mu_ not held
// and s->busy_ set.
void CdcService::Impl::Process(Stream* s) {
  pb::SubscribeResponse& msg = s->msg_;
  msg.Clear();
  if (!s->sent_first_) {
    // The opening message: only a checkpoint at the start position, so the client knows the
    // stream is established (and where it starts) before any change arrives.
    std::unique_lock lock(mu_);
    s->busy_ = false;
    s->wake_ = false;
    s->sent_first_ = true;
    s->position_ = s->sub_->position();
    s->checkpoint_due_ms_ = NowMs() + s->interval_ms_;
    msg.mutable_checkpoint()->set_seq(std::min(s->position_, engine_->last_seq()));
    s->writing_ = true;
    lock.unlock();
    s->StartWrite(&msg);
    return;
  }
  // A group feed: the committed watermark before the poll (docs/design/merged-feed.md).
  Result<uint64_t> watermark = uint64_t{0};
  uint64_t visible_end = 0;
  if (s->group_feed_) {
    {
      std::lock_guard lock(mu_);
      s->watermark_gen_ = watermark_gen_;
    }
    watermark = options_.group_watermark();
    visible_end = engine_->last_seq();  // after the watermark: it covers what the watermark does
    if (!watermark.ok()) {
      std::unique_lock lock(mu_);
      s->busy_ = false;
      s->finished_ = true;
      s->final_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                      "group feed: " + watermark.status().message());
      lock.unlock();
      s->Finish(s->final_status_);
      return;
    }
  }
  // A group feed sends nothing above the watermark: a new leader's log can end in records it
  // adopted from the previous epoch that are not committed until the epoch is established (the
  // watermark lags the log's end only then, or for an instant after a commit becomes visible).
  const bool hold_back = s->group_feed_ && *watermark < visible_end;
  cdc::PollLimits limits;
  limits.changes_max = kMessageChangesMax;
  limits.bytes_max = kMessageBytesMax;
  Result<size_t> n = hold_back ? Result<size_t>(size_t{0})
                               : s->sub_->Poll(
                                     [&](const cdc::ChangeView& v) {
                                       pb::ChangeEvent* c = msg.add_changes();
                                       c->set_seq(v.seq);
                                       c->set_key(v.key.data(), v.key.size());
                                       c->set_version(v.version);
                                       c->set_op(ToProto(v.op));
                                       if (v.before)
                                         c->set_before(v.before->data(), v.before->size());
                                       if (v.after) c->set_after(v.after->data(), v.after->size());
                                       c->set_event_type(v.event_type.data(), v.event_type.size());
                                       c->set_timestamp_ms(v.timestamp_ms);
                                     },
                                     limits);
  reader_opens_.fetch_add(s->sub_->reader_opens() - s->counted_reader_opens_,
                          std::memory_order_relaxed);
  chunks_read_.fetch_add(s->sub_->chunks_read() - s->counted_chunks_read_,
                         std::memory_order_relaxed);
  s->counted_reader_opens_ = s->sub_->reader_opens();
  s->counted_chunks_read_ = s->sub_->chunks_read();
  const uint64_t now = NowMs();
  std::unique_lock lock(mu_);
  s->busy_ = false;
  if (!n.ok()) {
    spdlog::error("subscription failed at seq {}: {}", s->sub_->position(), n.status().ToString());
    s->finished_ = true;
    s->final_status_ = ToGrpcStatus(n.status(), nullptr);
    lock.unlock();
    s->Finish(s->final_status_);
    return;
  }
  s->position_ = s->sub_->position();
  s->live_ = s->sub_->live();
  // A checkpoint comes at least every interval; it rides along with changes when due.
  bool checkpoint = now >= s->checkpoint_due_ms_;
  if (s->group_feed_) {
    // Everything <= position_ is handled and nothing commits below the log's end any more; once
    // the stream has handled the log as it was after the watermark was read, also everything the
    // watermark covers (the shared cache may still be behind the log: then not yet).
    // Never above what is committed: a start after a seq beyond the log's end is not a fact
    // about the group.
    uint64_t c = std::min(s->position_, engine_->last_seq());
    if (s->position_ >= visible_end) c = std::max(c, *watermark);
    if (c > s->checkpoint_sent_ || *n > 0 || checkpoint) {
      s->checkpoint_sent_ = std::max(s->checkpoint_sent_, c);
      msg.mutable_checkpoint()->set_seq(s->checkpoint_sent_);
      s->checkpoint_due_ms_ = now + s->interval_ms_;
      checkpoint = true;
    }
  } else if (checkpoint) {
    // Clamped to the log's end: a stream started after a seq beyond it must not report (and have a
    // consumer commit) a position the log has not reached.
    msg.mutable_checkpoint()->set_seq(std::min(s->position_, engine_->last_seq()));
    s->checkpoint_due_ms_ = now + s->interval_ms_;
  }
  if (*n > 0 || checkpoint) {
    s->writing_ = true;
    const bool wake = s->wake_;
    s->wake_ = false;
    (void)wake;  // OnWriteDone reschedules anyway
    lock.unlock();
    if (metrics_ != nullptr) metrics_->AddChangesSent(*n);
    s->StartWrite(&msg);
    return;
  }
  // Checked under mu_, so the waker (which scans waiting_ under mu_ after every advance of the
  // cache) cannot miss an advance that happens after this check.
  // A held-back group feed waits for the watermark (NotifyWatermark) or its checkpoint, not the
  // log.
  s->held_back_ = hold_back;
  if (s->wake_ || (!hold_back && (s->sub_->more() || cache_.end() > s->position_)) ||
      shutting_down_ || (s->group_feed_ && s->watermark_gen_ != watermark_gen_)) {
    s->wake_ = false;
    if (!s->queued_) {
      s->queued_ = true;
      ready_.push_back(s);
      work_cv_.notify_one();
    }
    return;
  }
  waiting_.insert(s);
}

void CdcService::Impl::Wake() {
  uint64_t seen = cache_.end();
  for (;;) {
    uint64_t sleep_ms = kWakerTickMsMax;
    {
      std::lock_guard lock(mu_);
      if (stop_threads_) return;
      const uint64_t now = NowMs();
      for (Stream* s : waiting_) {
        if (s->checkpoint_due_ms_ > now) sleep_ms = std::min(sleep_ms, s->checkpoint_due_ms_ - now);
      }
    }
    seen = cache_.WaitPast(seen, sleep_ms);
    const uint64_t now = NowMs();
    const uint64_t now_us = NowUs();
    bool notify = false;
    {
      std::lock_guard lock(mu_);
      if (stop_threads_) return;
      // One pass per advance of the cache for all streams: waiting streams with a little new
      // data are held (coalescing), the others become ready.
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        Stream* s = *it;
        if ((s->position_ < seen && !s->held_back_) || s->checkpoint_due_ms_ <= now) {
          it = waiting_.erase(it);
          if (ShouldHoldLocked(s, seen, now)) {
            notify |= HoldLocked(s, now_us);
          } else if (!s->queued_) {
            s->queued_ = true;
            ready_.push_back(s);
            notify = true;
          }
        } else {
          ++it;
        }
      }
      // Held streams that have enough data now go at once.
      for (auto& [s, deadline] : held_) {
        if (s->held_ && seen - std::min(seen, s->position_) >= options_.live_batch_changes) {
          s->held_ = false;
          if (!s->queued_) {
            s->queued_ = true;
            ready_.push_back(s);
            notify = true;
          }
        }
      }
    }
    if (notify) work_cv_.notify_all();
  }
}

Result<std::unique_ptr<CdcService::Impl::Stream>> CdcService::Impl::Open(
    grpc::CallbackServerContext* ctx, const pb::SubscribeRequest& req, grpc::Status* failure) {
  cdc::SubscriptionOptions o;
  switch (req.start()) {
    case pb::START_POSITION_UNSPECIFIED:
    case pb::START_POSITION_EARLIEST:
      o.start = cdc::SubscriptionOptions::Start::kEarliest;
      break;
    case pb::START_POSITION_LATEST:
      o.start = cdc::SubscriptionOptions::Start::kLatest;
      break;
    case pb::START_POSITION_AFTER_SEQ:
      o.start = cdc::SubscriptionOptions::Start::kAfterSeq;
      o.after_seq = req.after_seq();
      break;
    default:
      return Status::InvalidArgument("unknown start position " + std::to_string(req.start()));
  }
  if (req.start() != pb::START_POSITION_AFTER_SEQ && req.after_seq() != 0) {
    return Status::InvalidArgument("after_seq applies to START_POSITION_AFTER_SEQ only");
  }
  o.filter.key_prefixes.assign(req.key_prefixes().begin(), req.key_prefixes().end());
  o.filter.event_types.assign(req.event_types().begin(), req.event_types().end());
  o.filter.include_system = req.include_system();
  o.include_before = req.include_before();
  RDB_RETURN_IF_ERROR(cdc::ValidateFilter(o.filter));
  RDB_RETURN_IF_ERROR(cdc::ValidateCheckpointInterval(req.checkpoint_interval_ms()));
  if (req.group_feed()) {
    if (!options_.group_watermark) {
      return Status::InvalidArgument("group_feed is for the nodes of a cluster");
    }
    if (!req.group().empty()) {
      return Status::InvalidArgument("group_feed does not take a consumer group");
    }
    Result<uint64_t> w = options_.group_watermark();
    if (!w.ok()) {
      *failure = grpc::Status(grpc::StatusCode::UNAVAILABLE, "group feed: " + w.status().message());
      return w.status();
    }
  }
  std::unique_ptr<cdc::GroupStore::Lease> lease;
  if (!req.group().empty()) {
    RDB_RETURN_IF_ERROR(cdc::ValidateGroupName(req.group()));
    RDB_ASSIGN_OR_RETURN(lease, groups_.Acquire(req.group()));
    RDB_ASSIGN_OR_RETURN(std::optional<cdc::GroupPosition> pos, groups_.Get(req.group()));
    if (pos) {  // an existing group's position wins over `start`
      o.start = cdc::SubscriptionOptions::Start::kAfterSeq;
      o.after_seq = pos->seq;
    }
  }
  Result<std::unique_ptr<cdc::Subscription>> sub = cdc::Subscription::Open(engine_, &cache_, o);
  if (sub.status().IsNotFound()) {  // the position is no longer in the log
    *failure = grpc::Status(grpc::StatusCode::OUT_OF_RANGE, sub.status().message());
    return sub.status();
  }
  if (!sub.ok()) return sub.status();
  const uint32_t interval = req.checkpoint_interval_ms() == 0 ? cdc::kCheckpointIntervalMsDefault
                                                              : req.checkpoint_interval_ms();
  return std::make_unique<Stream>(this, ctx, std::move(sub).value(), std::move(lease), interval,
                                  req.group_feed());
}

grpc::ServerWriteReactor<pb::SubscribeResponse>* CdcService::Impl::Subscribe(
    grpc::CallbackServerContext* ctx, const pb::SubscribeRequest* req) {
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) {
      return new FailedStream<pb::SubscribeResponse>(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
    }
    if (streams_.size() >= options_.subscribers_max) {
      return new FailedStream<pb::SubscribeResponse>(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          "too many subscribers: " + std::to_string(streams_.size()) + " open (subscribers_max " +
              std::to_string(options_.subscribers_max) + ")"));
    }
  }
  grpc::Status failure;
  Result<std::unique_ptr<Stream>> s = Open(ctx, *req, &failure);
  if (!s.ok()) {
    if (failure.ok()) failure = ToGrpcStatus(s.status(), nullptr);
    return new FailedStream<pb::SubscribeResponse>(failure);
  }
  Stream* stream = s->release();
  {
    // Checked again with the insert: Shutdown() sets shutting_down_ under mu_ and then finishes
    // every stream in streams_, so a stream is either refused here or finished there.
    std::lock_guard lock(mu_);
    if (shutting_down_) {
      delete stream;  // never handed to gRPC
      return new FailedStream<pb::SubscribeResponse>(
          grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
    }
    streams_.insert(stream);
  }
  if (metrics_ != nullptr) metrics_->AddSubscribers(1);
  Schedule(stream);
  return stream;
}

void CdcService::Impl::NotifyWatermark() {
  bool notify = false;
  {
    std::lock_guard lock(mu_);
    watermark_gen_++;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      Stream* s = *it;
      if (!s->group_feed_) {
        ++it;
        continue;
      }
      it = waiting_.erase(it);
      if (!s->queued_) {
        s->queued_ = true;
        ready_.push_back(s);
        notify = true;
      }
    }
  }
  if (notify) work_cv_.notify_one();
}

void CdcService::Impl::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (!shutting_down_) {
      shutting_down_ = true;
      for (Stream* s : streams_) {
        waiting_.erase(s);
        s->held_ = false;
        if (!s->queued_ && !s->busy_ && !s->finished_) {
          s->queued_ = true;
          ready_.push_back(s);
        }
      }
    }
  }
  work_cv_.notify_all();
  {
    std::unique_lock lock(mu_);
    if (!done_cv_.wait_for(lock, std::chrono::milliseconds(kShutdownGraceMs),
                           [&] { return streams_.empty(); })) {
      // A write stuck behind a consumer that stopped reading: cancel it; OnWriteDone(false)
      // follows.
      for (Stream* s : streams_) {
        if (s->writing_ && !s->try_cancelled_) {
          s->try_cancelled_ = true;
          s->ctx_->TryCancel();
        }
      }
      done_cv_.wait(lock, [&] { return streams_.empty(); });
    }
    stop_threads_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  if (waker_.joinable()) waker_.join();
  cache_.Stop();
}

Status CdcService::Impl::Commit(const pb::CommitGroupPositionRequest& req,
                                pb::CommitGroupPositionResponse* resp) {
  RDB_ASSIGN_OR_RETURN(uint64_t seq, groups_.Commit(req.group(), req.seq()));
  resp->set_seq(seq);
  return Status::OK();
}

Status CdcService::Impl::List(pb::ListGroupsResponse* resp) {
  const uint64_t last = engine_->last_seq();
  RDB_ASSIGN_OR_RETURN(std::vector<cdc::GroupPosition> groups, groups_.List());
  resp->set_last_seq(last);
  for (const cdc::GroupPosition& g : groups) {
    pb::GroupInfo* info = resp->add_groups();
    info->set_group(g.name);
    info->set_seq(g.seq);
    info->set_lag(last > g.seq ? last - g.seq : 0);
    info->set_active(groups_.IsActive(g.name));
    info->set_updated_ms(g.updated_ms);
  }
  return Status::OK();
}

Status CdcService::Impl::Delete(const pb::DeleteGroupRequest& req) {
  return groups_.Delete(req.group());
}

// --- CdcService ---

CdcService::CdcService(Engine* engine, Metrics* metrics, CdcOptions options)
    : impl_(std::make_unique<Impl>(engine, metrics, options)) {}

CdcService::~CdcService() = default;

void CdcService::Shutdown() { impl_->Shutdown(); }

void CdcService::UseClusterShard(std::string registry_key) {
  impl_->UseClusterShard(std::move(registry_key));
}

CdcService::Stats CdcService::stats() const { return impl_->stats(); }

void CdcService::NotifyWatermark() { impl_->NotifyWatermark(); }

Result<CdcService::GroupClaim> CdcService::ClaimGroup(const std::string& name) {
  return impl_->ClaimGroup(name);
}

grpc::ServerWriteReactor<pb::SubscribeResponse>* CdcService::Subscribe(
    grpc::CallbackServerContext* ctx, const pb::SubscribeRequest* req) {
  return impl_->Subscribe(ctx, req);
}

grpc::ServerUnaryReactor* CdcService::CommitGroupPosition(grpc::CallbackServerContext* ctx,
                                                          const pb::CommitGroupPositionRequest* req,
                                                          pb::CommitGroupPositionResponse* resp) {
  const uint64_t start = NowUs();
  grpc::Status s = ToGrpcStatus(impl_->Commit(*req, resp), nullptr);
  impl_->Observe(Method::kCommitGroupPosition, s, start);
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(s);
  return r;
}

grpc::ServerUnaryReactor* CdcService::ListGroups(grpc::CallbackServerContext* ctx,
                                                 const pb::ListGroupsRequest*,
                                                 pb::ListGroupsResponse* resp) {
  const uint64_t start = NowUs();
  grpc::Status s = ToGrpcStatus(impl_->List(resp), nullptr);
  impl_->Observe(Method::kListGroups, s, start);
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(s);
  return r;
}

Status CdcService::ListGroupsLocal(pb::ListGroupsResponse* resp) { return impl_->List(resp); }

grpc::ServerUnaryReactor* CdcService::DeleteGroup(grpc::CallbackServerContext* ctx,
                                                  const pb::DeleteGroupRequest* req,
                                                  pb::DeleteGroupResponse*) {
  const uint64_t start = NowUs();
  grpc::Status s = ToGrpcStatus(impl_->Delete(*req), nullptr);
  impl_->Observe(Method::kDeleteGroup, s, start);
  grpc::ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(s);
  return r;
}

}  // namespace rdb::server
