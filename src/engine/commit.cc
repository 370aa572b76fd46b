// The write path: validation, group commit and index apply.
//
// Appenders queue up; the writer at the front becomes the commit leader and takes a group of
// queued requests (bounded by group_commit_requests_max / _bytes_max). The leader decides each
// request (idempotency, expected version), takes seqs, writes all records with one write(), makes
// them durable with one fdatasync (fsync=always), applies them to the index, publishes them to
// readers and wakes the group. While it syncs, the next group forms behind it.
#include <algorithm>

#include "engine/engine_impl.h"
#include "spdlog/spdlog.h"

namespace rdb {
namespace {

size_t RequestBytes(const AppendRequest& r) {
  size_t n = r.key.size() + r.idempotency_id.size();
  for (const EventData& e : r.events) n += e.payload.size() + e.event_type.size() + 8;
  return n;
}

size_t ReplicatedBytes(const LogRecord& r) {
  size_t n = r.key.size() + r.idempotency_id.size();
  for (const LogEvent& e : r.events) n += e.payload.size() + e.event_type.size() + 8;
  return n;
}

std::string ExpectedName(const ExpectedVersion& e) {
  switch (e.kind) {
    case ExpectedVersion::Kind::kAny:
      return "any";
    case ExpectedVersion::Kind::kNoStream:
      return "none";
    case ExpectedVersion::Kind::kExact:
      return std::to_string(e.version);
  }
  return "?";
}

}  // namespace

Status Engine::Impl::ValidateRequest(const AppendRequest& r) const {
  RDB_RETURN_IF_ERROR(ValidateKey(r.key, r.system || options_.allow_system_keys));
  if (r.events.empty()) return Status::InvalidArgument("an append needs at least one event");
  if (r.events.size() > kBatchEventsMax) {
    return Status::InvalidArgument("batch has " + std::to_string(r.events.size()) +
                                   " events; the maximum is " + std::to_string(kBatchEventsMax) +
                                   " (batch_events_max)");
  }
  if (r.idempotency_id.size() > kIdempotencyIdBytesMax) {
    return Status::InvalidArgument("idempotency id is " + std::to_string(r.idempotency_id.size()) +
                                   " bytes; the maximum is " +
                                   std::to_string(kIdempotencyIdBytesMax));
  }
  if (r.expected.kind != ExpectedVersion::Kind::kAny &&
      r.expected.kind != ExpectedVersion::Kind::kNoStream &&
      r.expected.kind != ExpectedVersion::Kind::kExact) {
    return Status::InvalidArgument("unknown expected-version kind");
  }
  size_t total = 0;
  for (const EventData& e : r.events) {
    if (e.kind != EventKind::kPut && e.kind != EventKind::kDelete) {
      return Status::InvalidArgument("unknown event kind");
    }
    if (e.payload.size() > options_.payload_bytes_max) {
      return Status::InvalidArgument(
          "payload is " + std::to_string(e.payload.size()) + " bytes; the maximum is " +
          std::to_string(options_.payload_bytes_max) + " (payload_bytes_max)");
    }
    if (e.kind == EventKind::kDelete && !e.payload.empty()) {
      return Status::InvalidArgument("a DELETE event carries no payload");
    }
    if (e.event_type.size() > kEventTypeBytesMax) {
      return Status::InvalidArgument("event type is " + std::to_string(e.event_type.size()) +
                                     " bytes; the maximum is " +
                                     std::to_string(kEventTypeBytesMax));
    }
    total += e.payload.size() + e.event_type.size();
  }
  if (total > kBatchBytesMax) {
    return Status::InvalidArgument("batch is " + std::to_string(total) + " bytes; the maximum is " +
                                   std::to_string(kBatchBytesMax) + " (batch_bytes_max)");
  }
  return Status::OK();
}

Status Engine::Impl::Admit(PendingWrite* w) {
  w->bytes = w->request ? RequestBytes(*w->request) : ReplicatedBytes(*w->replicated);
  if (closed_) return Status::Unavailable("the database is shutting down");
  if (!fatal_.ok()) return fatal_;
  if (queue_.size() >= options_.commit_queue_max) {
    return Status::ResourceExhausted("commit queue is full (" +
                                     std::to_string(options_.commit_queue_max) +
                                     " appends waiting, commit_queue_max); retry later");
  }
  return Status::OK();
}

Result<AppendResult> Engine::Impl::Submit(PendingWrite* w) {
  std::unique_lock lock(mu_);
  RDB_RETURN_IF_ERROR(Admit(w));
  queue_.push_back(w);
  while (!w->done && (leading_ || queue_.front() != w)) w->cv.wait(lock);
  if (w->done) return std::move(*w->result);
  LeadGroups(lock, /*keep_async=*/false);
  RDB_CHECK(w->done);  // the first request of a group depends on no other, so it is decided
  return std::move(*w->result);
}

void Engine::Impl::SubmitAsync(std::unique_ptr<PendingWrite> w) {
  std::unique_lock lock(mu_);
  Status admitted = Admit(w.get());
  if (!admitted.ok()) {
    lock.unlock();
    w->on_done(admitted);
    return;
  }
  PendingWrite* p = w.release();  // owned by the queue until its callback has run
  queue_.push_back(p);
  if (leading_ || queue_.front() != p) return;  // a leader, or a waiting thread, will take it
  WakeCommitter();
}

void Engine::Impl::SubmitAsyncMany(std::vector<std::unique_ptr<PendingWrite>> writes) {
  std::unique_lock lock(mu_);
  std::vector<std::unique_ptr<PendingWrite>> refused;
  PendingWrite* first = nullptr;
  for (auto& w : writes) {
    Status admitted = Admit(w.get());
    if (!admitted.ok()) {
      w->result = admitted;
      refused.push_back(std::move(w));
      continue;
    }
    PendingWrite* p = w.release();  // owned by the queue until its callback has run
    if (first == nullptr) first = p;
    queue_.push_back(p);
  }
  // All queued under one lock: one commit leader takes them as one group (up to its limits).
  if (first != nullptr && !leading_ && queue_.front() == first) WakeCommitter();
  lock.unlock();
  for (auto& w : refused) w->on_done(std::move(*w->result));
}

void Engine::Impl::WakeCommitter() {
  if (committer_sleeping_) committer_cv_.notify_one();
}

void Engine::Impl::CommitterLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!leading_ && !queue_.empty() && queue_.front()->on_done) {
      LeadGroups(lock, /*keep_async=*/true);
      continue;
    }
    if (committer_stop_) return;
    committer_sleeping_ = true;
    committer_cv_.wait(lock);
    committer_sleeping_ = false;
  }
}

