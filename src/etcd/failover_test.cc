// The client against a real three-member etcd cluster: calls, a watch and a lease keep-alive carry
// on through the next endpoint when the member in use is killed.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "etcd/client.h"
#include "etcd/lease_keeper.h"
#include "etcd/test_util.h"
#include "etcd/watcher.h"

namespace rdb::etcd {
namespace {

using testing::Eventually;

TEST(EtcdFailover, CallsWatchesAndLeasesMoveToTheNextMember) {
  test::EtcdCluster cluster(3);
  ASSERT_TRUE(cluster.Start().ok()) << cluster.member(0).log();
  ClientOptions o;
  o.timeout_ms = 2000;
  auto c = std::move(Client::Connect(cluster.endpoints(), o)).value();
  ASSERT_TRUE(c->Put("/f/0", "v").ok());
  ASSERT_EQ(c->current_endpoint(), cluster.member(0).endpoint());

  std::mutex mu;
  std::condition_variable cv;
  std::vector<WatchEvent> got;
  auto w = Watcher::Start(c.get(), WatchOptions::Prefix("/f/"), [&](const auto& events) {
    std::lock_guard<std::mutex> lock(mu);
    got.insert(got.end(), events.begin(), events.end());
    cv.notify_all();
  });
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto lease = c->LeaseGrant(5);
  ASSERT_TRUE(lease.ok());
  auto keeper = std::move(LeaseKeeper::Start(c.get(), *lease, 500)).value();

  ASSERT_TRUE(c->Put("/f/1", "v").ok());
  cluster.member(0).Kill();  // the member every stream and call uses
  for (int i = 2; i < 6; i++) {
    std::string k = "/f/" + std::to_string(i);
    ASSERT_TRUE(Eventually([&] { return c->Put(k, "v").ok(); }, 15000));
  }
  EXPECT_NE(c->current_endpoint(), cluster.member(0).endpoint());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(15), [&] { return got.size() >= 5; }));
    ASSERT_EQ(got.size(), 5u);  // /f/1 .. /f/5, each once, in order
    for (int i = 0; i < 5; i++) EXPECT_EQ(got[i].kv.key, "/f/" + std::to_string(i + 1));
  }
  EXPECT_GE((*w)->reconnects(), 1u);
  // The keeper renews through another member: renewals keep succeeding, the lease lives.
  uint64_t before = keeper->keepalives();
  ASSERT_TRUE(Eventually([&] { return keeper->keepalives() > before + 1; }, 5000));
  EXPECT_FALSE(keeper->lost()) << keeper->status().ToString();
  EXPECT_GT(c->LeaseTimeToLive(lease->id)->ttl_s, 0);
}

}  // namespace
}  // namespace rdb::etcd
