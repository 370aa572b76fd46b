// The engine's side of cluster mode: client appends only through a CommitHook (seqs and epoch
// from it, committed only once it says the group is replicated), replicated records, and the
// epoch history that log matching uses. The hook here is an in-process stand-in for the cluster's
// replicator (its real use is tested end to end in src/cluster).
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "engine/engine.h"
#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

class TestHook : public CommitHook {
 public:
  Result<SeqGrant> TakeSeqs(uint32_t n) override {
    std::lock_guard lock(mu);
    max_n = std::max(max_n, n);
    if (!take_error.ok()) return take_error;
    SeqGrant g{next, epoch};
    next += n + gap;  // seqs need not be dense
    return g;
  }
  Status Replicate(uint64_t prev_seq, const std::vector<std::string>& bodies,
                   uint64_t last_seq) override {
    std::lock_guard lock(mu);
    calls++;
    prevs.push_back(prev_seq);
    for (const std::string& b : bodies) shipped.push_back(b);
    lasts.push_back(last_seq);
    return replicate_error;
  }

  std::mutex mu;
  uint64_t next = 1024;
  uint64_t gap = 0;
  uint64_t epoch = 7;
  uint32_t max_n = 0;
  int calls = 0;
  Status take_error;
  Status replicate_error;
  std::vector<uint64_t> prevs, lasts;
  std::vector<std::string> shipped;
};

class ClusterCommitTest : public ::testing::Test {
 protected:
  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = dir_.path();
    o.cluster = true;
    o.group_commit_events_max = 16;
    return o;
  }
  void Open() {
    engine_.reset();
    auto e = Engine::Open(Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }
  Result<AppendResult> Put(const std::string& key, const std::string& payload,
                           ExpectedVersion ev = ExpectedVersion::Any()) {
    AppendRequest req;
    req.key = key;
    req.events.push_back({EventKind::kPut, "", payload});
    req.expected = ev;
    return engine_->Append(std::move(req));
  }
  std::vector<Event> All() {
    auto r = engine_->ReadAll({0, kReadLimitMax, true});
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->events : std::vector<Event>{};
  }
  // A record as a leader of `epoch` would ship it.
  static std::string Body(const std::string& key, uint64_t seq, uint64_t version, uint64_t epoch,
                          const std::string& payload) {
    LogRecord r;
    r.epoch = epoch;
    r.first_seq = seq;
    r.first_version = version;
    r.timestamp_ms = 1;
    r.key = key;
    r.events.push_back({EventKind::kPut, version == 1, "", payload});
    std::string body;
    EncodeRecordBody(r, &body);
    return body;
  }
  Status ApplyReplicated(std::string body) {
    std::promise<Status> done;
    engine_->AppendReplicatedAsync(std::move(body),
                                   [&](Result<AppendResult> r) { done.set_value(r.status()); });
    return done.get_future().get();
  }

  test::TempDir dir_;
  std::unique_ptr<Engine> engine_;
  TestHook hook_;
};

TEST_F(ClusterCommitTest, ClientAppendsNeedTheHook) {
  Open();
  auto r = Put("k", "v");
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_TRUE(All().empty());
  engine_->SetCommitHook(&hook_);
  r = Put("k", "v");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first_seq, 1024u);
  EXPECT_EQ(r->first_version, 1u);
  engine_->SetCommitHook(nullptr);
  EXPECT_EQ(Put("k", "w").status().code(), Code::kUnavailable);
  EXPECT_EQ(All().size(), 1u);
}

TEST_F(ClusterCommitTest, SeqsAndEpochComeFromTheHookAndTheGroupIsShippedBeforeItIsVisible) {
  Open();
  engine_->SetCommitHook(&hook_);
  hook_.gap = 100;
  ASSERT_TRUE(Put("a", "1").ok());
  auto second = Put("b", "2");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->first_seq, 1024u + 1 + 100);
  auto events = All();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].epoch, 7u);
  EXPECT_EQ(events[1].epoch, 7u);
  EXPECT_EQ(engine_->last_epoch(), 7u);
  // Each group went to the hook with the log's end before it.
  ASSERT_EQ(hook_.prevs.size(), 2u);
  EXPECT_EQ(hook_.prevs[0], 0u);
  EXPECT_EQ(hook_.prevs[1], 1024u);
  EXPECT_EQ(hook_.lasts[1], second->last_seq);
  LogRecord shipped;
  ASSERT_TRUE(DecodeRecordBody(hook_.shipped[1], &shipped).ok());
  EXPECT_EQ(shipped.key, "b");
  EXPECT_EQ(shipped.first_seq, second->first_seq);
  EXPECT_EQ(shipped.epoch, 7u);
}

TEST_F(ClusterCommitTest, AnUnreplicatedGroupIsCutFromTheLogAndNeverVisible) {
  Open();
  engine_->SetCommitHook(&hook_);
  ASSERT_TRUE(Put("k", "kept").ok());
  hook_.replicate_error = Status::Unavailable("leader 2 does not answer");
  auto r = Put("k", "lost");
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("leader 2 does not answer"), std::string::npos);
  auto got = engine_->Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->payload, "kept");
  EXPECT_EQ(All().size(), 1u);
  EXPECT_EQ(engine_->last_seq(), 1024u);
  // The key's version goes on from what is really in the log.
  hook_.replicate_error = Status::OK();
  auto again = Put("k", "next", ExpectedVersion::Exact(1));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->first_version, 2u);
  // It survives a restart as it is: two events, no trace of the cut one.
  ASSERT_TRUE(engine_->Close().ok());
  Open();
  auto events = All();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].payload, "next");
}

