// Replication between real engines over real gRPC on loopback, without etcd: the leader's seqs
// come from a counter (the etcd sequencer has its own tests), everything else is the product's:
// Replicator, ReplicationService, the engine's commit hook, log matching and truncation.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "cluster/recovery.h"
#include "cluster/replication_service.h"
#include "cluster/replicator.h"
#include "tests/support/temp_dir.h"

namespace rdb::cluster {
namespace {

// A member: an engine and its ReplicationService on a loopback port.
struct Member {
  explicit Member(std::string name) : name(std::move(name)) { Open(); }
  ~Member() { StopServer(); }
  void Open() {
    EngineOptions o;
    o.data_dir = dir.path();
    o.cluster = true;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(e).value();
  }
  void StartServer(int port = 0) {
    service = std::make_unique<ReplicationService>(engine.get(), 0, name);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                       &this->port);
    b.RegisterService(service.get());
    server = b.BuildAndStart();
    ASSERT_TRUE(server != nullptr);
  }
  void StopServer() {
    if (server) server->Shutdown(std::chrono::system_clock::now());
    server.reset();
  }
  ReplicaPeer peer(int64_t id) const { return {id, name, "127.0.0.1:" + std::to_string(port)}; }
  std::vector<std::pair<uint64_t, std::string>> Log() {
    auto r = engine->ReadAll({0, kReadLimitMax, true});
    EXPECT_TRUE(r.ok());
    std::vector<std::pair<uint64_t, std::string>> out;
    if (r.ok())
      for (const Event& e : r->events) out.emplace_back(e.seq, e.key + "=" + e.payload);
    return out;
  }

  std::string name;
  test::TempDir dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ReplicationService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

// Leader 1: seqs from a counter, replication through the real Replicator.
class CounterHook : public CommitHook {
 public:
  CounterHook(Replicator* r, uint64_t epoch, uint64_t next) : r_(r), epoch_(epoch), next_(next) {}
  Result<SeqGrant> TakeSeqs(uint32_t n) override {
    SeqGrant g{next_, epoch_};
    next_ += n + 10;
    return g;
  }
  Status Replicate(uint64_t prev, const std::vector<std::string>& bodies, uint64_t last) override {
    return r_->Replicate(prev, bodies, last);
  }

