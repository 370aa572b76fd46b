// The flush and compaction threads of LsmTreeImpl, and their error handling: a failed attempt is
// recorded and retried after an exponential backoff; corruption is permanent.
#include <algorithm>

#include "lsm/lsm_tree_impl.h"

namespace rdb::lsm {
namespace {

constexpr uint32_t kRetryMsMin = 10;

bool IsPermanent(const Status& s) {
  return s.code() == Code::kCorruption || s.code() == Code::kNotSupported ||
         s.code() == Code::kInvalidArgument;
}

}  // namespace

bool LsmTreeImpl::NeedsCompaction() const {
  int level;
  return CompactionScore(*version_, options_, &level) >= 1.0;
}

void LsmTreeImpl::Finish(Retry* retry, const Status& s, bool retryable) {
  retry->last_status = s;
  if (s.ok()) {
    retry->backoff_ms = 0;
    retry->retry_at = SteadyTime::min();
    return;
  }
  retry->last_failed = retry->started;
  stats_.background_errors++;
  stats_.last_background_error = s.ToString();
  if (!retryable && bg_error_.ok()) {
    bg_error_ = s;
    failed_.store(true);
    return;
  }
  retry->backoff_ms = retry->backoff_ms == 0
                          ? kRetryMsMin
                          : std::min(retry->backoff_ms * 2, options_.background_retry_ms_max);
  retry->retry_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(retry->backoff_ms);
}

void LsmTreeImpl::FlushThread() {
  MutexLock l(&mu_);
  while (true) {
    // Wait for a flushable memtable whose retry time (if any) has come.
    while (true) {
      if (stop_) return;
      bool ready = imm_ != nullptr && imm_->last_log_seq() <= flush_limit_ && bg_error_.ok();
      if (ready && std::chrono::steady_clock::now() >= flush_retry_.retry_at) break;
      if (ready) {
        cv_.WaitUntil(&mu_, flush_retry_.retry_at);
      } else {
        cv_.Wait(&mu_);
      }
    }
    std::shared_ptr<MemTable> imm = imm_;
    flushing_ = true;
    flush_retry_.started++;
    mu_.unlock();
    bool retryable = true;
    Status s = DoFlush(imm, &retryable);
    mu_.lock();
    flushing_ = false;
    if (s.ok()) {
      if (imm_ == imm) imm_.reset();
      version_ = versions_->current();
      PublishView();
    }
    Finish(&flush_retry_, s, retryable);
    cv_.SignalAll();
    mu_.unlock();
    versions_->DeleteObsoleteFiles(table_cache_.get(), false);
    mu_.lock();
  }
}

Status LsmTreeImpl::DoFlush(const std::shared_ptr<MemTable>& imm, bool* retryable) {
  const uint64_t max_seq = imm->last_log_seq();
  if (options_.before_flush) {
    Status s = options_.before_flush(max_seq);
    if (!s.ok()) {
      *retryable = true;  // the engine's durability step, whatever its code: retried
      return s.Annotate("before_flush(" + std::to_string(max_seq) + ")");
    }
  }
  VersionEdit edit;
  JobResult result;
  auto it = imm->NewIterator();
  Status s = RunFlush(job_, it.get(), &edit, &result);
  if (s.ok()) {
    // Every write with a log seq up to `complete` is now in a table. A seq that also has writes in
    // the newer memtable (Flush() sealed mid-seq) is not complete yet.
    uint64_t complete = max_seq;
    {
      MutexLock l(&mu_);
      if (!mem_->empty() && mem_->first_log_seq() <= complete) {
        complete = mem_->first_log_seq() == 0 ? 0 : mem_->first_log_seq() - 1;
      }
    }
    edit.flushed_seq = complete;
    edit.last_sequence = imm->last_seq();
    s = versions_->LogAndApply(&edit);
  }
  for (uint64_t n : result.file_numbers) versions_->ReleaseFileNumber(n);
  *retryable = !IsPermanent(s);
  if (s.ok()) {
    MutexLock l(&mu_);
    stats_.flushes++;
    stats_.bytes_flushed += result.bytes_written;
  }
  return s;
}

void LsmTreeImpl::CompactionThread() {
  MutexLock l(&mu_);
  while (true) {
    while (true) {
      if (stop_) return;
      bool ready = bg_error_.ok() && NeedsCompaction();
      if (ready && std::chrono::steady_clock::now() >= compact_retry_.retry_at) break;
      if (ready) {
        cv_.WaitUntil(&mu_, compact_retry_.retry_at);
      } else {
        cv_.Wait(&mu_);
      }
    }
    std::shared_ptr<const Version> base = version_;
    compacting_ = true;
    compact_retry_.started++;
    mu_.unlock();
    Status s = DoCompaction(base);
    mu_.lock();
    compacting_ = false;
    if (s.ok()) {
      version_ = versions_->current();
      PublishView();
    }
    if (s.code() == Code::kAborted && stop_) return;
    Finish(&compact_retry_, s, !IsPermanent(s));
    cv_.SignalAll();
    mu_.unlock();
    versions_->DeleteObsoleteFiles(table_cache_.get(), false);
    mu_.lock();
  }
}

Status LsmTreeImpl::DoCompaction(const std::shared_ptr<const Version>& base) {
  std::optional<CompactionPlan> plan = PickCompaction(*base, options_, &cursors_);
  if (!plan) return Status::OK();
  VersionEdit edit;
  JobResult result;
  Status s = RunCompaction(job_, *plan, *base, &edit, &result);
  if (s.ok()) s = versions_->LogAndApply(&edit);
  for (uint64_t n : result.file_numbers) versions_->ReleaseFileNumber(n);
  if (s.ok()) {
    MutexLock l(&mu_);
    stats_.compactions++;
    stats_.bytes_compacted += result.bytes_written;
  }
  return s;
}

Status LsmTreeImpl::CompactAll() {
  MutexLock l(&mu_);
  const uint64_t since = compact_retry_.started;  // as in Flush()
  while (true) {
    if (!bg_error_.ok()) return bg_error_;
    if (stop_) return Status::Unavailable("LSM tree is closing");
    if (compact_retry_.last_failed > since) return compact_retry_.last_status;
    if (!compacting_ && !NeedsCompaction()) return Status::OK();
    cv_.Wait(&mu_);
  }
}

}  // namespace rdb::lsm