void Engine::Impl::StopCommitter() {
  if (!committer_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    committer_stop_ = true;
    committer_cv_.notify_one();
  }
  committer_.join();
}

void Engine::Impl::LeadGroups(std::unique_lock<std::mutex>& lock, bool keep_async) {
  RDB_CHECK(!leading_ && !queue_.empty());
  leading_ = true;
  std::vector<PendingWrite*> group, finished;
  for (;;) {
    group.clear();
    size_t bytes = 0, events = 0;
    for (PendingWrite* p : queue_) {
      const size_t n = p->request ? p->request->events.size() : p->replicated->events.size();
      if (group.size() >= options_.group_commit_requests_max) break;
      if (!group.empty() && bytes + p->bytes > options_.group_commit_bytes_max) break;
      if (!group.empty() && events + n > options_.group_commit_events_max) break;
      group.push_back(p);
      bytes += p->bytes;
      events += n;
    }
    lock.unlock();
    {
      std::lock_guard commit(commit_mu_);
      CommitGroup(group);
    }
    lock.lock();
    for (size_t i = 0; i < group.size(); i++) queue_.pop_front();
    RDB_CHECK(!group.front()->deferred);  // the first request of a group depends on no other
    finished.clear();
    for (auto it = group.rbegin(); it != group.rend(); ++it) {
      PendingWrite* p = *it;
      if (p->deferred) {
        p->deferred = false;
        queue_.push_front(p);  // keeps its place ahead of later arrivals
        continue;
      }
      p->done = true;
      if (p->on_done) {
        finished.push_back(p);
      } else {
        p->cv.notify_one();  // the leader's own entry included: harmless
      }
    }
    if (!finished.empty()) {
      // Still the leader while the callbacks run, so nobody else starts a group meanwhile.
      lock.unlock();
      for (auto it = finished.rbegin(); it != finished.rend(); ++it) {
        std::unique_ptr<PendingWrite> p(*it);
        p->on_done(std::move(*p->result));
      }
      lock.lock();
    }
    if (queue_.empty()) {
      leading_ = false;
      drained_cv_.notify_all();
      return;
    }
    if (queue_.front()->on_done) {
      if (keep_async) continue;  // the committer leads async writes
      leading_ = false;
      WakeCommitter();
      return;
    }
    leading_ = false;
    queue_.front()->cv.notify_one();
    return;
  }
}

