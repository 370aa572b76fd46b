// Shared by the etcd client's tests: one etcd per test binary for the tests that do not restart it
// (each test uses its own key prefix), and small waiting helpers (no sleeps as synchronisation).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "etcd/client.h"
#include "tests/support/etcd_process.h"

namespace rdb::etcd::testing {

// The binary's shared etcd, started on first use and killed at exit.
inline test::EtcdProcess& SharedEtcd() {
  static test::EtcdProcess* etcd = [] {
    auto* e = new test::EtcdProcess();
    Status st = e->Start();
    if (!st.ok()) {
      ADD_FAILURE() << "cannot start etcd: " << st.ToString();
    }
    std::atexit([] { delete etcd; });
    return e;
  }();
  return *etcd;
}

inline std::unique_ptr<Client> Connect(const std::string& endpoint, int64_t timeout_ms = 5000) {
  ClientOptions o;
  o.timeout_ms = timeout_ms;
  auto c = Client::Connect({endpoint}, o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(c).value();
}

// Counts test starts, so that a test repeated in one process (--gtest_repeat) with the shared
// etcd gets fresh keys.
class TestStartCounter : public ::testing::EmptyTestEventListener {
 public:
  static inline std::atomic<uint64_t> starts{0};
  void OnTestStart(const ::testing::TestInfo&) override { starts++; }
};
inline const bool kTestStartCounterRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new TestStartCounter);
  return true;
}();

// A key prefix unique to the running test (and to this run of it).
inline std::string TestPrefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("/test/") + info->test_suite_name() + "." + info->name() + "." +
         std::to_string(TestStartCounter::starts.load()) + "/";
}

// Polls cond every 10 ms until it holds or timeout_ms passes (for conditions etcd changes by
// itself, like a lease expiring, where there is nothing to be notified by).
inline bool Eventually(const std::function<bool()>& cond, int64_t timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace rdb::etcd::testing
