// EventLog: the write-ahead log that is also the event log. Append-only segment files of
// checksummed records in seq order, never rewritten (docs/formats/log.md).
//
// Files: <dir>/<segment number, 16 digits>.log. A segment starts with a header (magic, format
// version, segment number, base seq). A new segment starts when the current one would pass
// segment_bytes_max.
//
// Preallocation: the active segment is zero-filled ahead of its logical end (preallocate_bytes at a
// time) and records are written into that space with positional writes, so the fdatasync of a
// commit need not journal a size change. A zero frame header marks the end of data; a segment is
// cut to its last whole record (and synced) when it is sealed. Format: docs/formats/log.md.
//
// Thread-safety: Append, Sync and TruncateAfter are called by one writer thread at a time (the
// engine's commit leader). Readers (ReadAt, NewReader) may run concurrently with the writer from
// any thread; they see records up to the published end (Publish), never a half-written record.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "io/env.h"
#include "log/record.h"

namespace rdb {

enum class FsyncPolicy : uint8_t { kAlways, kInterval, kNever };

struct LogOptions {
  Env* env = Env::Posix();
  Clock* clock = Clock::Real();
  uint64_t segment_bytes_max = 64ull << 20;
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  uint32_t fsync_interval_ms = 10;  // for kInterval: a background thread syncs this often
  // Zero-fill the active segment this far ahead of its logical end when a write would pass the
  // zero-filled region (never past segment_bytes_max); 0 disables. At most kPreallocateBytesMax.
  uint64_t preallocate_bytes = 4ull << 20;
};

constexpr uint64_t kPreallocateBytesMax = 256ull << 20;

// Where a record's frame starts.
struct LogPosition {
  uint64_t segment = 0;
  uint64_t offset = 0;
  bool operator==(const LogPosition&) const = default;
  auto operator<=>(const LogPosition&) const = default;
};

// What Open found, for logging and for the engine's recovery.
struct LogRecoveryInfo {
  uint64_t segments = 0;
  uint64_t last_seq = 0;              // 0 if the log is empty
  uint64_t truncated_tail_bytes = 0;  // torn tail bytes cut off at open (0 if clean)
  std::string truncated_tail_file;    // path of the repaired (or removed) segment; empty if clean
};

// A record read back from the log with the bytes it views into. Moving keeps `record`'s views
// valid (the buffer always lives on the heap); a copy's views would still point into the source.
// Reuse one ReadRecord across calls to avoid allocations.
struct ReadRecord {
  LogPosition position;
  std::string buffer;  // owns the bytes `record` views
  LogRecord record;
};

// Sequential reader from a seq. Not thread-safe; many readers may exist at once. A reader must not
// outlive its EventLog. It reads segments in large chunks and follows rotation; after TruncateAfter
// it re-seeks to the seq it would deliver next.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // Reads the next record at or after the start seq, up to the published end. Returns false (and OK
  // status) at the published end; a later call may return more once more is published. Corruption
  // is returned as an error naming the file and offset.
  virtual Result<bool> Next(ReadRecord* out) = 0;
};

class EventLog {
 public:
  // Opens (creating if missing) the log in dir. Verifies every segment header (an unknown format
  // version fails with kNotSupported naming the file), scans the last segment, truncates a torn
  // tail (logged in info) and fails with kCorruption naming file and offset if a bad record is
  // followed by good ones (mid-log corruption is never skipped). A last segment whose header is
  // torn, or that holds no whole record, is removed (also reported in info). Repairs are durable on
  // return. Everything recovered counts as published: published_seq() == last_seq(). info may be
  // null.
  static Result<std::unique_ptr<EventLog>> Open(const LogOptions& options, const std::string& dir,
                                                LogRecoveryInfo* info);
  ~EventLog();

  // Frames the record bodies (EncodeRecordBody output) and appends them in one write. Record i
  // holds seqs first_seqs[i]..last_seqs[i], strictly above last_seq() and above record i-1; its
  // body must encode first_seqs[i] (else kInvalidArgument). Fills positions on success. Does not
  // sync. The whole call goes to one segment: a new one is started first if the call would take
  // the current one past segment_bytes_max. On error (e.g. ENOSPC) nothing of this call remains in
  // the file and the log stays usable; only if undoing a failed write fails too does the log turn
  // read-only (kAborted) until reopened. If zero-filling ahead fails with ENOSPC, the records are
  // written without preallocation (growing the file), so ENOSPC comes no earlier than without it.
  Status Append(std::span<const std::string> bodies, std::span<const uint64_t> first_seqs,
                std::span<const uint64_t> last_seqs, std::vector<LogPosition>* positions);

  // Makes everything appended so far durable (fdatasync; plus the directory after a new segment).
  // No-op if nothing was appended since the last sync. If fdatasync fails its error is returned and
  // the log turns read-only (Append/TruncateAfter/Sync return kAborted) until reopened: the kernel
  // may have dropped the dirty pages, so only a fresh Open can tell what is on disk.
  Status Sync();
  // Syncs when the policy is kAlways; no-op otherwise (kInterval's thread does it).
  Status SyncForCommit();

  // Makes records up to and including last_seq visible to readers (never moves backwards). A
  // record is visible once its last seq is published. Precondition: last_seq <= last_seq().
  void Publish(uint64_t last_seq);
  uint64_t published_seq() const;
  uint64_t last_seq() const;   // highest seq appended (published or not)
  uint64_t first_seq() const;  // lowest seq still in the log; 0 if empty

  // Random read of the record whose frame starts at pos (as Append returned it); verifies its
  // checksum. Sees every appended record, published or not. kNotFound past the end (e.g. a
  // position TruncateAfter removed); kCorruption names file and offset.
  Status ReadAt(LogPosition pos, ReadRecord* out) const;
  // A reader that starts at the first record containing a seq >= from_seq.
  Result<std::unique_ptr<LogReader>> NewReader(uint64_t from_seq) const;

  // Removes every record whose first seq is > seq (replication: an uncommitted suffix), deleting
  // whole segments and truncating the one that contains the cut (physically: its zero-filled tail
  // goes too and is filled again by later appends). Durable on return. A record that
  // straddles the cut (first_seq <= seq < last_seq) is kept whole: records are atomic. Afterwards
  // last_seq() is the last remaining record's last seq (0 if none remain), published_seq() is
  // lowered to it if above, and the next Append continues above it. Positions of removed records
  // are invalid (their segment number may be reused).
  Status TruncateAfter(uint64_t seq);

  struct Stats {
    uint64_t bytes_written = 0;
    uint64_t syncs = 0;
    uint64_t segments = 0;
  };
  Stats stats() const;

  // Stops the interval syncer and syncs. Further appends fail with kUnavailable; reads still work.
  // The active segment keeps its zero-filled tail (the next Open continues at the logical end).
  // Idempotent; the destructor calls it.
  Status Close();

  // Segment file name for a segment number: "%016llu.log".
  static std::string SegmentFileName(uint64_t segment);

 private:
  class Impl;
  explicit EventLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Frames a record body for appending: [masked crc32c (4)][body length (4)][body]. The crc covers
// the length field and the body.
void FrameRecord(std::string_view body, std::string* dst);

}  // namespace rdb
