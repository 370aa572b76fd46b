#include "etcd/lease_keeper.h"

#include <gtest/gtest.h>

#include <future>

#include "etcd/test_util.h"

namespace rdb::etcd {
namespace {

using testing::Connect;
using testing::Eventually;
using testing::SharedEtcd;
using testing::TestPrefix;

TEST(EtcdLeaseKeeper, KeepsTheLeaseAliveUntilStopped) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string k = TestPrefix() + "k";
  auto lease = c->LeaseGrant(2);
  ASSERT_TRUE(lease.ok());
  PutOptions o;
  o.lease = lease->id;
  ASSERT_TRUE(c->Put(k, "v", o).ok());
  auto keeper = LeaseKeeper::Start(c.get(), *lease, 400);
  ASSERT_TRUE(keeper.ok()) << keeper.status().ToString();
  // Two TTLs: without the keeper the key would be gone (waiting is the point here).
  std::this_thread::sleep_for(std::chrono::seconds(2 * lease->ttl_s));
  EXPECT_FALSE(c->Get(k)->kvs.empty());
  EXPECT_FALSE((*keeper)->lost());
  EXPECT_GE((*keeper)->keepalives(), 4u);
  EXPECT_GT((*keeper)->expires_at(), LeaseKeeper::Clock::now());
  (*keeper)->Stop();
  EXPECT_TRUE(Eventually([&] { return c->Get(k)->kvs.empty(); }, (lease->ttl_s + 5) * 1000));
}

TEST(EtcdLeaseKeeper, ReportsARevokedLease) {
  auto c = Connect(SharedEtcd().endpoint());
  auto lease = c->LeaseGrant(10);
  ASSERT_TRUE(lease.ok());
  std::promise<Status> lost;
  auto keeper =
      LeaseKeeper::Start(c.get(), *lease, 100, [&](const Status& s) { lost.set_value(s); });
  ASSERT_TRUE(keeper.ok());
  ASSERT_TRUE(c->LeaseRevoke(lease->id).ok());
  auto f = lost.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(f.get().code(), Code::kNotFound);
  EXPECT_TRUE((*keeper)->lost());
}

TEST(EtcdLeaseKeeper, ReportsLossWhenEtcdIsGoneForATtl) {
  test::EtcdProcess etcd;
  ASSERT_TRUE(etcd.Start().ok()) << etcd.log();
  auto c = Connect(etcd.endpoint(), 1000);
  auto lease = c->LeaseGrant(2);
  ASSERT_TRUE(lease.ok());
  std::promise<Status> lost;
  auto keeper =
      LeaseKeeper::Start(c.get(), *lease, 300, [&](const Status& s) { lost.set_value(s); });
  ASSERT_TRUE(keeper.ok());
  etcd.Kill();
  auto killed = std::chrono::steady_clock::now();
  auto f = lost.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(lease->ttl_s + 3)), std::future_status::ready);
  EXPECT_EQ(f.get().code(), Code::kUnavailable);
  // Reported no later than the TTL after the last successful keep-alive (plus a call's timeout).
  EXPECT_LT(std::chrono::steady_clock::now() - killed, std::chrono::seconds(lease->ttl_s + 2));
  EXPECT_LE((*keeper)->expires_at(), LeaseKeeper::Clock::now());
}

TEST(EtcdLeaseKeeper, RejectsAnIntervalNotBelowTheTtl) {
  auto c = Connect(SharedEtcd().endpoint());
  EXPECT_EQ(LeaseKeeper::Start(c.get(), Lease{1, 2}, 2000).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(LeaseKeeper::Start(c.get(), Lease{0, 2}, 100).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace rdb::etcd
