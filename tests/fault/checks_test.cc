#include "tests/fault/checks.h"

#include <gtest/gtest.h>

namespace rdb::fault {
namespace {

using test::RecordedEvent;

std::vector<RecordedEvent> Events(std::initializer_list<uint64_t> seqs) {
  std::vector<RecordedEvent> out;
  uint64_t v = 0;
  for (uint64_t s : seqs) out.push_back(RecordedEvent::Put("k", s, ++v, "p" + std::to_string(s)));
  return out;
}

TEST(CheckWatermarks, ConsistentCheckpointsPass) {
  // 10 20 | cp 25 | 30 | cp 30, cp 30 | (new stream) cp 30 | 40
  auto received = Events({10, 20, 30, 40});
  std::vector<CheckpointMark> cps = {{2, 25, 0}, {3, 30, 0}, {3, 30, 0}, {3, 30, 1}};
  EXPECT_TRUE(CheckWatermarks("s", received, cps).ok());
  EXPECT_TRUE(CheckWatermarks("s", received, {}).ok());
}

TEST(CheckWatermarks, BackwardsOnOneStreamFails) {
  auto received = Events({10, 20});
  std::vector<CheckpointMark> cps = {{1, 15, 0}, {1, 12, 0}};
  test::CheckResult r = CheckWatermarks("s", received, cps);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("backwards"), std::string::npos) << r.message;
}

TEST(CheckWatermarks, ChangeAtOrBelowAnEarlierCheckpointFails) {
  // The checkpoint said everything up to 25 was delivered, then 22 arrives: the watermark ran
  // ahead of a group's committed events.
  auto received = Events({10, 20, 22});
  std::vector<CheckpointMark> cps = {{2, 25, 0}};
  test::CheckResult r = CheckWatermarks("s", received, cps);
  EXPECT_TRUE(r.violation());
  EXPECT_EQ(r.key, "k");
  // Also across a reconnection: a later stream may not deliver below an earlier checkpoint.
  std::vector<CheckpointMark> cps2 = {{2, 21, 0}, {2, 15, 1}};
  EXPECT_TRUE(CheckWatermarks("s", received, cps2).ok());  // 22 > 21
  std::vector<CheckpointMark> cps3 = {{2, 22, 0}, {2, 15, 1}};
  EXPECT_TRUE(CheckWatermarks("s", received, cps3).violation());
}

TEST(CheckWatermarkAhead, WriteAfterACheckpointGetsAHigherSeq) {
  std::vector<test::HistoryEntry> entries(3);
  entries[0] = {0, 1, test::Op::Append("a.1", "x"), test::Outcome::Written(50, 1), 10'000, 12'000};
  entries[1] = {1, 1, test::Op::Append("a.1", "y"), test::Outcome::Written(120, 2), 30'000, 31'000};
  entries[2] = {2, 1, test::Op::Append("b.1", "z"), test::Outcome::Written(90, 1), 30'000, 31'000};
  SubscriberLog log;
  log.checkpoints = {{0, 60, 0, 15'000}, {0, 100, 0, 20'000}};
  // The write invoked at 10 ms came before the checkpoint of 20 ms; the one at 30 ms got 120.
  entries.pop_back();
  EXPECT_TRUE(CheckWatermarkAhead("s", log, entries, 1).ok());
  // A write invoked at 30 ms, after checkpoint 100 arrived, committed at 90: the watermark ran
  // ahead of what the group could still commit.
  entries.push_back(
      {2, 1, test::Op::Append("b.1", "z"), test::Outcome::Written(90, 1), 30'000, 31'000});
  test::CheckResult r = CheckWatermarkAhead("s", log, entries, 1);
  EXPECT_TRUE(r.violation());
  EXPECT_EQ(r.key, "b.1");
  // A subscriber filtered on "a." promised nothing about b.1.
  log.prefix = "a.";
  EXPECT_TRUE(CheckWatermarkAhead("s", log, entries, 1).ok());
  // A retry by id returns the original seq, from before the checkpoint.
  log.prefix = "";
  entries[2] = {2,
                1,
                test::Op::Append("a.1", "x", test::Expected::Any(), "id1"),
                test::Outcome::Written(50, 1),
                30'000,
                31'000};
  entries[0].op.idempotency_id = "id1";
  EXPECT_TRUE(CheckWatermarkAhead("s", log, entries, 1).ok());
}

TEST(CheckGroupWatermarks, Backwards) {
  EXPECT_TRUE(CheckGroupWatermarks({{0, {1, 5, 5, 9}}, {1, {2, 3}}}).ok());
  EXPECT_TRUE(CheckGroupWatermarks({{0, {1, 5, 4}}}).violation());
}

TEST(RunChecks, DivergedReplicaAndBadStreamFail) {
  CheckInput in;
  in.groups = 1;
  in.committed = Events({10, 20, 30});
  SubscriberLog s;
  s.id = 0;
  s.scope = 0;
  s.received = Events({10, 30});  // a gap at 20
  in.subscribers = {s};
  in.subscribers_caught_up = true;
  in.leaders[0] = "n0";
  in.member_logs[0]["n0"] = Events({10, 20, 30});
  in.member_logs[0]["n1"] = Events({10, 20});  // behind
  CheckReport rep = RunChecks(in);
  EXPECT_EQ(rep.verdicts["stream"], "violation");
  EXPECT_EQ(rep.verdicts["replicas"], "violation");
  EXPECT_EQ(rep.verdicts["no-lost-acks"], "violation");  // events nobody wrote
  EXPECT_EQ(rep.verdicts["linearizable"], "ok");

  in.subscribers[0].received = in.committed;
  in.member_logs[0]["n1"] = in.committed;
  rep = RunChecks(in);
  EXPECT_EQ(rep.verdicts["stream"], "ok");
  EXPECT_EQ(rep.verdicts["replicas"], "ok");
}

TEST(CheckBefore, PreviousValueOfTheKey) {
  std::vector<RecordedEvent> log = {
      RecordedEvent::Put("a", 1, 1, "x"), RecordedEvent::Put("b", 2, 1, "y"),
      RecordedEvent::Put("a", 3, 2, "z"), RecordedEvent::Delete("a", 4, 3),
      RecordedEvent::Put("a", 5, 4, "w")};
  std::vector<std::optional<std::string>> befores = {std::nullopt, std::nullopt, "x", "z",
                                                     std::nullopt};
  EXPECT_TRUE(CheckBefore("s", log, befores, log).ok());
  befores[2] = "y";  // another key's value
  test::CheckResult r = CheckBefore("s", log, befores, log);
  EXPECT_TRUE(r.violation());
  EXPECT_EQ(r.key, "a");
  befores[2] = "x";
  befores[4] = "z";  // a value from before the delete
  EXPECT_TRUE(CheckBefore("s", log, befores, log).violation());
}

TEST(InScope, FiltersByGroup) {
  std::vector<RecordedEvent> log;
  for (int i = 0; i < 50; i++)
    log.push_back(RecordedEvent::Put("key" + std::to_string(i), i + 1, 1, ""));
  auto g0 = InScope(log, 0, 2), g1 = InScope(log, 1, 2);
  EXPECT_EQ(g0.size() + g1.size(), log.size());
  EXPECT_GT(g0.size(), 0u);
  EXPECT_GT(g1.size(), 0u);
  EXPECT_EQ(InScope(log, -1, 2).size(), log.size());
  EXPECT_EQ(InScope(log, -1, 2, "key1").size(), 11u);  // key1, key10..key19
}

}  // namespace
}  // namespace rdb::fault