Result<Engine::Impl::KeyView*> Engine::Impl::LookupKey(GroupState* g, const std::string& key) {
  auto it = g->keys.find(key);
  if (it != g->keys.end()) return &it->second;
  KeyView kv;
  if (auto pending = PendingLatest(key)) {
    kv.latest = *pending;
    return &g->keys.emplace(key, kv).first->second;
  }
  std::string value;
  Status s = index_->Get(index::LatestKey(key), &value);
  if (s.ok()) {
    if (!index::DecodeLatest(value, &kv.latest)) {
      return Status::Corruption("index: undecodable latest entry for a key");
    }
  } else if (!s.IsNotFound()) {
    return s;
  }
  return &g->keys.emplace(key, kv).first->second;
}

Result<std::optional<index::IdempotencyEntry>> Engine::Impl::LookupId(GroupState* g,
                                                                      const std::string& key,
                                                                      const std::string& id) {
  std::string ikey = index::IdempotencyKey(key, id);
  auto it = g->ids.find(ikey);
  if (it != g->ids.end()) return std::optional(it->second);
  if (auto pending = PendingId(ikey)) return pending;
  std::string value;
  Status s = index_->Get(ikey, &value);
  if (s.IsNotFound()) return std::optional<index::IdempotencyEntry>();
  RDB_RETURN_IF_ERROR(s);
  index::IdempotencyEntry e;
  if (!index::DecodeIdempotency(value, &e)) {
    return Status::Corruption("index: undecodable idempotency entry");
  }
  return std::optional(e);
}

