// The batched etcd sequencer and the lock-get-put baseline against a real etcd
// (tests/support/etcd_process.h), and the seq arithmetic's limits without one.
#include "cluster/sequencer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "cluster/keys.h"
#include "etcd/election.h"
#include "etcd/test_util.h"

namespace rdb::cluster {
namespace {

using etcd::testing::Connect;
using etcd::testing::SharedEtcd;

// A unique dbname per test (the shared etcd outlives tests).
std::string TestDb() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("seqtest-") + info->name() + "-" +
         std::to_string(etcd::testing::TestStartCounter::starts.load());
}

// Leader 1 of a group: a lease and a campaign under the group's election prefix.
struct Leader {
  etcd::Lease lease;
  std::unique_ptr<etcd::Election> election;
  etcd::Candidate self;
};

Leader Campaign(etcd::Client* c, const std::string& db, uint32_t group) {
  Leader l;
  auto lease = c->LeaseGrant(30);
  EXPECT_TRUE(lease.ok()) << lease.status().ToString();
  l.lease = *lease;
  l.election = std::make_unique<etcd::Election>(c, KeyLayout(db).ElectionPrefix(group));
  auto me = l.election->Campaign(l.lease.id, "node");
  EXPECT_TRUE(me.ok()) << me.status().ToString();
  l.self = *me;
  return l;
}

EtcdSequencerOptions Options(const std::string& db, uint32_t group, const Leader& l,
                             uint64_t floor = 0) {
  EtcdSequencerOptions o;
  o.dbname = db;
  o.group = group;
  o.election_key = l.self.key;
  o.epoch = l.self.create_revision;
  o.floor = floor;
  return o;
}

TEST(SeqsForRevision, Arithmetic) {
  auto r = SeqsForRevision(5, 3, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first, 5 * kSeqsPerRevision);
  EXPECT_EQ(r->last, 5 * kSeqsPerRevision + 2);
  EXPECT_EQ(r->size(), 3u);
  EXPECT_EQ(SeqsForRevision(5, 0, 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SeqsForRevision(5, kSeqsPerRevision + 1, 0).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(SeqsForRevision(5, kSeqsPerRevision, 0).ok());
  EXPECT_EQ(SeqsForRevision(0, 1, 0).status().code(), Code::kInvalidArgument);
}

TEST(SeqsForRevision, FitsIn53Bits) {
  static_assert(kMaxRevision == (int64_t{1} << 43) - 1);
  auto top = SeqsForRevision(kMaxRevision, kSeqsPerRevision, 0);
  ASSERT_TRUE(top.ok()) << top.status().ToString();
  EXPECT_LT(top->last, kSeqLimit);
  EXPECT_EQ(top->last, kSeqLimit - 1);
  auto beyond = SeqsForRevision(kMaxRevision + 1, 1, 0);
  EXPECT_EQ(beyond.status().code(), Code::kResourceExhausted);
  EXPECT_NE(beyond.status().message().find("53 bits"), std::string::npos)
      << beyond.status().ToString();
}

TEST(SeqsForRevision, Floor) {
  // A persisted seq at or above the revision's first seq: etcd went backwards.
  EXPECT_EQ(SeqsForRevision(10, 1, 10 * kSeqsPerRevision).status().code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(SeqsForRevision(10, 1, 100 * kSeqsPerRevision).status().code(),
            Code::kFailedPrecondition);
  EXPECT_TRUE(SeqsForRevision(10, 1, 10 * kSeqsPerRevision - 1).ok());
}

TEST(EtcdSequencer, UniqueAndIncreasingAcrossThreadsAndGroups) {
  auto client = Connect(SharedEtcd().endpoint());
  const std::string db = TestDb();
  Leader l0 = Campaign(client.get(), db, 0), l1 = Campaign(client.get(), db, 1);
  EtcdSequencer s0(client.get(), Options(db, 0, l0)), s1(client.get(), Options(db, 1, l1));
  constexpr int kThreads = 8, kCalls = 40;
  std::vector<SeqRange> all;
  std::vector<std::vector<SeqRange>> per_thread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      EtcdSequencer& s = t % 2 == 0 ? s0 : s1;
      for (int i = 0; i < kCalls; i++) {
        auto n = static_cast<uint32_t>(1 + (t * 37 + i * 101) % kSeqsPerRevision);
        auto r = s.Next(n);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        EXPECT_EQ(r->size(), n);
        per_thread[t].push_back(*r);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; t++) {
    for (size_t i = 1; i < per_thread[t].size(); i++)
      EXPECT_GT(per_thread[t][i].first, per_thread[t][i - 1].last);  // increasing per caller
    all.insert(all.end(), per_thread[t].begin(), per_thread[t].end());
  }
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first < b.first; });
  ASSERT_EQ(all.size(), size_t{kThreads * kCalls});
  for (size_t i = 1; i < all.size(); i++) EXPECT_GT(all[i].first, all[i - 1].last);  // disjoint
  EXPECT_LT(all.back().last, kSeqLimit);
  EXPECT_GE(all.front().first, 1u);
  // The group's key holds its highest seq before the last batch.
  auto got = client->Get(s0.seq_key());
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(s0.seq_key(), "/rdeebee/" + db + "/groups/0/seq");
}

TEST(EtcdSequencer, RealTimeOrderAcrossGroups) {
  auto client = Connect(SharedEtcd().endpoint());
  const std::string db = TestDb();
  Leader l0 = Campaign(client.get(), db, 0), l1 = Campaign(client.get(), db, 1);
  EtcdSequencer s0(client.get(), Options(db, 0, l0)), s1(client.get(), Options(db, 1, l1));
  uint64_t last = 0;
  for (int i = 0; i < 50; i++) {
    EtcdSequencer& s = i % 3 == 0 ? s1 : s0;  // alternate groups, unevenly
    auto r = s.Next(kSeqsPerRevision);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GT(r->first, last) << "batch " << i;
    last = r->last;
  }
  // Many: ceil(n / kSeqsPerRevision) transactions, increasing ranges.
  auto many = s1.NextMany(2 * kSeqsPerRevision + 5);
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  ASSERT_EQ(many->size(), 3u);
  EXPECT_EQ((*many)[2].size(), 5u);
  EXPECT_GT((*many)[0].first, last);
  EXPECT_GT((*many)[1].first, (*many)[0].last);
  EXPECT_GT((*many)[2].first, (*many)[1].last);
}

TEST(EtcdSequencer, DeposedLeaderGetsNothing) {
  auto client = Connect(SharedEtcd().endpoint());
  const std::string db = TestDb();
  Leader l = Campaign(client.get(), db, 0);
  EtcdSequencer s(client.get(), Options(db, 0, l));
  ASSERT_TRUE(s.Next(1).ok());
  auto before = client->Get(s.seq_key());
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->kvs.size(), 1u);

  // Key gone (resigned / lease expired).
  ASSERT_TRUE(l.election->Resign().ok());
  auto r = s.Next(10);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_NE(r.status().message().find("is gone"), std::string::npos) << r.status().ToString();

  // Key re-created (a new campaign: another create revision, another epoch).
  auto again = l.election->Campaign(l.lease.id, "node");
  ASSERT_TRUE(again.ok());
  ASSERT_NE(again->create_revision, l.self.create_revision);
  r = s.Next(10);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_NE(r.status().message().find("not the epoch"), std::string::npos) << r.status().ToString();

  // Nothing written by the deposed leader.
  auto after = client->Get(s.seq_key());
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->kvs.size(), 1u);
  EXPECT_EQ(after->kvs[0].mod_revision, before->kvs[0].mod_revision);

