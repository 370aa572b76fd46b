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
// Idle: the thread reads only while the cache has users (AddUser/RemoveUser, held by every
// Subscription opened with the cache). Without users it drops the ring and waits on its own
// condition variable: it reads nothing and does not wait on the engine, so commits wake nothing.
// The first user restarts it at the engine's current last_seq() (an empty window there): a user
// positioned before that is "lagging", reads the log itself and switches over by seq.
//
// Thread-safety: Find, end, WaitPast, AddUser and RemoveUser may be called from any thread.
// Start/Stop from one.
#pragma once

#include <atomic>
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

  // Starts the thread; it follows the log after the engine's last_seq() while there are users.
  void Start();
  // Stops the thread and waits for it. Idempotent.
  void Stop();

  enum class Lookup : uint8_t {
    kFound,     // *chunk is the first chunk with end > position
    kLagging,   // position is before the ring's window: read the log yourself
    kCaughtUp,  // nothing after position is in the ring yet (*end is the ring's end)
  };
  Lookup Find(uint64_t position, std::shared_ptr<const TailChunk>* chunk, uint64_t* end) const;

  // A subscriber needs the cache (RemoveUser when it no longer does). When the count goes from 0
  // to 1 the window restarts, empty, at the engine's last_seq() now.
  void AddUser();
  void RemoveUser();

  // The highest seq the ring covers.
  uint64_t end() const;
  // Blocks until end() > position, Stop() or timeout; returns end().
  uint64_t WaitPast(uint64_t position, uint64_t timeout_ms) const;

  struct Stats {
    uint64_t chunks = 0;
    uint64_t bytes = 0;
    uint64_t window_begin = 0;
    uint64_t end = 0;
    uint64_t users = 0;
    bool active = false;        // the thread is following the log (not idle)
    uint64_t records_read = 0;  // log records the thread has read (since construction)
    uint64_t restarts = 0;      // times the window restarted for a first user
  };
  Stats stats() const;

 private:
  void Run();
  // Appends chunk to the ring unless the window restarted since generation `gen` (then false).
  bool Publish(std::shared_ptr<TailChunk> chunk, uint64_t gen);

  Engine* const engine_;
  const TailCacheOptions options_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<std::shared_ptr<const TailChunk>> ring_;  // guarded by mu_
  size_t ring_bytes_ = 0;                              // guarded by mu_
  uint64_t window_begin_ = 0;                          // guarded by mu_
  uint64_t end_ = 0;                                   // guarded by mu_
  bool failed_ = false;      // a read error: every lookup says kLagging (guarded by mu_)
  bool stop_ = false;        // guarded by mu_
  uint64_t users_ = 0;       // guarded by mu_
  uint64_t generation_ = 0;  // bumped by each restart (guarded by mu_)
  bool active_ = false;      // guarded by mu_
  std::atomic<uint64_t> records_read_{0};
  std::condition_variable run_cv_;  // wakes the idle thread: a user came, or Stop
  std::thread thread_;
};

}  // namespace rdb::cdc
