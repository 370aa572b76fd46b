// LeaseKeeper: keeps one etcd lease alive from a background thread, and says when it is lost.
//
// Every interval_ms it sends one keep-alive (Client::LeaseKeepAliveOnce). The lease counts as lost
// when etcd says it is gone (expired or revoked: kNotFound), or when no keep-alive has succeeded
// for a whole TTL (kUnavailable: etcd unreachable, so the lease must be assumed expired). Then
// on_lost runs once, on the keeper's thread, and the keeper stops; it never re-grants.
//
// expires_at() is a conservative bound for a holder that must stop acting before etcd expires the
// lease (a leader fencing itself): the send time of the last successful keep-alive plus the TTL
// etcd granted then; etcd's own expiry is no earlier.
//
// Thread-safety: all methods may be called from any thread; on_lost must not call Stop().
#pragma once

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "base/status.h"
#include "etcd/client.h"

namespace rdb::etcd {

class LeaseKeeper {
 public:
  using Clock = std::chrono::steady_clock;
  using LostCallback = std::function<void(const Status&)>;

  // client must outlive the keeper. interval_ms: how often to renew (etcd's own client renews at
  // TTL/3; the cluster uses REFRESH_INTERVAL). lease: as granted (its TTL bounds the first expiry).
  static Result<std::unique_ptr<LeaseKeeper>> Start(Client* client, Lease lease,
                                                    int64_t interval_ms, LostCallback on_lost = {});
  ~LeaseKeeper();  // Stop()
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  // Stops renewing and waits for the thread. Does not revoke the lease (Client::LeaseRevoke does).
  void Stop();

  int64_t lease_id() const { return lease_.id; }
  // OK while the lease is kept alive; the reason once it is lost.
  Status status() const;
  bool lost() const { return !status().ok(); }
  Clock::time_point expires_at() const;
  uint64_t keepalives() const { return keepalives_.load(std::memory_order_relaxed); }

 private:
  LeaseKeeper(Client* client, Lease lease, int64_t interval_ms, LostCallback on_lost);
  void Run();

  Client* const client_;
  const Lease lease_;
  const int64_t interval_ms_;
  const LostCallback on_lost_;
  std::atomic<uint64_t> keepalives_{0};
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Status status_ ABSL_GUARDED_BY(mu_);
  Clock::time_point expires_at_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace rdb::etcd
