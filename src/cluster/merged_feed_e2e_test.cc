// The merged change feed end to end (docs/design/merged-feed.md): a real etcd and a 2 x 3 cluster
// of real rdb-server processes. Subscribe through any node streams every group's changes merged in
// global seq order — exactly the committed log, no gap, no duplicate, checkpoints that never go
// backwards — while writers run; an idle group does not hold the feed back; and the feed survives
// a kill -9 of a group's leader 1, both for a subscriber on another node and for one on the killed
// node, which resumes elsewhere after its last seq.
#include <algorithm>

#include "cluster/cluster_workload.h"
#include "cluster/routing.h"

namespace rdb::test {
namespace {

class MergedFeedE2eTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    StartNodes(names_, Config(2, 3));
    ASSERT_FALSE(WaitWellFormed("n0", 2, 3).empty());
  }

  std::vector<std::string> Addresses() {
    std::vector<std::string> out;
    for (const auto& n : names_) out.push_back(S(n).address());
    return out;
  }

  // The node that is leader 1 of group g now.
  std::string Leader1(uint32_t g) {
    for (const pb::Member& m : Members(S("n0").address()))
      if (m.group() == g && m.role() == pb::MEMBER_ROLE_LEADER1) return m.node();
    return "";
  }

  // The subscriber's stream is exactly the committed log after `after`, up to its end.
  void ExpectStreamIsTheLog(const std::string& who, const std::vector<RecordedEvent>& received,
                            const std::vector<RecordedEvent>& log, uint64_t after) {
    CheckResult r = CheckStream(who, received, log, after, /*caught_up=*/true);
    EXPECT_TRUE(r.ok()) << r.message;
  }

  const std::vector<std::string> names_{"n0", "n1", "n2", "n3", "n4", "n5"};
};

TEST_F(MergedFeedE2eTest, EveryNodeStreamsAllGroupsMergedInSeqOrder) {
  std::vector<std::unique_ptr<FeedRecorder>> feeds;
  for (const auto& n : names_) feeds.push_back(std::make_unique<FeedRecorder>(S(n).address(), 0));
  History history;
  {
    Writers writers(&history, Addresses());
    ASSERT_TRUE(writers.Progress(300, 30000));
  }
  const std::vector<pb::Event> log = GlobalLog(S("n0").address());
  ASSERT_FALSE(log.empty());
  std::set<uint32_t> groups;
  for (const pb::Event& e : log) groups.insert(cluster::GroupOfKey(e.key(), 2));
  ASSERT_EQ(groups.size(), 2u) << "the writers' keys must hit both groups";
  const std::vector<RecordedEvent> expected = Recorded(log);
  for (size_t i = 0; i < feeds.size(); i++) {
    ASSERT_TRUE(feeds[i]->WaitPast(log.back().seq(), 15000))
        << names_[i] << " stopped at " << feeds[i]->last_seq() << " of " << log.back().seq() << " ("
        << feeds[i]->status().error_message() << ")";
    feeds[i]->Stop();
    ExpectStreamIsTheLog(names_[i], feeds[i]->events(), expected, 0);
    EXPECT_EQ(feeds[i]->CheckpointProblems(), "") << names_[i];
  }
  ExpectHistoryHolds(history, log);
}

TEST_F(MergedFeedE2eTest, AnIdleGroupDoesNotHoldTheFeedBack) {
  // Writes to group 0 only: group 1's watermark must advance by itself (from etcd's revision).
  FeedRecorder feed(S("n4").address(), 0);
  int64_t worst_ms = 0;
  for (int i = 0; i < 20; i++) {
    const std::string key = cluster::KeyInGroup("idle-" + std::to_string(i) + "-", 0, 2);
    pb::AppendResponse resp;
    grpc::Status s = AppendVia(S("n0").address(), key, "p", "id-" + std::to_string(i), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    const auto acked = SteadyClock::now();
    ASSERT_TRUE(feed.WaitPast(resp.last_seq(), 10000)) << "seq " << resp.last_seq();
    worst_ms = std::max<int64_t>(
        worst_ms,
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - acked).count());
  }
  std::cerr << "slowest acknowledgement -> receipt with group 1 idle: " << worst_ms << " ms\n";
  // One watermark interval (50 ms) and one group-feed checkpoint interval (100 ms) at most, with
  // a wide margin for a loaded machine: waiting on etcd's lease TTL (seconds) would fail this.
  EXPECT_LT(worst_ms, 900);
  feed.Stop();
  EXPECT_EQ(feed.CheckpointProblems(), "");
}

