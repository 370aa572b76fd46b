// LsmTree: the index of the event database. A log-structured merge tree of byte-string keys and
// values: memtable -> immutable memtable -> SSTables in levels, with per-table bloom filters, a
// block index, optional zstd/lz4 block compression, background flush and compaction, a table cache
// and a manifest that records the live set of tables atomically (docs/formats/sstable.md,
// docs/formats/manifest.md, docs/design/compaction.md).
//
// The tree has no write-ahead log of its own: the event log is its WAL. Every write carries the
// seq of the log record it derives from, and the manifest records `flushed_seq`, the highest seq
// whose writes are all in SSTables. After a crash the engine replays the log after flushed_seq.
//
// Flush discipline (what makes that safe):
//   - before an SST covering seqs up to S is installed, options.before_flush(S) is called; the
//     engine makes the log durable up to S there, so the index never refers to log bytes that a
//     crash could take away;
//   - a memtable is only flushed once its highest seq is <= the flush limit (SetFlushLimit), so
//     uncommitted replicated writes never reach an SST and TruncateAfter stays a log-only
//     operation. Single-node mode sets no limit.
//   - all writes that carry the same seq land in the same memtable: a size-triggered seal waits for
//     the first write with a different seq. Flush() seals at once, so call it between log records.
//
// Background work: one flush thread and one compaction thread. A failed flush or compaction
// (ENOSPC, EIO, a failing before_flush) is recorded and retried with exponential backoff (up to
// background_retry_ms_max); nothing is lost meanwhile because the memtable stays in memory and the
// log has its contents. Corruption found by background work is permanent: every later write fails
// with it. Write stalls (the memtable is full while the previous one is still being flushed, or L0
// reached l0_stop_writes) wait at most write_stall_ms_max, then Put returns kResourceExhausted
// without applying the write.
//
// Thread-safety: Put/Delete with non-decreasing seqs from one writer thread (they are serialised
// internally, as are Flush and DropUnflushed, which may come from any thread); Get and iterators
// from any thread, concurrently with the writer and with background work. An iterator sees the tree
// as of its creation (a consistent snapshot); it should be destroyed before Close (if it is not, it
// stays memory-safe but may report errors). Implementation guide: src/lsm/README.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "io/env.h"

namespace rdb {

enum class Compression : uint8_t { kNone = 0, kZstd = 1, kLz4 = 2 };

struct LsmOptions {
  Env* env = Env::Posix();
  size_t memtable_bytes = 64ull << 20;  // a memtable is sealed and flushed at this size
  size_t block_cache_bytes = 512ull << 20;
  size_t block_bytes = 4096;  // uncompressed data block target
  int bloom_bits_per_key = 10;
  Compression compression = Compression::kNone;
  size_t table_file_bytes_max = 64ull << 20;
  int l0_compaction_trigger = 4;         // L0 files that start a compaction
  int l0_stop_writes = 12;               // L0 files at which writes wait for compaction
  uint64_t l1_bytes_max = 256ull << 20;  // level n holds l1_bytes_max * 10^(n-1)
  int max_open_tables = 1000;            // table cache capacity
  // A write stall lasting longer than this fails the Put with kResourceExhausted.
  uint32_t write_stall_ms_max = 10'000;
  // Cap of the exponential backoff between retries of failed background work (first retry: 10 ms).
  uint32_t background_retry_ms_max = 1'000;
  // Called (from a background thread) before installing an SST whose entries go up to seq; must
  // make the event log durable up to seq. Returning an error fails the flush (it is retried later
  // and reported by background_error()). It must not call Put/Delete/Flush/DropUnflushed/Close
  // (they may be waiting for this very flush); flushed_seq(), Get and stats() are fine.
  std::function<Status(uint64_t seq)> before_flush;
};

// Forward iterator over live entries (tombstones are skipped) in key order.
class LsmIterator {
 public:
  virtual ~LsmIterator() = default;
  virtual void Seek(std::string_view target) = 0;  // first key >= target
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual std::string_view key() const = 0;    // valid until the next move
  virtual std::string_view value() const = 0;  // valid until the next move
  virtual Status status() const = 0;           // corruption / I/O errors met while iterating
};

class LsmTree {
 public:
  // Opens or creates the tree in dir (its own folder). A manifest written by an incompatible
  // format version fails with kNotSupported naming the file.
  static Result<std::unique_ptr<LsmTree>> Open(const LsmOptions& options, const std::string& dir);
  virtual ~LsmTree() = default;

  // Applies a write to the memtable. `seq` is the log seq it derives from (non-decreasing across
  // calls). May block while the immutable memtable is still being flushed or L0 is too full (write
  // stall); returns background_error() if background work has failed for good.
  virtual Status Put(std::string_view key, std::string_view value, uint64_t seq) = 0;
  virtual Status Delete(std::string_view key, uint64_t seq) = 0;

  // Latest value of key: kNotFound if absent or deleted. Errors (e.g. corruption naming the table
  // file and offset) are returned, never treated as absent.
  virtual Status Get(std::string_view key, std::string* value) = 0;
  virtual std::unique_ptr<LsmIterator> NewIterator() = 0;

  // The highest seq whose writes are all in SSTables (persisted in the manifest).
  virtual uint64_t flushed_seq() const = 0;
  // Memtables whose highest seq is above limit are not flushed (UINT64_MAX = no limit).
  virtual void SetFlushLimit(uint64_t limit) = 0;
  // Discards the memtables' contents that are not in SSTables yet (replication truncation: the
  // engine then replays the log after flushed_seq()). Waits for a running flush first.
  virtual Status DropUnflushed() = 0;
  // Seals the memtable and waits until everything written so far is in SSTables. Returns the error
  // of a flush attempt that fails meanwhile (the flush is still retried in the background), and
  // kFailedPrecondition if the flush limit holds the memtable back.
  virtual Status Flush() = 0;
  // Runs compactions until no level is over its target (tests, benchmarks).
  virtual Status CompactAll() = 0;
  // The permanent error if background work has failed for good (then Put/Delete fail with it);
  // otherwise the error of the latest failed flush or compaction while it is being retried (OK
  // again once a retry succeeds).
  virtual Status background_error() const = 0;

  struct Stats {
    uint64_t memtable_bytes = 0;  // mutable + immutable
    uint64_t table_count = 0;
    uint64_t table_bytes = 0;
    uint64_t flushes = 0;
    uint64_t compactions = 0;
    uint64_t bytes_flushed = 0;    // written by flushes
    uint64_t bytes_compacted = 0;  // written by compactions
    uint64_t write_stalls = 0;     // writes that had to wait
    uint64_t write_stall_micros = 0;
    uint64_t background_errors = 0;  // failed flush/compaction attempts (each is retried)
    std::string last_background_error;
    std::string levels;  // e.g. "L0:2 L1:5 L2:40", for humans
  };
  virtual Stats stats() const = 0;

  // Stops background work (waits for it) and closes files. Unflushed memtable contents are not
  // written (the log has them).
  virtual Status Close() = 0;
};

}  // namespace rdb
