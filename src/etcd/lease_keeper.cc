#include "etcd/lease_keeper.h"

#include <algorithm>

namespace rdb::etcd {

Result<std::unique_ptr<LeaseKeeper>> LeaseKeeper::Start(Client* client, Lease lease,
                                                        int64_t interval_ms, LostCallback on_lost) {
  if (client == nullptr) return Status::InvalidArgument("lease keeper: no client");
  if (lease.id == 0 || lease.ttl_s <= 0)
    return Status::InvalidArgument("lease keeper: not a granted lease");
  if (interval_ms <= 0 || interval_ms >= lease.ttl_s * 1000)
    return Status::InvalidArgument("lease keeper: interval " + std::to_string(interval_ms) +
                                   " ms must be positive and below the TTL of " +
                                   std::to_string(lease.ttl_s) + " s");
  std::unique_ptr<LeaseKeeper> k(new LeaseKeeper(client, lease, interval_ms, std::move(on_lost)));
  k->thread_ = std::thread([p = k.get()] { p->Run(); });
  return k;
}

LeaseKeeper::LeaseKeeper(Client* client, Lease lease, int64_t interval_ms, LostCallback on_lost)
    : client_(client), lease_(lease), interval_ms_(interval_ms), on_lost_(std::move(on_lost)) {
  // The grant was sent before now, so this bound is late by the grant's round trip at most.
  expires_at_ = Clock::now() + std::chrono::seconds(lease.ttl_s);
}

LeaseKeeper::~LeaseKeeper() { Stop(); }

void LeaseKeeper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

Status LeaseKeeper::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

LeaseKeeper::Clock::time_point LeaseKeeper::expires_at() const {
  absl::MutexLock lock(&mu_);
  return expires_at_;
}

void LeaseKeeper::Run() {
  auto next = Clock::now() + std::chrono::milliseconds(interval_ms_);
  while (true) {
    Clock::time_point expires;
    {
      absl::MutexLock lock(&mu_);
      // Wake at the next renewal, or on Stop().
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
      mu_.AwaitWithDeadline(absl::Condition(&stopping),
                            absl::Now() + absl::FromChrono(next - Clock::now()));
      if (stop_) return;
      expires = expires_at_;
    }
    auto sent = Clock::now();
    // Never wait for an answer past the expiry: by then the lease is lost anyway.
    int64_t left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(expires - sent).count();
    Status lost;
    if (left_ms <= 0) {
      lost = Status::Unavailable("etcd lease " + std::to_string(lease_.id) +
                                 ": no keep-alive succeeded within its TTL of " +
                                 std::to_string(lease_.ttl_s) + " s");
    } else {
      auto ttl = client_->LeaseKeepAliveOnce(
          lease_.id, std::min<int64_t>(left_ms, client_->options().timeout_ms));
      if (ttl.ok()) {
        keepalives_.fetch_add(1, std::memory_order_relaxed);
        absl::MutexLock lock(&mu_);
        expires_at_ = sent + std::chrono::seconds(*ttl);
      } else if (ttl.status().code() == Code::kNotFound) {
        lost = ttl.status();
      } else if (Clock::now() >= expires) {
        lost = Status::Unavailable("etcd lease " + std::to_string(lease_.id) +
                                   " assumed expired: no keep-alive succeeded within its TTL (" +
                                   ttl.status().message() + ")");
      }
      // Other errors: keep trying until the expiry.
    }
    if (!lost.ok()) {
      {
        absl::MutexLock lock(&mu_);
        status_ = lost;
      }
      if (on_lost_) on_lost_(lost);
      return;
    }
    next = sent + std::chrono::milliseconds(interval_ms_);
    // After a failure, retry sooner (but not in a busy loop) while the lease may still be alive.
    if (Clock::now() >= next) next = Clock::now() + std::chrono::milliseconds(50);
  }
}

}  // namespace rdb::etcd
