// Watcher: one etcd watch (a key, a range or a prefix), with events delivered in revision order to
// a callback on the watcher's own thread.
//
// Resuming: the watcher remembers the revision after the last one it delivered. When the stream
// breaks (etcd restarted, the member failed, the connection dropped) it reconnects, to the next
// endpoint if the error was UNAVAILABLE, with a backoff of 50 ms doubling up to
// reconnect_backoff_max_ms, and watches again from that revision: no event is lost or repeated.
//
// The watch ends by itself only when it cannot go on: the revision to resume from was compacted
// (on_end gets kFailedPrecondition and compact_revision() says where history now starts: read
// the current state and watch again from there), or etcd cancelled it (kFailedPrecondition with
// etcd's reason). Cancel() ends it from the caller's side, without on_end.
//
// Thread-safety: Cancel(), revision() and the accessors may be called from any thread. Callbacks
// run one at a time on the watcher's thread; they may call Cancel() but must not destroy the
// watcher. A slow callback delays later events (etcd buffers them; a member drops a watcher that
// falls too far behind and the watcher then resumes from its revision).
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "etcd/client.h"
#include "etcd/types.h"

namespace grpc {
class ClientContext;
}

namespace rdb::etcd {

struct WatchOptions {
  std::string key;
  std::string range_end;       // empty = the single key; see RangeOptions
  int64_t start_revision = 0;  // first revision to deliver; 0 = changes after the current one
  bool prev_kv = false;        // deliver each event's previous key-value
  int64_t reconnect_backoff_max_ms = 1000;

  static WatchOptions Prefix(const std::string& prefix, int64_t start_revision = 0) {
    WatchOptions o;
    o.key = prefix;
    o.range_end = PrefixRangeEnd(prefix);
    o.start_revision = start_revision;
    return o;
  }
};

class Watcher {
 public:
  // The events of one revision or more, in revision order (all events of a transaction together).
  using EventCallback = std::function<void(const std::vector<WatchEvent>&)>;
  using EndCallback = std::function<void(const Status&)>;

  // Starts watching and returns once etcd confirmed the watch (every change at or after
  // start_revision, or after the current revision, will be delivered), or kUnavailable if no
  // endpoint confirmed it within the client's timeout. client must outlive the watcher.
  static Result<std::unique_ptr<Watcher>> Start(Client* client, WatchOptions options,
                                                EventCallback on_events, EndCallback on_end = {});
  ~Watcher();  // Cancel() and wait for the thread
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Stops the watch; waits for the thread unless called from a callback.
  void Cancel();

  // The revision the watch would resume from (the one after the last delivered).
  int64_t next_revision() const;
  // Why the watch ended (OK while it runs or after Cancel()).
  Status status() const;
  // The compaction revision that ended the watch; 0 otherwise.
  int64_t compact_revision() const;
  // How many times the stream was re-established.
  uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }

 private:
  Watcher(Client* client, WatchOptions options, EventCallback on_events, EndCallback on_end);
  void Run();
  // One stream's life. Returns false when the watch is over (stopped or ended).
  bool RunStream(size_t endpoint_index);
  void End(const Status& why, int64_t compact_revision);
  // The first stream was confirmed, or the watch ended before that.
  bool Settled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Client* const client_;
  const WatchOptions options_;
  const EventCallback on_events_;
  const EndCallback on_end_;
  std::atomic<uint64_t> reconnects_{0};
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool created_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  int64_t next_revision_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t compact_revision_ ABSL_GUARDED_BY(mu_) = 0;
  Status status_ ABSL_GUARDED_BY(mu_);
  grpc::ClientContext* ctx_ ABSL_GUARDED_BY(mu_) = nullptr;  // the live stream's, for Cancel()
  std::thread thread_;
};

}  // namespace rdb::etcd