TEST_F(ClusterCommitTest, NoSeqsMeansNothingWritten) {
  Open();
  engine_->SetCommitHook(&hook_);
  hook_.take_error = Status::FailedPrecondition("deposed: epoch 7 is over");
  auto r = Put("k", "v");
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(hook_.calls, 0);
  EXPECT_TRUE(All().empty());
}

TEST_F(ClusterCommitTest, AGroupTakesAtMostTheEventCapOfSeqs) {
  Open();
  engine_->SetCommitHook(&hook_);
  std::vector<std::thread> writers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; t++) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 50; i++) {
        AppendRequest req;
        req.key = "k" + std::to_string(t);
        for (int e = 0; e < 3; e++) req.events.push_back({EventKind::kPut, "", "x"});
        if (engine_->Append(std::move(req)).ok()) ok++;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(ok.load(), 400);
  EXPECT_LE(hook_.max_n, 16u);
  EXPECT_EQ(All().size(), 1200u);
}

TEST_F(ClusterCommitTest, FollowerAppliesReplicatedRecordsAndRefusesOlderEpochs) {
  Open();
  ASSERT_TRUE(ApplyReplicated(Body("k", 2048, 1, 5, "a")).ok());
  ASSERT_TRUE(ApplyReplicated(Body("k", 3072, 2, 9, "b")).ok());
  EXPECT_EQ(engine_->last_epoch(), 9u);
  EXPECT_EQ(engine_->EpochEndSeq(5), 2048u);
  EXPECT_EQ(engine_->EpochEndSeq(9), 3072u);
  Status old = ApplyReplicated(Body("k", 4096, 3, 5, "c"));
  EXPECT_EQ(old.code(), Code::kFailedPrecondition) << old.ToString();
  EXPECT_EQ(ApplyReplicated("garbage").code(), Code::kCorruption);
  // A leader takes no replicated records.
  engine_->SetCommitHook(&hook_);
  EXPECT_EQ(ApplyReplicated(Body("k", 5120, 3, 9, "d")).code(), Code::kFailedPrecondition);
  engine_->SetCommitHook(nullptr);
  EXPECT_EQ(engine_->Get("k")->payload, "b");
}

TEST_F(ClusterCommitTest, TruncationDropsTheEpochsItCutAndTheHistorySurvivesRestarts) {
  Open();
  ASSERT_TRUE(ApplyReplicated(Body("k", 2048, 1, 5, "a")).ok());
  ASSERT_TRUE(ApplyReplicated(Body("k", 3072, 2, 9, "b")).ok());
  ASSERT_TRUE(engine_->TruncateAfter(2048).ok());
  EXPECT_EQ(engine_->last_epoch(), 5u);
  EXPECT_EQ(engine_->EpochEndSeq(5), 2048u);
  // The new leader's record of epoch 11 continues the key's versions after the cut.
  ASSERT_TRUE(ApplyReplicated(Body("k", 4096, 2, 11, "c")).ok());
  ASSERT_TRUE(engine_->Close().ok());
  Open();
  EXPECT_EQ(engine_->last_epoch(), 11u);
  EXPECT_EQ(engine_->EpochEndSeq(5), 2048u);
  EXPECT_EQ(engine_->EpochEndSeq(9), 2048u);
  EXPECT_EQ(engine_->Get("k")->payload, "c");
}

TEST_F(ClusterCommitTest, AReplicatedBatchSharesItsFsyncs) {
  // Regression (found by the cluster benchmark): records applied one by one each took a group
  // commit and an fdatasync of their own; a batch takes one for all (within the group limits).
  Open();
  std::vector<std::string> bodies;
  for (uint64_t i = 0; i < 12; i++) bodies.push_back(Body("k", 2048 + i, 1 + i, 5, "x"));
  const uint64_t syncs = engine_->stats().log_syncs;
  std::promise<void> all;
  std::atomic<int> left{12}, failed{0};
  engine_->AppendReplicatedBatchAsync(bodies, [&](Result<AppendResult> r) {
    if (!r.ok()) failed++;
    if (--left == 0) all.set_value();
  });
  all.get_future().get();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(engine_->last_seq(), 2048u + 11);
  EXPECT_LE(engine_->stats().log_syncs - syncs, 2u);
  // A bad record in a batch: the ones before it apply, it and the rest fail.
  std::vector<std::string> mixed = {Body("k", 3000, 13, 5, "y"), "garbage",
                                    Body("k", 3001, 14, 5, "z")};
  std::promise<void> done;
  std::atomic<int> n{3}, bad{0};
  engine_->AppendReplicatedBatchAsync(mixed, [&](Result<AppendResult> r) {
    if (!r.ok()) bad++;
    if (--n == 0) done.set_value();
  });
  done.get_future().get();
  EXPECT_EQ(bad.load(), 2);
  EXPECT_EQ(engine_->last_seq(), 3000u);
}

TEST_F(ClusterCommitTest, AFollowerTakesRecordsAfterARestart) {
  // Regression: the local sequencer's reservation runs 2^20 seqs ahead of the log after a
  // restart; replicated records must be checked against the log's end, not against it.
  Open();
  ASSERT_TRUE(ApplyReplicated(Body("k", 2048, 1, 5, "a")).ok());
  ASSERT_TRUE(engine_->Close().ok());
  Open();
  Status s = ApplyReplicated(Body("k", 3072, 2, 5, "b"));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ApplyReplicated(Body("k", 3072, 3, 5, "again")).code(), Code::kFailedPrecondition);
  EXPECT_EQ(engine_->Get("k")->payload, "b");
}

}  // namespace
}  // namespace rdb