 private:
  Replicator* r_;
  uint64_t epoch_;
  uint64_t next_;
};

bool Eventually(const std::function<bool()>& cond, int timeout_ms = 10000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

Result<AppendResult> Put(Engine* e, const std::string& key, const std::string& value) {
  AppendRequest req;
  req.key = key;
  req.events.push_back({EventKind::kPut, "", value});
  return e->Append(std::move(req));
}

ReplicatorOptions Options(uint64_t epoch, std::atomic<bool>* leader) {
  ReplicatorOptions o;
  o.group = 0;
  o.epoch = epoch;
  o.node = "leader";
  o.writes = 2;
  o.still_leader = [leader] { return leader->load(); };
  o.retry_interval_ms = 20;
  return o;
}

TEST(Replication, AcknowledgedWritesAreOnLeader2AndFollowersCatchUp) {
  Member leader("l"), a("a"), b("b");
  a.StartServer();  // leader 2
  std::atomic<bool> is_leader{true};
  Replicator rep(leader.engine.get(), Options(100, &is_leader));
  rep.SetPeers({a.peer(1), b.peer(2)});  // b is not up yet: W = 2 is leader + leader 2
  CounterHook hook(&rep, 100, 5000);
  leader.engine->SetCommitHook(&hook);
  std::vector<std::thread> writers;
  std::mutex mu;
  std::vector<uint64_t> acked;
  for (int t = 0; t < 4; t++) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 25; i++) {
        auto r = Put(leader.engine.get(), "k" + std::to_string(t), std::to_string(i));
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        // Acknowledged means leader 2 holds it, durably, right now.
        ASSERT_GE(a.engine->last_seq(), r->last_seq);
        std::lock_guard lock(mu);
        acked.push_back(r->last_seq);
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(acked.size(), 100u);
  EXPECT_EQ(a.Log(), leader.Log());
  EXPECT_EQ(a.engine->last_epoch(), 100u);
  // a knows it is the caught-up leader 2 of epoch 100 (it may take over without reading tails).
  EXPECT_EQ(a.service->caught_up_leader2_epoch(), 100u);
  // The follower comes up late and catches up from the leader's log.
  b.StartServer();
  rep.SetPeers({a.peer(1), b.peer(2)});
  ASSERT_TRUE(Eventually([&] { return b.engine->last_seq() == leader.engine->last_seq(); }));
  EXPECT_EQ(b.Log(), leader.Log());
  EXPECT_EQ(b.service->caught_up_leader2_epoch(), 0u);  // a follower, never named leader 2
  EXPECT_TRUE(b.service->caught_up());
  // Leader 2 changes: b is named, a is not any more.
  rep.SetPeers({b.peer(2), a.peer(1)});
  ASSERT_TRUE(Put(leader.engine.get(), "k0", "again").ok());
  ASSERT_TRUE(Eventually([&] { return b.service->caught_up_leader2_epoch() == 100u; }));
  ASSERT_TRUE(Eventually([&] { return a.service->caught_up_leader2_epoch() == 0u; }));
  leader.engine->SetCommitHook(nullptr);
}

TEST(Replication, WithoutLeader2WritesWaitAndADeposedLeaderAcknowledgesNothing) {
  Member leader("l"), a("a"), b("b");
  b.StartServer();  // a follower answers, leader 2 does not
  a.StartServer();
  const ReplicaPeer leader2 = a.peer(1);
  a.StopServer();
  std::atomic<bool> is_leader{true};
  Replicator rep(leader.engine.get(), Options(100, &is_leader));
  rep.SetPeers({leader2, b.peer(2)});
  CounterHook hook(&rep, 100, 5000);
  leader.engine->SetCommitHook(&hook);
  auto pending = std::async(std::launch::async, [&] { return Put(leader.engine.get(), "k", "v"); });
  // b holds it, but without leader 2 it is not acknowledged.
  ASSERT_TRUE(Eventually([&] { return b.engine->last_seq() > 0; }));
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  is_leader = false;  // deposed meanwhile
  auto r = pending.get();
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  // Not acknowledged, and not in the leader's log either.
  EXPECT_TRUE(leader.Log().empty());
  EXPECT_EQ(leader.engine->Get("k").status().code(), Code::kNotFound);
  leader.engine->SetCommitHook(nullptr);
}

TEST(Replication, AMemberCutsTheSuffixOfAnOlderEpochThatTheNewLeaderLacks) {
  Member old_leader("old"), leader("new"), a("a");
  a.StartServer();
  leader.StartServer();
  // Epoch 50: the old leader writes three records; the new leader receives two of them, member a
  // all three (the third was never acknowledged: the old leader died before W members had it).
  {
    std::atomic<bool> is_leader{true};
    Replicator rep(old_leader.engine.get(), Options(50, &is_leader));
    rep.SetPeers({leader.peer(1), a.peer(2)});
    CounterHook hook(&rep, 50, 1000);
    old_leader.engine->SetCommitHook(&hook);
    ASSERT_TRUE(Put(old_leader.engine.get(), "x", "1").ok());
    ASSERT_TRUE(Put(old_leader.engine.get(), "y", "1").ok());
    ASSERT_TRUE(Eventually([&] { return a.engine->last_seq() == leader.engine->last_seq(); }));
    rep.SetPeers({a.peer(2)});  // the new leader is cut off from here on
    ReplicatorOptions o = Options(50, &is_leader);
    o.writes = 1;  // only to let the old leader write its unacknowledged third record
    Replicator rep1(old_leader.engine.get(), o);
    old_leader.engine->SetCommitHook(nullptr);
    rep.Stop();
    rep1.SetPeers({a.peer(2)});
    CounterHook hook1(&rep1, 50, 3000);
    old_leader.engine->SetCommitHook(&hook1);
    ASSERT_TRUE(Put(old_leader.engine.get(), "x", "lost").ok());
    ASSERT_TRUE(Eventually([&] { return a.engine->last_seq() == old_leader.engine->last_seq(); }));
    old_leader.engine->SetCommitHook(nullptr);
  }
  ASSERT_EQ(a.Log().size(), 3u);
  ASSERT_EQ(leader.Log().size(), 2u);
  // Epoch 70: the new leader takes over; a's third record is cut, then it follows the new log.
  leader.StopServer();
  std::atomic<bool> is_leader{true};
  Replicator rep(leader.engine.get(), Options(70, &is_leader));
  rep.SetPeers({a.peer(2)});
  CounterHook hook(&rep, 70, 9000);
  leader.engine->SetCommitHook(&hook);
  auto r = Put(leader.engine.get(), "x", "2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first_version, 2u);  // x's version 2 of epoch 50 never happened
  EXPECT_EQ(a.Log(), leader.Log());
  EXPECT_EQ(a.engine->Get("x")->payload, "2");
  EXPECT_EQ(a.engine->last_epoch(), 70u);
  leader.engine->SetCommitHook(nullptr);
}

TEST(Replication, ANewerEpochFencesTheOldLeaderOut) {
  Member old_leader("old"), leader("new"), a("a");
  a.StartServer();
  std::atomic<bool> old_is_leader{true}, is_leader{true};
  Replicator old_rep(old_leader.engine.get(), Options(50, &old_is_leader));
  old_rep.SetPeers({a.peer(1)});
  CounterHook old_hook(&old_rep, 50, 1000);
  old_leader.engine->SetCommitHook(&old_hook);
  ASSERT_TRUE(Put(old_leader.engine.get(), "k", "old").ok());
  // The new leader (it holds the same log) takes over in epoch 70 and writes.
  ASSERT_TRUE(Eventually([&] { return a.Log() == old_leader.Log(); }));
  auto held = a.engine->ReadAll({0, 10, true});
  ASSERT_TRUE(held.ok());
  for (const Event& e : held->events) {
    LogRecord rec;
    rec.epoch = 50;
    rec.first_seq = e.seq;
    rec.first_version = e.version;
    rec.timestamp_ms = e.timestamp_ms;
    rec.key = e.key;
    rec.events.push_back({e.kind, e.version == 1, e.event_type, e.payload});
    ASSERT_TRUE(leader.engine->AppendReplicated(rec).ok());
  }
  Replicator rep(leader.engine.get(), Options(70, &is_leader));
  rep.SetPeers({a.peer(1)});
  CounterHook hook(&rep, 70, 5000);
  leader.engine->SetCommitHook(&hook);
  ASSERT_TRUE(Put(leader.engine.get(), "k", "new").ok());
  // The old leader (paused, say, and back) gets no acknowledgement from a any more.
  auto stale =
      std::async(std::launch::async, [&] { return Put(old_leader.engine.get(), "k", "stale"); });
  EXPECT_EQ(stale.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
  old_is_leader = false;
  EXPECT_FALSE(stale.get().ok());
  EXPECT_EQ(a.engine->Get("k")->payload, "new");
  EXPECT_EQ(a.engine->last_epoch(), 70u);
  old_leader.engine->SetCommitHook(nullptr);
  leader.engine->SetCommitHook(nullptr);
}

// A record as leader `epoch` would ship it.
std::string Body(const std::string& key, uint64_t seq, uint64_t version, uint64_t epoch) {
  LogRecord r;
  r.epoch = epoch;
  r.first_seq = seq;
  r.first_version = version;
  r.timestamp_ms = 1;
  r.key = key;
  const std::string payload = "v" + std::to_string(seq);  // the record views it
  r.events.push_back({EventKind::kPut, version == 1, "", payload});
  std::string body;
  EncodeRecordBody(r, &body);
  return body;
}

TEST(Replication, TailRecoveryCopiesWhatTheMostAdvancedMemberHolds) {
  Member newcomer("n"), a("a"), b("b");
  a.StartServer();
  b.StartServer();
  // a holds epochs 5 and 9; b only part of epoch 5; the would-be leader has an epoch-5 record
  // (seq 2500) that a never got: an unacknowledged suffix.
  ASSERT_TRUE(ApplyReplicatedBodies(a.engine.get(), {Body("k", 1024, 1, 5), Body("k", 2048, 2, 5),
                                                     Body("k", 4096, 3, 9), Body("j", 5120, 1, 9)})
                  .ok());
  ASSERT_TRUE(ApplyReplicatedBodies(b.engine.get(), {Body("k", 1024, 1, 5)}).ok());
  ASSERT_TRUE(
      ApplyReplicatedBodies(newcomer.engine.get(),
                            {Body("k", 1024, 1, 5), Body("k", 2048, 2, 5), Body("x", 2500, 1, 5)})
          .ok());
  RecoveryOptions o;
  o.group = 0;
  o.answers_needed = 3;
  auto r = RecoverTail(newcomer.engine.get(), {a.peer(1), b.peer(2)}, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->answers, 3u);
  EXPECT_EQ(r->truncated_after, 2048u);
  EXPECT_EQ(r->fetched_records, 2u);
  EXPECT_EQ(newcomer.Log(), a.Log());
  EXPECT_EQ(newcomer.engine->last_epoch(), 9u);
  EXPECT_EQ(newcomer.engine->Get("x").status().code(), Code::kNotFound);
}

TEST(Replication, TailRecoveryWithoutEnoughAnswersChangesNothing) {
  Member newcomer("n"), a("a"), down("down");
  a.StartServer();
  down.StartServer();
  const ReplicaPeer gone = down.peer(2);
  down.StopServer();
  ASSERT_TRUE(ApplyReplicatedBodies(a.engine.get(), {Body("k", 1024, 1, 5)}).ok());
  RecoveryOptions o;
  o.group = 0;
  o.answers_needed = 3;
  auto r = RecoverTail(newcomer.engine.get(), {a.peer(1), gone}, o);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_TRUE(newcomer.Log().empty());
  // Promotion of leader 2 (one answer needed: its own) still takes what a reachable member has.
  o.answers_needed = 1;
  r = RecoverTail(newcomer.engine.get(), {a.peer(1), gone}, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->answers, 2u);
  EXPECT_EQ(newcomer.Log(), a.Log());
}

}  // namespace
}  // namespace rdb::cluster
