// TailCache: the live tail of the committed log, decoded once and shared by every subscriber.
//
// One thread follows the engine's committed seq, reads each newly committed record once and
// publishes it in immutable chunks (shared_ptr) kept in a ring bounded by bytes_max. A chunk covers
// the seqs (begin, end]: every committed record with a seq in that range is in it, so a subscriber
// at position P (everything <= P handled) continues with the chunk whose end > P. A subscriber
// behind the ring's window ("lagging") reads the log with its own LogReader until it reaches the
// window (docs/cdc.md, "catch-up and live tail").
//
// Memory: the ring holds at most bytes_max (plus one chunk); a subscriber pins at most the chunk
// it is reading. Slow subscribers fall out of the window; they never hold the ring back.
//
// Thread-safety: Find, end and WaitPast may be called from any thread. Start/Stop from one.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace rdb::cdc {

struct TailCacheOptions {
  size_t bytes_max = 32ull << 20;    // tail_cache_bytes_max: the ring's budget
  size_t chunk_records_max = 512;    // a chunk is published when it has this many records...
  size_t chunk_bytes_max = 1 << 20;  // ...or this many bytes, or the committed end is reached
  uint32_t poll_ms = 50;             // how often the thread checks for Stop while idle
};

// Records of the committed log covering seqs (begin, end]. Immutable once published.
struct TailChunk {
  uint64_t begin = 0;
  uint64_t end = 0;
  std::vector<ReadRecord> records;  // in seq order
  size_t bytes = 0;
};

class TailCache {
 public:
  TailCache(Engine* engine, TailCacheOptions options);
  ~TailCache();  // Stop()

  // Starts following the log after the engine's current last_seq().
  void Start();
  // Stops the thread and waits for it. Idempotent.
  void Stop();

  enum class Lookup : uint8_t {
    kFound,     // *chunk is the first chunk with end > position
    kLagging,   // position is before the ring's window: read the log yourself
    kCaughtUp,  // nothing after position is in the ring yet (*end is the ring's end)
  };
  Lookup Find(uint64_t position, std::shared_ptr<const TailChunk>* chunk, uint64_t* end) const;

  // The highest seq the ring covers.
  uint64_t end() const;
  // Blocks until end() > position, Stop() or timeout; returns end().
  uint64_t WaitPast(uint64_t position, uint64_t timeout_ms) const;

  struct Stats {
    uint64_t chunks = 0;
    uint64_t bytes = 0;
    uint64_t window_begin = 0;
    uint64_t end = 0;
  };
  Stats stats() const;

 private:
  void Run();
  void Publish(std::shared_ptr<TailChunk> chunk);

  Engine* const engine_;
  const TailCacheOptions options_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<std::shared_ptr<const TailChunk>> ring_;  // guarded by mu_
  size_t ring_bytes_ = 0;                              // guarded by mu_
  uint64_t window_begin_ = 0;                          // guarded by mu_
  uint64_t end_ = 0;                                   // guarded by mu_
  bool failed_ = false;  // a read error: every lookup says kLagging (guarded by mu_)
  bool stop_ = false;    // guarded by mu_
  std::thread thread_;
};

}  // namespace rdb::cdc