Status Engine::Impl::PrepareWrite(GroupState* g, PendingWrite* w, uint64_t now_ms,
                                  std::vector<Prepared>* out) {
  Prepared p{w, {}, {}};
  LogRecord& rec = p.record;
  if (w->replicated != nullptr) {
    rec = *w->replicated;
    if (hook_ != nullptr) {
      return Status::FailedPrecondition(
          "this node is its group's leader 1: it does not take replicated records");
    }
    if (rec.epoch < last_epoch()) {
      return Status::FailedPrecondition("replicated record of epoch " + std::to_string(rec.epoch) +
                                        " is older than the log's last epoch " +
                                        std::to_string(last_epoch()));
    }
    RDB_ASSIGN_OR_RETURN(KeyView * kv, LookupKey(g, std::string(rec.key)));
    if (rec.first_version != kv->latest.version + 1 && kv->written_in_group) {
      w->deferred = true;
      return Status::OK();
    }
    if (rec.first_version != kv->latest.version + 1) {
      return Status::FailedPrecondition("replicated record has version " +
                                        std::to_string(rec.first_version) + " but the key is at " +
                                        std::to_string(kv->latest.version))
          .WithActualVersion(kv->latest.version);
    }
    // Above the log's end (not the local sequencer's reservation, which runs ahead of it after a
    // restart, and past records a truncation removed).
    const uint64_t end = std::max(log_->last_seq(), g->replicated_last);
    if (rec.first_seq <= end || rec.events.empty()) {
      return Status::FailedPrecondition("replicated record seq " + std::to_string(rec.first_seq) +
                                        " is not above the log's last seq " + std::to_string(end));
    }
    RDB_RETURN_IF_ERROR(sequencer_->Advance(rec.last_seq()));
    g->replicated_last = rec.last_seq();
    kv->latest = {rec.last_version(), rec.events.back().kind, {rec.last_seq(), {}, 0}};
    kv->written_in_group = true;
  } else {
    AppendRequest& r = *w->request;
    RDB_ASSIGN_OR_RETURN(KeyView * kv, LookupKey(g, r.key));
    if (!r.idempotency_id.empty()) {
      if (g->ids.count(index::IdempotencyKey(r.key, r.idempotency_id)) > 0) {
        w->deferred = true;  // the original is in this group and not written yet
        return Status::OK();
      }
      RDB_ASSIGN_OR_RETURN(auto prior, LookupId(g, r.key, r.idempotency_id));
      if (prior.has_value()) {
        w->result =
            AppendResult{prior->first_seq, prior->first_seq + prior->count - 1,
                         prior->first_version, prior->first_version + prior->count - 1, true};
        return Status::OK();
      }
    }
    const uint64_t actual = kv->latest.version;
    const ExpectedVersion& ev = r.expected;
    bool mismatch = (ev.kind == ExpectedVersion::Kind::kNoStream && actual != 0) ||
                    (ev.kind == ExpectedVersion::Kind::kExact && actual != ev.version);
    const bool not_found =
        w->delete_requires_present && (actual == 0 || kv->latest.kind == EventKind::kDelete);
    if ((mismatch || not_found) && kv->written_in_group) {
      w->deferred = true;  // decided against a write of this group that may still fail
      return Status::OK();
    }
    if (mismatch) {
      return Status::FailedPrecondition("expected version " + ExpectedName(ev) +
                                        "; actual version " + std::to_string(actual))
          .WithActualVersion(actual);
    }
    if (not_found) return Status::NotFound("key not found; nothing was deleted");
    uint64_t first_seq = 0;
    if (g->granted) {
      first_seq = g->next_seq;
      g->next_seq += r.events.size();
      rec.epoch = g->epoch;
      // Keeps the local floor (SEQUENCER) at the highest seq this node ever wrote.
      RDB_RETURN_IF_ERROR(sequencer_->Advance(first_seq + r.events.size() - 1));
    } else {
      RDB_ASSIGN_OR_RETURN(first_seq, sequencer_->Next(r.events.size()));
    }
    rec.first_seq = first_seq;
    rec.first_version = actual + 1;
    rec.timestamp_ms = now_ms;
    rec.key = r.key;
    rec.idempotency_id = r.idempotency_id;
    rec.events.reserve(r.events.size());
    bool has_value = actual != 0 && kv->latest.kind != EventKind::kDelete;
    for (const EventData& e : r.events) {
      rec.events.push_back(
          {e.kind, e.kind == EventKind::kPut && !has_value, e.event_type, e.payload});
      has_value = e.kind == EventKind::kPut;
    }
    kv->latest = {rec.last_version(), rec.events.back().kind, {rec.last_seq(), {}, 0}};
    kv->written_in_group = true;
    if (!r.idempotency_id.empty()) {
      g->ids[index::IdempotencyKey(r.key, r.idempotency_id)] = {rec.first_seq, rec.first_version,
                                                                rec.events.size()};
    }
  }
  EncodeRecordBody(rec, &p.body);
  out->push_back(std::move(p));
  return Status::OK();
}

void Engine::Impl::SetFatal(const Status& s) {
  spdlog::error("engine: {}; appends are refused until restart", s.ToString());
  std::lock_guard lock(mu_);
  if (fatal_.ok()) fatal_ = s;
}

