#include "etcd/election.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "etcd/lease_keeper.h"
#include "etcd/test_util.h"

namespace rdb::etcd {
namespace {

using testing::Connect;
using testing::SharedEtcd;
using testing::TestPrefix;

std::vector<std::string> Values(const std::vector<Candidate>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.push_back(c.value);
  return out;
}

struct Node {
  std::unique_ptr<Client> client;
  Lease lease;
  std::unique_ptr<LeaseKeeper> keeper;
  std::unique_ptr<Election> election;
  Candidate me;
};

// A candidate with its own client and lease; kept alive unless keep_alive is false.
Node Join(const std::string& prefix, const std::string& name, int64_t ttl_s, bool keep_alive) {
  Node n;
  n.client = Connect(SharedEtcd().endpoint());
  auto lease = n.client->LeaseGrant(ttl_s);
  EXPECT_TRUE(lease.ok()) << lease.status().ToString();
  n.lease = *lease;
  if (keep_alive) n.keeper = std::move(LeaseKeeper::Start(n.client.get(), n.lease, 500)).value();
  n.election = std::make_unique<Election>(n.client.get(), prefix);
  auto me = n.election->Campaign(n.lease.id, name);
  EXPECT_TRUE(me.ok()) << me.status().ToString();
  n.me = *me;
  return n;
}

TEST(EtcdElection, CandidatesAreOrderedByCreateRevision) {
  std::string p = TestPrefix();
  Node a = Join(p, "a", 30, true), b = Join(p, "b", 30, true), c = Join(p, "c", 30, true);
  EXPECT_LT(a.me.create_revision, b.me.create_revision);
  EXPECT_LT(b.me.create_revision, c.me.create_revision);
  char hex[24];
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(a.lease.id));
  EXPECT_EQ(a.me.key, p + hex);

  auto list = ListCandidates(a.client.get(), p);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(Values(*list), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ((*list)[1].lease, b.lease.id);

  EXPECT_EQ(*a.election->WaitForRank(0, 1000), 0u);
  EXPECT_EQ(*c.election->WaitForRank(2, 1000), 2u);
  EXPECT_EQ(c.election->WaitForRank(1, 300).status().code(), Code::kUnavailable);

  // A second campaign under the same lease keeps its place (and epoch), and takes the new value.
  auto again = a.election->Campaign(a.lease.id, "a2");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->create_revision, a.me.create_revision);
  EXPECT_EQ(Values(*ListCandidates(a.client.get(), p)), (std::vector<std::string>{"a2", "b", "c"}));
  for (Node* n : {&a, &b, &c}) ASSERT_TRUE(n->election->Resign().ok());
  EXPECT_TRUE(ListCandidates(a.client.get(), p)->empty());
}

TEST(EtcdElection, NextInLineTakesOverWhenTheLeaderResigns) {
  std::string p = TestPrefix();
  Node a = Join(p, "a", 30, true), b = Join(p, "b", 30, true), c = Join(p, "c", 30, true);
  std::vector<std::vector<std::string>> seen;
  std::mutex mu;
  auto observer = ElectionObserver::Start(a.client.get(), p, [&](const auto& cs, int64_t) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(Values(cs));
  });
  ASSERT_TRUE(observer.ok());
  EXPECT_EQ(Values((*observer)->candidates()), (std::vector<std::string>{"a", "b", "c"}));

  std::future<Result<size_t>> b_leads =
      std::async(std::launch::async, [&] { return b.election->WaitForRank(0, 10000); });
  std::future<Result<size_t>> c_second =
      std::async(std::launch::async, [&] { return c.election->WaitForRank(1, 10000); });
  ASSERT_TRUE(a.election->Resign().ok());
  auto rank_b = b_leads.get();
  ASSERT_TRUE(rank_b.ok()) << rank_b.status().ToString();
  EXPECT_EQ(*rank_b, 0u);
  EXPECT_EQ(*c_second.get(), 1u);
  ASSERT_TRUE((*observer)->WaitUntil([](const auto& cs) { return cs.size() == 2; }, 5000));
  EXPECT_EQ(Values((*observer)->candidates()), (std::vector<std::string>{"b", "c"}));
  EXPECT_FALSE(a.election->self().has_value());

  // A newcomer queues behind, with a higher epoch than everyone before it.
  Node d = Join(p, "d", 30, true);
  EXPECT_GT(d.me.create_revision, c.me.create_revision);
  ASSERT_TRUE((*observer)->WaitUntil([](const auto& cs) { return cs.size() == 3; }, 5000));
  EXPECT_EQ(Values((*observer)->candidates()), (std::vector<std::string>{"b", "c", "d"}));
  // The observer updates candidates() before it runs the callback: wait for the callback too.
  const std::vector<std::string> want = {"b", "c", "d"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if ((!seen.empty() && seen.back() == want) || std::chrono::steady_clock::now() > deadline) {
        EXPECT_EQ(seen.front(), (std::vector<std::string>{"a", "b", "c"}));
        EXPECT_EQ(seen.back(), want);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TEST(EtcdElection, NextInLineTakesOverWhenTheLeadersLeaseExpires) {
  std::string p = TestPrefix();
  Node a = Join(p, "a", 2, false);  // nobody keeps a's lease alive
  Node b = Join(p, "b", 30, true);
  EXPECT_EQ(*a.election->WaitForRank(0, 1000), 0u);
  auto start = std::chrono::steady_clock::now();
  auto rank = b.election->WaitForRank(0, (a.lease.ttl_s + 5) * 1000);
  ASSERT_TRUE(rank.ok()) << rank.status().ToString();
  EXPECT_EQ(*rank, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(a.lease.ttl_s + 3));
  // The expired candidate learns it is out when it tries to act.
  EXPECT_EQ(a.election->Proclaim("still here?").code(), Code::kFailedPrecondition);
  EXPECT_EQ(a.election->WaitForRank(0, 100).status().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(b.election->Proclaim("b2").ok());
  EXPECT_EQ(Values(*ListCandidates(b.client.get(), p)), std::vector<std::string>{"b2"});
}

TEST(EtcdElection, ALeaderFencesItsWritesWithItsEpoch) {
  std::string p = TestPrefix();
  Node a = Join(p, "a", 30, true);
  std::string data = p.substr(0, p.size() - 1) + "-data";  // outside the election prefix
  auto fenced_put = [&](const Node& n, const std::string& v) {
    Txn t;
    t.compare.push_back(
        Compare::CreateRevision(n.me.key, Compare::Op::kEqual, n.me.create_revision));
    t.then.push_back(TxnOp::MakePut(data, v));
    auto r = n.client->Commit(t);
    return r.ok() && r->succeeded;
  };
  EXPECT_TRUE(fenced_put(a, "1"));
  ASSERT_TRUE(a.election->Resign().ok());
  EXPECT_FALSE(fenced_put(a, "2"));  // deposed: the write is refused
  EXPECT_EQ(a.client->Get(data)->kvs.at(0).value, "1");
}

}  // namespace
}  // namespace rdb::etcd
