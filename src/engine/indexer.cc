// The indexer: applies committed log records to the LSM index on its own thread.
//
// The commit leader makes a group durable in the log, hands the group's index work to the indexer
// and acknowledges at once, so index maintenance runs beside the next group commit instead of in
// front of it. Correctness rests on three rules:
//   - the leader decides versions and idempotency from the index *plus* the pending maps, which
//     hold every committed-but-not-yet-indexed key state; the indexer erases a pending entry only
//     after the index has it, so a lookup that misses the pending map finds the index up to date;
//   - readers first wait until the index covers the committed seq they observed (WaitIndexed), so a
//     read sees every append acknowledged before it began;
//   - the log stays the truth: after a crash, recovery replays the log after the index's flushed
//     seq, whatever the indexer had or had not done.
#include <algorithm>
#include <chrono>
#include <thread>

#include "engine/engine_impl.h"
#include "spdlog/spdlog.h"

namespace rdb {
namespace {

// The indexer wakes for this many queued records, for a reader waiting on it, or every tick.
constexpr size_t kIndexBatchMin = 128;
constexpr std::chrono::milliseconds kIndexTick{1};

}  // namespace

IndexOp IndexOp::From(const LogRecord& r, LogPosition pos) {
  IndexOp op;
  op.key.assign(r.key);
  op.first_seq = r.first_seq;
  op.first_version = r.first_version;
  op.count = static_cast<uint32_t>(r.events.size());
  op.last_kind = r.events.back().kind;
  op.position = pos;
  op.idempotency_id.assign(r.idempotency_id);
  return op;
}

Status Engine::Impl::ApplyToIndex(const IndexOp& op) {
  for (uint32_t i = 0; i < op.count; i++) {
    index::Pointer p{op.first_seq + i, op.position, i};
    RDB_RETURN_IF_ERROR(index_->Put(index::StreamKey(op.key, op.first_version + i),
                                    index::EncodePointer(p), p.seq));
  }
  index::Latest latest{op.last_version(), op.last_kind, {op.last_seq(), op.position, op.count - 1}};
  RDB_RETURN_IF_ERROR(
      index_->Put(index::LatestKey(op.key), index::EncodeLatest(latest), op.last_seq()));
  if (!op.idempotency_id.empty()) {
    index::IdempotencyEntry e{op.first_seq, op.first_version, op.count};
    RDB_RETURN_IF_ERROR(index_->Put(index::IdempotencyKey(op.key, op.idempotency_id),
                                    index::EncodeIdempotency(e), op.last_seq()));
  }
  return Status::OK();
}

void Engine::Impl::StartIndexer() {
  {
    std::lock_guard lock(index_mu_);
    indexed_seq_ = log_->last_seq();
    index_stop_ = false;
  }
  indexer_ = std::thread([this] { IndexerLoop(); });
}

void Engine::Impl::StopIndexer() {
  if (!indexer_.joinable()) return;
  {
    std::lock_guard lock(index_mu_);
    index_stop_ = true;
    index_cv_.notify_all();
  }
  indexer_.join();
}

void Engine::Impl::IndexerLoop() {
  std::vector<IndexOp> batch;
  for (;;) {
    {
      std::unique_lock lock(index_mu_);
      // Sleep until a batch is worth a wake-up, someone waits for the index, or the tick passes:
      // waking per append would cost more than the index work itself.
      for (;;) {
        if (index_stop_) break;
        bool urgent = indexed_waiters_ > 0 || space_waiters_ > 0;
        if (!index_queue_.empty() && (urgent || index_queue_.size() >= kIndexBatchMin)) break;
        indexer_sleeping_ = true;
        auto woke = index_cv_.wait_for(lock, kIndexTick);
        indexer_sleeping_ = false;
        if (woke == std::cv_status::timeout && !index_queue_.empty()) break;
      }
      if (index_queue_.empty()) return;  // stopping, and everything is applied
      // Take what is there (bounded), so one wake-up applies many records.
      size_t n = std::min<size_t>(index_queue_.size(), 4096);
      batch.clear();
      for (size_t i = 0; i < n; i++) {
        batch.push_back(std::move(index_queue_.front()));
        index_queue_.pop_front();
      }
      indexing_ = true;
      if (space_waiters_ > 0) index_cv_.notify_all();  // queue space for a waiting leader
    }
    Status s;
    for (const IndexOp& op : batch) {
      s = ApplyWithRetry(op);
      if (!s.ok()) break;
    }
    if (s.ok()) {
      std::lock_guard lock(pending_mu_);
      for (const IndexOp& op : batch) {
        auto it = pending_latest_.find(op.key);
        if (it != pending_latest_.end() && it->second.ptr.seq == op.last_seq()) {
          pending_latest_.erase(it);
        }
        if (!op.idempotency_id.empty()) {
          auto id = pending_ids_.find(index::IdempotencyKey(op.key, op.idempotency_id));
          if (id != pending_ids_.end() && id->second.first_seq == op.first_seq) {
            pending_ids_.erase(id);
          }
        }
      }
    }
    {
      std::lock_guard lock(index_mu_);
      indexing_ = false;
      if (s.ok()) {
        indexed_seq_ = batch.back().last_seq();
      } else if (index_error_.ok()) {
        index_error_ = s.Annotate("index update failed");
      }
      if (indexed_waiters_ > 0) indexed_cv_.notify_all();
      if (!s.ok() && space_waiters_ > 0) index_cv_.notify_all();
    }
    if (!s.ok()) {
      SetFatal(
          s.Annotate("index update failed (the log has every acknowledged append; a restart "
                     "rebuilds the index from it)"));
      return;  // applying later records over a hole would make the index lie
    }
  }
}

// A write stall that outlasts the tree's limit (e.g. flushes failing on a full disk) is temporary:
// keep the op and retry, so the engine recovers once space returns. The commit leader feels it as
// back-pressure through the bounded queue. Re-applying an op is idempotent.
Status Engine::Impl::ApplyWithRetry(const IndexOp& op) {
  uint64_t backoff_ms = 10;
  for (;;) {
    Status s = ApplyToIndex(op);
    if (s.code() != Code::kResourceExhausted) return s;
    {
      std::lock_guard lock(index_mu_);
      if (index_stop_) return s;
    }
    spdlog::warn("index update stalled ({}); retrying in {} ms", s.message(), backoff_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    backoff_ms = std::min<uint64_t>(backoff_ms * 2, 1000);
  }
}

void Engine::Impl::EnqueueIndexOps(std::vector<IndexOp> ops) {
  std::unique_lock lock(index_mu_);
  while (index_queue_.size() >= options_.index_queue_max && index_error_.ok()) {
    space_waiters_++;
    index_cv_.wait(lock);
    space_waiters_--;
  }
  for (IndexOp& op : ops) index_queue_.push_back(std::move(op));
  if (indexer_sleeping_ && index_queue_.size() >= kIndexBatchMin) index_cv_.notify_all();
}

Status Engine::Impl::WaitIndexed(uint64_t seq) {
  std::unique_lock lock(index_mu_);
  while (indexed_seq_ < seq && index_error_.ok()) {
    indexed_waiters_++;
    if (indexer_sleeping_) index_cv_.notify_all();
    indexed_cv_.wait(lock);
    indexed_waiters_--;
  }
  return index_error_;
}

void Engine::Impl::WaitIndexerIdle() {
  std::unique_lock lock(index_mu_);
  // Waits for a running batch even after an error, so nobody touches the tree beside it.
  while (indexing_ || (!index_queue_.empty() && index_error_.ok())) {
    indexed_waiters_++;
    if (indexer_sleeping_) index_cv_.notify_all();
    indexed_cv_.wait(lock);
    indexed_waiters_--;
  }
}

std::optional<index::Latest> Engine::Impl::PendingLatest(const std::string& key) {
  std::lock_guard lock(pending_mu_);
  auto it = pending_latest_.find(key);
  if (it == pending_latest_.end()) return std::nullopt;
  return it->second;
}

std::optional<index::IdempotencyEntry> Engine::Impl::PendingId(const std::string& ikey) {
  std::lock_guard lock(pending_mu_);
  auto it = pending_ids_.find(ikey);
  if (it == pending_ids_.end()) return std::nullopt;
  return it->second;
}

}  // namespace rdb