void Engine::Impl::CommitGroup(std::vector<PendingWrite*>& group) {
  {
    std::lock_guard lock(mu_);
    if (!fatal_.ok()) {
      for (PendingWrite* w : group) w->result = fatal_;
      return;
    }
  }
  GroupState g;
  if (options_.cluster) GrantSeqs(hook_, group, &g);
  // Tells the hook how a granted group ended, on every path out of here (docs/cdc.md, "merged
  // feed": its committed watermark depends on knowing that no granted group is in flight).
  CommitHook::GroupOutcome outcome = CommitHook::GroupOutcome::kUnused;
  uint64_t committed_last = 0;
  struct Settle {
    CommitHook* hook;
    const CommitHook::GroupOutcome& outcome;
    const uint64_t& last;
    ~Settle() {
      if (hook != nullptr) hook->GroupDone(outcome, last);
    }
  } settle{g.granted ? hook_ : nullptr, outcome, committed_last};
  const uint64_t now_ms = options_.clock->NowMillis();
  std::vector<Prepared> prepared;
  prepared.reserve(group.size());
  for (PendingWrite* w : group) {
    if (w->result.has_value()) continue;  // decided by GrantSeqs
    Status s = PrepareWrite(&g, w, now_ms, &prepared);
    if (!s.ok()) w->result = s;
  }
  // Nothing of this group may be acknowledged before its writes are durable; deferred requests are
  // decided again by the next group, against what this one really wrote.
  if (prepared.empty()) return;
  const uint64_t prev_last_seq = log_->last_seq();
  if (Status es = NoteEpochs(prepared, prev_last_seq); !es.ok()) {
    for (Prepared& p : prepared) p.w->result = es.Annotate("epoch history not written");
    return;
  }

  std::vector<std::string> bodies;
  std::vector<uint64_t> firsts, lasts;
  bodies.reserve(prepared.size());
  for (Prepared& p : prepared) {
    bodies.push_back(std::move(p.body));
    firsts.push_back(p.record.first_seq);
    lasts.push_back(p.record.last_seq());
  }
  std::vector<LogPosition> positions;
  Status s = log_->Append(bodies, firsts, lasts, &positions);
  if (!s.ok()) {
    // Nothing of the group is in the log; the engine stays usable (e.g. once disk space returns).
    for (Prepared& p : prepared) p.w->result = s.Annotate("append not written");
    return;
  }
  s = log_->SyncForCommit();
  if (!s.ok()) {
    outcome = CommitHook::GroupOutcome::kInDoubt;
    SetFatal(s.Annotate("event log sync failed"));
    for (Prepared& p : prepared) {
      p.w->result = Status::IoError("event log sync failed (" + s.message() +
                                    "); the append may or may not survive a restart");
    }
    return;
  }
  if (g.granted) {
    // Committed only once enough members hold the group: until then nothing of it is indexed or
    // visible to readers.
    Status rs = hook_->Replicate(prev_last_seq, bodies, lasts.back());
    if (!rs.ok()) {
      outcome = CommitHook::GroupOutcome::kInDoubt;
      Unwrite(prepared, prev_last_seq, rs);
      return;
    }
  }
  // Hand the index work to the indexer; the pending maps cover it until it is applied.
  std::vector<IndexOp> ops;
  ops.reserve(prepared.size());
  for (size_t i = 0; i < prepared.size(); i++) {
    ops.push_back(IndexOp::From(prepared[i].record, positions[i]));
  }
  {
    std::lock_guard lock(pending_mu_);
    for (const IndexOp& op : ops) {
      pending_latest_[op.key] = {
          op.last_version(), op.last_kind, {op.last_seq(), op.position, op.count - 1}};
      if (!op.idempotency_id.empty()) {
        pending_ids_[index::IdempotencyKey(op.key, op.idempotency_id)] = {
            op.first_seq, op.first_version, op.count};
      }
    }
  }
  EnqueueIndexOps(std::move(ops));
  const uint64_t last = lasts.back();
  log_->Publish(last);
  {
    std::lock_guard lock(seq_mu_);
    committed_seq_ = last;
  }
  seq_cv_.notify_all();
  outcome = CommitHook::GroupOutcome::kCommitted;
  committed_last = last;

  uint64_t events = 0, bytes = 0;
  for (Prepared& p : prepared) {
    const LogRecord& r = p.record;
    if (!p.w->result.has_value()) {
      p.w->result =
          AppendResult{r.first_seq, r.last_seq(), r.first_version, r.last_version(), false};
    }
    events += r.events.size();
  }
  for (const std::string& b : bodies) bytes += b.size();
  std::lock_guard lock(stats_mu_);
  stats_.appends += prepared.size();
  stats_.events_appended += events;
  stats_.bytes_appended += bytes;
  stats_.group_commits++;
}

