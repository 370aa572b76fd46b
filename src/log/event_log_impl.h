// EventLog's implementation, shared by event_log.cc (writer), recovery.cc (Open) and
// log_reader.cc (readers). Private to src/log/.
//
// Locks, in the order they are taken:
//   writer_mu_   the writer's state: Append, Sync, TruncateAfter, Close, the interval syncer.
//   cut_mu_      readers hold it shared while they read; TruncateAfter holds it exclusively, so a
//                reader never reads bytes that are being cut and rewritten.
//   segments_mu_ the list of segments.
//   Segment::mu  one segment's sparse index.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "log/event_log.h"
#include "log/log_mutex.h"
#include "log/segment.h"

namespace rdb {

class EventLog::Impl {
 public:
  using Segment = log_internal::Segment;
  using Mutex = log_internal::Mutex;
  class Reader;  // log_reader.cc

  Impl(const LogOptions& options, std::string dir) : options_(options), dir_(std::move(dir)) {}
  ~Impl();

  // recovery.cc
  Status Recover(LogRecoveryInfo* info);

  // event_log.cc
  Status Append(std::span<const std::string> bodies, std::span<const uint64_t> first_seqs,
                std::span<const uint64_t> last_seqs, std::vector<LogPosition>* positions);
  Status Sync();
  Status SyncForCommit();
  void Publish(uint64_t last_seq);
  Status TruncateAfter(uint64_t seq);
  Stats stats() const;
  Status Close();
  void StartSyncer();

  // log_reader.cc
  Status ReadAt(LogPosition pos, ReadRecord* out) const;
  Result<std::unique_ptr<LogReader>> NewReader(uint64_t from_seq) const;

  // Segment look-ups for readers (a copy of the pointer, so the segment outlives removal).
  std::shared_ptr<Segment> SegmentByNumber(uint64_t number) const;
  // The segment that holds seq: the last one whose base seq is <= seq, else the first one.
  std::shared_ptr<Segment> SegmentForSeq(uint64_t seq) const;
  std::shared_ptr<Segment> SegmentAfter(uint64_t number) const;

  std::string SegmentPath(uint64_t number) const;

  const LogOptions options_;
  const std::string dir_;

  mutable log_internal::SharedMutex cut_mu_;
  // Bumped by TruncateAfter (under cut_mu_): a reader that sees a new value re-seeks.
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> published_seq_{0};
  std::atomic<uint64_t> last_seq_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> syncs_{0};

 private:
  struct Cut {
    uint64_t offset = 0;    // where the first record with first_seq > seq starts (or the end)
    uint64_t last_seq = 0;  // last seq of the record before the cut
  };

  Status CheckWritable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  Status ValidateAppend(std::span<const std::string> bodies, std::span<const uint64_t> first_seqs,
                        std::span<const uint64_t> last_seqs) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  Status WriteActive() ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  Status WriteNewSegment(uint64_t base_seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  // Writes write_buf_ at offset `at` of file, whose physical size is *file_end, zero-filling ahead
  // first (Preallocate); updates *file_end. On error the caller undoes the write.
  Status WriteFrames(WritableFile* file, uint64_t* file_end, uint64_t at) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  // Zero-fills file from *file_end so that [.., write_end) lies in written space, plus
  // preallocate_bytes, capped at segment_bytes_max; no-op if already so or if write_end is past
  // the cap.
  Status Preallocate(WritableFile* file, uint64_t* file_end, uint64_t write_end) const;
  // Cuts the active segment's zero tail off and syncs it: a sealed segment ends at its last record.
  Status SealActive() ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  Status RollBackActive(uint64_t size) ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  void IndexAppended(std::span<const uint64_t> first_seqs, std::span<const LogPosition> positions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  Status SyncLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  Status Fail(const Status& cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  Result<Cut> FindCut(Segment* seg, uint64_t seq) const;
  Status RemoveSegmentsAfter(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  Status CutActive(const Cut& cut) ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);
  void StopSyncer();
  void SyncerLoop();

  // recovery.cc
  Result<std::vector<uint64_t>> ListSegmentNumbers() const;
  Result<std::shared_ptr<Segment>> LoadSegment(uint64_t number) const;
  Status LoadAll(const std::vector<uint64_t>& numbers, LogRecoveryInfo* info,
                 std::vector<std::shared_ptr<Segment>>* out);
  Result<uint64_t> ScanLastSegment(Segment* seg, LogRecoveryInfo* info);
  Status CheckScanned(const Segment& seg, const log_internal::FrameReader& frames,
                      uint64_t prev_last_seq, LogRecord* rec) const;
  Result<bool> IsTornHeader(uint64_t number) const;
  Status DropLastSegment(const std::string& path, LogRecoveryInfo* info);
  // Cuts a zero-filled tail off a sealed segment (left only if a crash hit a rotation in a way the
  // writer's ordering should prevent), durably; anything else is left for readers to report.
  Status TrimSealedZeroTail(Segment* seg) const;
  Status OpenWriter() ABSL_EXCLUSIVE_LOCKS_REQUIRED(writer_mu_);

  mutable Mutex segments_mu_ ABSL_ACQUIRED_AFTER(cut_mu_);
  std::vector<std::shared_ptr<Segment>> segments_ ABSL_GUARDED_BY(segments_mu_);

  Mutex writer_mu_ ABSL_ACQUIRED_BEFORE(cut_mu_);
  std::shared_ptr<Segment> active_ ABSL_GUARDED_BY(writer_mu_);       // null: no segment yet
  std::unique_ptr<WritableFile> writer_ ABSL_GUARDED_BY(writer_mu_);  // writes active_
  // The active segment file's physical size: its logical size plus the zero-filled tail.
  uint64_t file_end_ ABSL_GUARDED_BY(writer_mu_) = 0;
  std::string write_buf_ ABSL_GUARDED_BY(writer_mu_);  // reused: one write per Append
  uint64_t next_segment_number_ ABSL_GUARDED_BY(writer_mu_) = 1;
  bool unsynced_ ABSL_GUARDED_BY(writer_mu_) = false;
  bool dir_sync_pending_ ABSL_GUARDED_BY(writer_mu_) = false;
  bool closed_ ABSL_GUARDED_BY(writer_mu_) = false;
  Status failed_ ABSL_GUARDED_BY(writer_mu_);  // set once a write error left the file unknown

  // The interval syncer (std types: it waits on a condition variable).
  std::mutex syncer_mu_;
  std::condition_variable syncer_cv_;
  bool syncer_stop_ = false;  // guarded by syncer_mu_
  std::thread syncer_;
};

}  // namespace rdb
