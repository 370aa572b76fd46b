// Sink: follows a Subscribe stream and applies it to a PgStore in batches (docs/sink-postgres.md).
//
// Two threads: a reader that holds the subscription (resubscribing after the last seq it received
// when the stream breaks, with backoff) and feeds a bounded queue, and the caller's thread in
// Run(), which takes changes off the queue and commits a batch when it holds batch_max changes,
// when the oldest pending change is batch_ms old, or when a checkpoint moves the position while
// nothing is pending. A database error makes Run() reconnect with backoff and retry the batch; the
// store's position decides what is still to apply, so nothing is applied twice or skipped.
//
// Thread-safety: Run() on one thread; Stop() from any thread (not from a signal handler).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "base/status.h"
#include "client/client.h"
#include "tools/rdb-sink-postgres/store.h"

namespace rdb::sink {

struct SinkOptions {
  std::string server;  // HOST:PORT
  std::vector<std::string> prefixes;
  std::vector<std::string> types;
  size_t batch_max = 1000;  // changes per transaction
  int batch_ms = 50;        // the longest a received change waits for its transaction
  int backoff_initial_ms = 100;
  int backoff_max_ms = 5000;
  size_t queue_changes_max = 10000;  // received but not yet applied; the reader waits beyond it
  // Opens a subscription; empty = a fresh Client for `server` each time. Tests inject streams here.
  std::function<Result<std::unique_ptr<client::Subscription>>(const client::SubscribeOptions&)>
      subscribe;
};

class Sink {
 public:
  Sink(SinkOptions options, std::unique_ptr<PgStore> store);
  ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  // Follows the stream until Stop() (returns OK after committing what was received, or rolling it
  // back if the database is away) or a fatal error: a change that does not fit (kInvalidArgument,
  // *stopped_at set), a server refusal that retrying cannot fix, a wrong state in the database.
  Status Run(ApplyError* stopped_at = nullptr);
  void Stop();

  const PgStore& store() const { return *store_; }

 private:
  using Entry = std::variant<client::Change, uint64_t>;  // a change or a checkpoint seq

  void ReadLoop(uint64_t after_seq);
  // One subscription until it ends; returns its final status and advances *after_seq.
  Status ReadOne(uint64_t* after_seq, bool* received);
  bool Push(std::vector<client::Change>* changes, uint64_t checkpoint);
  // Commits `batch`, retrying database errors with backoff until it succeeds, Stop() or a fatal
  // error.
  Status Flush(Batch* batch, ApplyError* stopped_at);
  // Sleeps up to ms unless stopping; false if stopping.
  bool Backoff(int ms);

  SinkOptions options_;
  std::unique_ptr<PgStore> store_;
  std::thread reader_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;               // guarded by mu_
  size_t queued_changes_ = 0;             // guarded by mu_
  bool stopping_ = false;                 // guarded by mu_
  Status reader_error_;                   // guarded by mu_: a fatal subscription error
  client::Subscription* live_ = nullptr;  // guarded by mu_: for Stop() to cancel
};

}  // namespace rdb::sink