void Engine::Impl::GrantSeqs(CommitHook* hook, std::vector<PendingWrite*>& group, GroupState* g) {
  uint64_t demand = 0;
  for (PendingWrite* w : group)
    if (w->request != nullptr) demand += w->request->events.size();
  if (demand == 0) return;
  Status refused;
  if (hook == nullptr) {
    refused = Status::Unavailable("this node is not its group's leader 1; retry on the leader");
  } else {
    auto grant = hook->TakeSeqs(static_cast<uint32_t>(demand));
    if (grant.ok()) {
      g->granted = true;
      g->next_seq = grant->first_seq;
      g->epoch = grant->epoch;
      return;
    }
    refused = grant.status().Annotate("no seqs for the append");
  }
  for (PendingWrite* w : group)
    if (w->request != nullptr) w->result = refused;
}

Status Engine::Impl::NoteEpochs(const std::vector<Prepared>& prepared, uint64_t prev_last_seq) {
  std::lock_guard lock(epochs_mu_);
  uint64_t before = prev_last_seq;
  for (const Prepared& p : prepared) {
    const LogRecord& r = p.record;
    if (r.epoch > epochs_->last_epoch()) {
      RDB_RETURN_IF_ERROR(epochs_->Begin(r.epoch, r.first_seq, before));
    }
    before = r.last_seq();
  }
  return Status::OK();
}

void Engine::Impl::Unwrite(std::vector<Prepared>& prepared, uint64_t prev_last_seq,
                           const Status& why) {
  Status cut = log_->TruncateAfter(prev_last_seq);
  if (cut.ok()) {
    std::lock_guard lock(epochs_mu_);
    cut = epochs_->TruncateAfter(prev_last_seq);
  }
  if (!cut.ok()) SetFatal(cut.Annotate("cannot cut an unreplicated group from the log"));
  for (Prepared& p : prepared) {
    p.w->result = Status(why.code(), "the append was not committed (" + why.message() +
                                         "); it may still appear if a member holds it");
  }
}

void Engine::Impl::SetCommitHook(CommitHook* hook) {
  std::lock_guard commit(commit_mu_);
  hook_ = hook;
}

uint64_t Engine::Impl::last_epoch() const {
  std::lock_guard lock(epochs_mu_);
  return epochs_ ? epochs_->last_epoch() : 0;
}

uint64_t Engine::Impl::EpochEndSeq(uint64_t epoch) const {
  std::lock_guard lock(epochs_mu_);
  return epochs_ ? epochs_->EndOf(epoch, log_->last_seq()) : log_->last_seq();
}

Status Engine::Impl::TruncateAfter(uint64_t seq) {
  std::lock_guard commit(commit_mu_);
  if (seq < index_->flushed_seq()) {
    return Status::FailedPrecondition(
        "cannot truncate after seq " + std::to_string(seq) + ": the index is flushed up to seq " +
        std::to_string(index_->flushed_seq()) + " (only uncommitted suffixes can be truncated)");
  }
  WaitIndexerIdle();
  RDB_RETURN_IF_ERROR(log_->TruncateAfter(seq));
  {
    std::lock_guard lock(epochs_mu_);
    RDB_RETURN_IF_ERROR(epochs_->TruncateAfter(seq));
  }
  RDB_RETURN_IF_ERROR(index_->DropUnflushed());
  if (index_->flushed_seq() > seq) {
    // A flush finished between the check above and DropUnflushed: the index now holds entries for
    // records the log no longer has. Refuse writes; a restart cannot fix this silently either, so
    // say so plainly.
    Status s = Status::FailedPrecondition(
        "truncation raced with an index flush past seq " + std::to_string(seq) +
        "; the index must be rebuilt from the log (move the index/ directory aside and restart)");
    SetFatal(s);
    return s;
  }
  {
    std::lock_guard lock(pending_mu_);
    pending_latest_.clear();
    pending_ids_.clear();
  }
  return Recover();
}

Status Engine::Impl::Close() {
  {
    std::unique_lock lock(mu_);
    if (closed_) return Status::OK();
    closed_ = true;
    // Queued appends are finished, not dropped: wait for the queue to drain.
    drained_cv_.wait(lock, [&] { return queue_.empty(); });
  }
  StopCommitter();
  std::lock_guard commit(commit_mu_);
  StopIndexer();  // applies what is queued, then stops
  Status s = log_ ? log_->Close() : Status::OK();
  if (index_) {
    Status is = index_->Close();
    if (s.ok()) s = is;
  }
  seq_cv_.notify_all();
  lock_.reset();
  return s;
}

}  // namespace rdb