TEST_F(MergedFeedE2eTest, TheFeedSurvivesAKillOfALeader1) {
  const std::string victim = Leader1(0);
  ASSERT_FALSE(victim.empty());
  std::string other;  // a node of group 1 that is not leader 1
  for (const pb::Member& m : Members(S("n0").address()))
    if (m.group() == 1 && m.role() != pb::MEMBER_ROLE_LEADER1) other = m.node();
  ASSERT_FALSE(other.empty());
  FeedRecorder on_other(S(other).address(), 0);
  auto on_victim = std::make_unique<FeedRecorder>(S(victim).address(), 0);

  History history;
  std::vector<std::string> via;
  for (const auto& n : names_)
    if (n != victim) via.push_back(S(n).address());
  Writers writers(&history, via);
  ASSERT_TRUE(writers.Progress(100, 30000));
  S(victim).Kill();
  ASSERT_TRUE(WaitFor([&] { return on_victim->ended(); }, 10000));
  // The killed node's subscriber resumes through another node after the last seq it received.
  const std::vector<RecordedEvent> first_part = on_victim->events();
  const uint64_t resume_after = on_victim->last_seq();
  on_victim->Stop();
  FeedRecorder resumed(S(other).address(), resume_after);
  ASSERT_TRUE(writers.Progress(100, 30000)) << "writes did not resume after the kill";
  ASSERT_TRUE(S(victim).Start().ok());
  ASSERT_TRUE(writers.Progress(50, 30000));
  writers.Stop();
  ASSERT_FALSE(WaitWellFormed("n0", 2, 3).empty());

  const std::vector<pb::Event> log = GlobalLog(S(other).address());
  ASSERT_FALSE(log.empty());
  const std::vector<RecordedEvent> expected = Recorded(log);
  ASSERT_TRUE(on_other.WaitPast(log.back().seq(), 15000)) << on_other.last_seq();
  ASSERT_TRUE(resumed.WaitPast(log.back().seq(), 15000)) << resumed.last_seq();
  on_other.Stop();
  resumed.Stop();
  ExpectStreamIsTheLog("subscriber on " + other, on_other.events(), expected, 0);
  EXPECT_EQ(on_other.CheckpointProblems(), "");
  std::vector<RecordedEvent> joined = first_part;
  for (const RecordedEvent& e : resumed.events()) joined.push_back(e);
  ExpectStreamIsTheLog("subscriber on " + victim + ", resumed on " + other, joined, expected, 0);
  EXPECT_EQ(resumed.CheckpointProblems(), "");
  std::cerr << "acknowledged " << writers.count() << " writes; " << first_part.size()
            << " changes before the kill on " << victim << "\n";
  ExpectHistoryHolds(history, log);
}