  // The new epoch works.
  EtcdSequencerOptions o = Options(db, 0, l);
  o.epoch = again->create_revision;
  EtcdSequencer s2(client.get(), o);
  EXPECT_TRUE(s2.Next(10).ok());
}

TEST(EtcdSequencer, RefusesToGoBelowThePersistedFloor) {
  auto client = Connect(SharedEtcd().endpoint());
  const std::string db = TestDb();
  Leader l = Campaign(client.get(), db, 0);
  // As if etcd had been restored from a backup taken long before the group's last write.
  EtcdSequencer s(client.get(), Options(db, 0, l, /*floor=*/uint64_t{1} << 50));
  auto r = s.Next(1);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_NE(r.status().message().find("backwards"), std::string::npos) << r.status().ToString();
  // And the floor a sequencer raises itself: each batch above the previous one.
  EtcdSequencer ok(client.get(), Options(db, 0, l));
  auto a = ok.Next(3);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ok.floor(), a->last);
  ok.RaiseFloor(a->last + 1);  // below the next revision's seqs: fine
  EXPECT_TRUE(ok.Next(3).ok());
  EXPECT_EQ(ok.Next(0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ok.Next(kSeqsPerRevision + 1).status().code(), Code::kInvalidArgument);
}

TEST(LockGetPutSequencer, UniqueUnderConcurrency) {
  const std::string db = TestDb();
  LockGetPutOptions o;
  o.lock_key = "/rdeebee/" + db + "/sequencer-lock";
  o.counter_key = "/rdeebee/" + db + "/sequencer-counter";
  constexpr int kClients = 4, kCalls = 25;
  std::mutex mu;
  std::set<uint64_t> seen;
  std::atomic<int> dupes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; t++) {
    threads.emplace_back([&] {
      auto client = Connect(SharedEtcd().endpoint());
      auto s = LockGetPutSequencer::Start(client.get(), o);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      uint64_t prev = 0;
      for (int i = 0; i < kCalls; i++) {
        auto seq = (*s)->Next();
        ASSERT_TRUE(seq.ok()) << seq.status().ToString();
        EXPECT_GT(*seq, prev);
        prev = *seq;
        std::lock_guard<std::mutex> g(mu);
        if (!seen.insert(*seq).second) dupes++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(dupes.load(), 0);
  EXPECT_EQ(seen.size(), size_t{kClients * kCalls});
  EXPECT_EQ(*seen.begin(), 1u);
  EXPECT_EQ(*seen.rbegin(), uint64_t{kClients * kCalls});  // no gaps: a lock per seq
}

}  // namespace
}  // namespace rdb::cluster
