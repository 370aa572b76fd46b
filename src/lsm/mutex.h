// Mutex, MutexLock and CondVar: std::mutex with clang thread-safety annotations. The tree uses
// these instead of absl::Mutex because the system's absl is not built for ThreadSanitizer, which
// then cannot see absl::Mutex's synchronisation (every guarded access would be reported as a race);
// std::mutex is intercepted by TSan and the annotations keep clang's -Wthread-safety checks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace rdb::lsm {

class ABSL_LOCKABLE Mutex {
 public:
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

using SteadyTime = std::chrono::steady_clock::time_point;

class CondVar {
 public:
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { cv_.wait(*mu); }
  // Returns true if the deadline passed.
  bool WaitUntil(Mutex* mu, SteadyTime deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return cv_.wait_until(*mu, deadline) == std::cv_status::timeout;
  }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace rdb::lsm