TEST_F(MergedFeedE2eTest, LatestStartsAfterEveryGroupsEndWithoutAGap) {
  // The groups' logs end at different seqs: group 1 wrote last.
  for (int i = 0; i < 10; i++) {
    for (uint32_t g : {0u, 1u}) {
      const std::string key = cluster::KeyInGroup("before-" + std::to_string(i) + "-", g, 2);
      pb::AppendResponse resp;
      grpc::Status s = AppendVia(S("n0").address(), key, "p", key, &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }
  const uint64_t end = GlobalLog(S("n0").address()).back().seq();
  FeedRecorder feed(S("n2").address(), FeedRecorder::kLatest);
  uint64_t start = 0;
  ASSERT_TRUE(WaitFor([&] { return feed.opening(&start); }, 10000));
  // Everything committed before the subscription is before its start; nothing after it is lost.
  EXPECT_EQ(start, end);
  for (int i = 0; i < 10; i++) {
    for (uint32_t g : {1u, 0u}) {
      const std::string key = cluster::KeyInGroup("after-" + std::to_string(i) + "-", g, 2);
      pb::AppendResponse resp;
      grpc::Status s = AppendVia(S(names_[(i + g) % 6]).address(), key, "p", key, &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }
  const std::vector<pb::Event> log = GlobalLog(S("n0").address());
  ASSERT_TRUE(feed.WaitPast(log.back().seq(), 10000)) << feed.last_seq();
  feed.Stop();
  ExpectStreamIsTheLog("LATEST subscriber", feed.events(), Recorded(log), start);
  EXPECT_EQ(feed.events().size(), 20u);
  EXPECT_EQ(feed.CheckpointProblems(), "");
}

TEST_F(MergedFeedE2eTest, AConsumerGroupResumesThroughAnyNode) {
  // The group's position key lives in one group; the stream is asked through a node of each.
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 20; i++) {
    const std::string key = "cg-" + std::to_string(i);
    pb::AppendResponse resp;
    grpc::Status s =
        AppendVia(S(names_[i % 6]).address(), key, "p", "cg-id-" + std::to_string(i), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    seqs.push_back(resp.last_seq());
  }
  std::sort(seqs.begin(), seqs.end());
  for (const std::string via : {"n1", "n4"}) {
    const std::string group = "readers-" + via;
    auto first = std::make_unique<FeedRecorder>(S(via).address(), 0, group);
    ASSERT_TRUE(first->WaitPast(seqs.back(), 10000)) << via << ": " << first->last_seq();
    // One active consumer per group: a second one is refused while the first is attached.
    FeedRecorder second(S(names_[(via == "n1") ? 5 : 0]).address(), 0, group);
    ASSERT_TRUE(WaitFor([&] { return second.ended(); }, 10000));
    EXPECT_FALSE(second.status().ok());
    // Commit the 10th change through yet another node, detach, and come back elsewhere.
    pb::CommitGroupPositionRequest commit;
    commit.set_group(group);
    commit.set_seq(seqs[9]);
    pb::CommitGroupPositionResponse committed;
    grpc::Status s = Call(S("n2").address(), [&](pb::EventStore::Stub* st, grpc::ClientContext* c) {
      return st->CommitGroupPosition(c, commit, &committed);
    });
    ASSERT_TRUE(s.ok()) << s.error_message();
    first->Stop();
    // The owner releases the group's lease once the detached stream has ended there (a few ms,
    // through a relay); until then a new consumer is refused, and retries as a consumer would.
    std::unique_ptr<FeedRecorder> resumed;
    for (int attempt = 0; attempt < 50; attempt++) {
      resumed = std::make_unique<FeedRecorder>(S("n3").address(), 0, group);
      if (resumed->WaitPast(seqs.back(), 10000)) break;
      ASSERT_TRUE(resumed->ended()) << via << ": stopped at " << resumed->last_seq();
      ASSERT_EQ(resumed->status().error_code(), grpc::StatusCode::FAILED_PRECONDITION)
          << via << ": " << resumed->status().error_message();
      resumed.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_NE(resumed, nullptr) << via << ": the group stayed active after its consumer left";
    resumed->Stop();
    std::vector<uint64_t> got;
    for (const RecordedEvent& e : resumed->events())
      if (e.key.rfind("cg-", 0) == 0) got.push_back(e.seq);
    EXPECT_EQ(got, std::vector<uint64_t>(seqs.begin() + 10, seqs.end())) << "through " << via;
  }
}

}  // namespace
}  // namespace rdb::test
