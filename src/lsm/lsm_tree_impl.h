// LsmTreeImpl: the LsmTree behind LsmTree::Open. Write and read paths are in lsm_tree.cc, the
// flush and compaction threads in lsm_tree_background.cc.
//
// Locking: write_mu_ serialises writers (Put/Delete/Flush/DropUnflushed); mu_ guards the shared
// state (memtables, published Version, background status). Lock order: write_mu_, then mu_. Readers
// take mu_ only to copy the current View (three shared_ptrs), so they never wait on I/O. The
// VersionSet has its own mutex, never taken while holding mu_ across I/O.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "io/env.h"
#include "lsm/compaction.h"
#include "lsm/lsm_tree.h"
#include "lsm/memtable.h"
#include "lsm/mutex.h"
#include "lsm/table_cache.h"
#include "lsm/version_set.h"

namespace rdb::lsm {

class LsmTreeImpl final : public LsmTree {
 public:
  LsmTreeImpl(const LsmOptions& options, std::string dir);
  ~LsmTreeImpl() override;

  // Recovers (or creates) the tree and starts the background threads.
  Status Init();

  Status Put(std::string_view key, std::string_view value, uint64_t seq) override;
  Status Delete(std::string_view key, uint64_t seq) override;
  Status Get(std::string_view key, std::string* value) override;
  std::unique_ptr<LsmIterator> NewIterator() override;
  uint64_t flushed_seq() const override;
  void SetFlushLimit(uint64_t limit) override;
  Status DropUnflushed() override;
  Status Flush() override;
  Status CompactAll() override;
  Status background_error() const override;
  Stats stats() const override;
  Status Close() override;

 private:
  // What a reader needs, captured atomically.
  struct View {
    std::shared_ptr<MemTable> mem;
    std::shared_ptr<MemTable> imm;  // may be null
    std::shared_ptr<const Version> version;
  };
  // One background job kind's retry state.
  struct Retry {
    Status last_status;        // of the latest finished attempt
    uint64_t started = 0;      // attempts started so far; the running one's id
    uint64_t last_failed = 0;  // id of the latest failed attempt (0: none)
    uint32_t backoff_ms = 0;   // 0: not backing off
    SteadyTime retry_at = SteadyTime::min();
  };

  Status Write(ValueType type, std::string_view key, std::string_view value, uint64_t seq);
  Status MakeRoom(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Waits until no immutable memtable is left; fails if a flush attempt started after attempt
  // `since` fails, or if the flush limit holds the memtable back.
  Status WaitForImmutable(uint64_t since) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const View> GetView() const ABSL_LOCKS_EXCLUDED(mu_);
  void PublishView() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<MemTable> NewMemTable() const;
  bool NeedsCompaction() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status CheckOpenTables(const Version& v);

  // Background (lsm_tree_background.cc).
  void FlushThread();
  void CompactionThread();
  // Writes imm to an L0 table and installs it. *retryable is set for errors worth retrying.
  Status DoFlush(const std::shared_ptr<MemTable>& imm, bool* retryable) ABSL_LOCKS_EXCLUDED(mu_);
  Status DoCompaction(const std::shared_ptr<const Version>& base) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the outcome of an attempt; schedules a retry or marks a permanent failure.
  void Finish(Retry* retry, const Status& s, bool retryable) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LsmOptions options_;
  const std::string dir_;
  Env* const env_;
  std::unique_ptr<FileLock> lock_;
  std::shared_ptr<BlockCache> block_cache_;
  std::shared_ptr<TableCache> table_cache_;
  std::unique_ptr<VersionSet> versions_;
  JobContext job_;
  CompactionCursors cursors_;  // compaction thread only
  std::atomic<bool> stop_flag_{false};
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_{false};    // bg_error_ is set
  std::atomic<uint64_t> last_seq_{0};  // highest internal sequence applied (snapshot for iterators)

  Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  MemTable* writer_mem_ ABSL_GUARDED_BY(write_mu_) = nullptr;  // == mem_

  mutable Mutex mu_;
  CondVar cv_;  // signalled on every state change
  std::shared_ptr<MemTable> mem_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<MemTable> imm_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Version> version_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const View> view_ ABSL_GUARDED_BY(mu_);
  uint64_t flush_limit_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool flushing_ ABSL_GUARDED_BY(mu_) = false;
  bool compacting_ ABSL_GUARDED_BY(mu_) = false;
  Status bg_error_ ABSL_GUARDED_BY(mu_);  // permanent
  Retry flush_retry_ ABSL_GUARDED_BY(mu_);
  Retry compact_retry_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);

  std::thread flush_thread_;
  std::thread compaction_thread_;
};

}  // namespace rdb::lsm
