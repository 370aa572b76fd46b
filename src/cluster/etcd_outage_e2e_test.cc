// etcd unreachable (issue 6), end to end: a real etcd and real rdb-server processes on loopback.
// Writers with idempotency ids are acknowledged, then etcd is killed (kill -9) or stopped
// (SIGTERM). During the outage (1) a write through any node fails with UNAVAILABLE within a
// bounded time, and the message names etcd; (2) nothing acknowledged is lost (leader 1's own log
// holds every acknowledged write, and so does the group's merged view once it is back). When etcd
// returns on the same data directory, (3) writes succeed again by themselves within a few
// LEASE_TTLs, the members' logs converge, and the recorded history is linearizable per key with no
// acknowledged write lost.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>

#include "cluster/cluster_workload.h"

namespace rdb::test {
namespace {

using Millis = std::chrono::milliseconds;

int64_t MsSince(SteadyClock::time_point t) {
  return std::chrono::duration_cast<Millis>(SteadyClock::now() - t).count();
}

class EtcdOutageTest : public ClusterTest {
 protected:
  static constexpr double kLeaseTtlS = 1;

  std::vector<std::string> Addresses(const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& n : names) out.push_back(S(n).address());
    return out;
  }

  // Starts `groups` x 3 nodes and waits until the map is well formed.
  void StartCluster(const std::vector<std::string>& names, uint32_t groups) {
    StartNodes(names, Config(groups, 3), kLeaseTtlS);
    ASSERT_FALSE(WaitWellFormed(names[0], groups, 3, 10000).empty());
  }

  // Leader 1 of each group as `ask` sees the map, once it is well formed; empty on timeout.
  std::map<uint32_t, std::string> Leaders(const std::string& ask, uint32_t groups, int timeout_ms) {
    std::map<uint32_t, std::string> out;
    for (const auto& m : WaitWellFormed(ask, groups, 3, timeout_ms))
      if (m.role() == pb::MEMBER_ROLE_LEADER1) out[m.group()] = m.node();
    return out;
  }

  // One write through each node at a time (fresh ids, never retried) until every node has
  // answered UNAVAILABLE once; returns how long that took from `since`. The outcomes go into the
  // history as unknown (a failed write is never acknowledged, but must not appear either unless
  // the checker allows it).
  int64_t ProbeUnavailable(History* history, const std::vector<std::string>& names,
                           SteadyClock::time_point since, int timeout_ms) {
    std::set<std::string> refused;
    int n = 0;
    auto deadline = SteadyClock::now() + Millis(timeout_ms);
    while (refused.size() < names.size() && SteadyClock::now() < deadline) {
      for (const std::string& name : names) {
        if (refused.count(name)) continue;
        // Keys probe0..probe9 (both groups of a 2 x 3 cluster); they are never retried.
        const std::string key = "probe" + std::to_string(n % 10);
        const std::string id = "probe-" + name + "-" + std::to_string(n++);
        const uint64_t op = history->Invoke(200, Op::Append(key, id, Expected::Any(), id));
        pb::AppendResponse resp;
        const auto sent = SteadyClock::now();
        grpc::Status s = AppendVia(S(name).address(), key, id, id, &resp);
        const int64_t took = MsSince(sent);
        if (s.ok()) {
          history->Complete(op, Outcome::Written(resp.first_seq(), resp.first_version()));
          ADD_FAILURE() << "a write through " << name << " was acknowledged with etcd down";
          continue;
        }
        history->Complete(op, Outcome::Unknown(s.error_message()));
        EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE)
            << name << ": " << s.error_code() << " " << s.error_message();
        EXPECT_NE(s.error_message().find("etcd"), std::string::npos)
            << "the message does not name etcd: " << s.error_message();
        // Leader 1 itself (or a forward that reached it) says why in words (sequencer.cc).
        if (s.error_message().find("no seqs") != std::string::npos) {
          EXPECT_NE(s.error_message().find("etcd is unreachable"), std::string::npos)
              << s.error_message();
        }
        EXPECT_LE(took, 5000) << name << " took " << took << " ms to refuse a write";
        if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
          refused.insert(name);
          std::cerr << "write through " << name << " during the outage (" << MsSince(since)
                    << " ms in, answered in " << took << " ms): UNAVAILABLE \"" << s.error_message()
                    << "\"\n";
        }
      }
      std::this_thread::sleep_for(Millis(20));
    }
    EXPECT_EQ(refused.size(), names.size()) << "not every node refused a write";
    return MsSince(since);
  }

  // The whole scenario on `groups` x 3 nodes named <prefix>0.. ; hard: kill -9 etcd, else SIGTERM;
  // etcd stays away outage_ms (3 s: three lease TTLs, every node has given its lease up and
  // registers again; 0.5 s: about one TTL with etcd's restart).
  void Outage(const std::string& prefix, uint32_t groups, bool hard, int outage_ms = 3000) {
    std::vector<std::string> names;
    for (uint32_t i = 0; i < groups * 3; i++) names.push_back(prefix + std::to_string(i));
    StartCluster(names, groups);
    if (HasFatalFailure()) return;
    History history;
    Writers writers(&history, Addresses(names), 3, 30000);
    Readers readers(&history, Addresses(names), 2, 5);
    ASSERT_TRUE(writers.Progress(30));
    std::map<uint32_t, std::string> before = Leaders(names[0], groups, 5000);
    ASSERT_EQ(before.size(), groups);

    const auto down = SteadyClock::now();
    if (hard) {
      etcd_.Kill();
    } else {
      etcd_.Stop();
    }
    const int64_t stop_ms = MsSince(down);
    const size_t acked_before = writers.count();
    // (1) Writes through every node fail with UNAVAILABLE, naming etcd, within a bounded time.
    const int64_t refused_ms = ProbeUnavailable(&history, names, down, 3000);
    // Writers in flight at the moment etcd went may still be acknowledged; after that, nothing.
    std::this_thread::sleep_for(Millis(100));
    const size_t acked_during = writers.count();
    // (2) Nothing acknowledged is lost: each group's leader 1 (the old one: nothing can change
    // while etcd is away) holds every acknowledged write of its group in its own log.
    std::vector<Acked> acked = writers.acked();
    std::vector<pb::Event> leaders_log;
    for (const auto& [g, leader] : before) {
      std::vector<pb::Event> log = LocalLog(S(leader).address());
      leaders_log.insert(leaders_log.end(), log.begin(), log.end());
    }
    std::sort(leaders_log.begin(), leaders_log.end(),
              [](const pb::Event& a, const pb::Event& b) { return a.seq() < b.seq(); });
    ExpectHolds(leaders_log, acked, "the leaders during the outage", true);
    std::this_thread::sleep_for(Millis(std::max<int64_t>(0, outage_ms - MsSince(down))));
    EXPECT_EQ(writers.count(), acked_during) << "writes acknowledged with etcd down";

    // (3) etcd returns on the same data directory: the cluster recovers by itself.
    const auto up = SteadyClock::now();
    ASSERT_TRUE(etcd_.Start().ok()) << etcd_.log();
    const int64_t etcd_start_ms = MsSince(up);
    ASSERT_TRUE(writers.Progress(1, 15000)) << "no write acknowledged after etcd came back";
    const int64_t resumed_ms = MsSince(up);
    ASSERT_TRUE(writers.Progress(30, 15000));
    std::this_thread::sleep_for(Millis(200));
    writers.Stop();
    readers.Stop();
    EXPECT_EQ(writers.failed(), 0);
    std::cerr << "etcd " << (hard ? "killed (-9)" : "stopped (SIGTERM)") << " in " << stop_ms
              << " ms; " << acked_before << " writes acknowledged before; every node refused a "
              << "write within " << refused_ms << " ms; etcd away " << MsSince(down) - MsSince(up)
              << " ms, restarted in " << etcd_start_ms << " ms; the first write acknowledged "
              << resumed_ms << " ms after the restart; " << writers.count()
              << " acknowledged in all, " << readers.reads() << " reads\n";
    EXPECT_LE(resumed_ms, 5000 + etcd_start_ms) << "writes resumed too late";

    std::map<uint32_t, std::string> after = Leaders(names[0], groups, 10000);
    ASSERT_EQ(after.size(), groups);
    acked = writers.acked();
    std::vector<pb::Event> merged;
    for (const auto& [g, leader] : after) {
      std::vector<std::string> members;
      for (const auto& m : Members(S(names[0]).address()))
        if (m.group() == g && m.node() != leader) members.push_back(m.node());
      std::vector<pb::Event> log, other;
      for (const std::string& m : members) {
        EXPECT_TRUE(WaitFor(
            [&] {
              log = LocalLog(S(leader).address());
              other = LocalLog(S(m).address());
              return SameLog(log, other);
            },
            10000))
            << m << ": " << Summary(other) << "\n"
            << leader << ": " << Summary(log);
      }
      std::cerr << "group " << g << ": leader 1 " << before[g] << " -> " << leader << ", "
                << log.size() << " events, members converged\n";
      merged.insert(merged.end(), log.begin(), log.end());
    }
    std::sort(merged.begin(), merged.end(),
              [](const pb::Event& a, const pb::Event& b) { return a.seq() < b.seq(); });
    ExpectHolds(merged, acked, "the cluster after the outage", true);
    ExpectHistoryHolds(history, merged);
  }
};

TEST_F(EtcdOutageTest, EtcdKilledWritesFailThenResumeByThemselves) { Outage("k", 1, true); }

TEST_F(EtcdOutageTest, EtcdStoppedWritesFailThenResumeByThemselves) { Outage("s", 1, false); }

TEST_F(EtcdOutageTest, EtcdKilledUnderTwoGroupsRecoversEveryGroup) { Outage("t", 2, true); }

// Away 0.5 s (+ about 0.5 s for etcd to start): about one lease TTL.
TEST_F(EtcdOutageTest, EtcdKilledBrieflyWritesResume) { Outage("b", 1, true, 500); }

// A node restarted while etcd is down waits for it (it used to exit with code 1 at once), and
// joins its group again once etcd is back.
TEST_F(EtcdOutageTest, ANodeRestartedDuringTheOutageWaitsForEtcd) {
  StartCluster({"r0", "r1", "r2"}, 1);
  ASSERT_EQ(S("r2").Stop(), 0);
  etcd_.Kill();
  Status started = Status::Unavailable("not started");
  std::thread start([&] { started = S("r2").Start(30000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the node is retrying now
  ASSERT_TRUE(etcd_.Start().ok()) << etcd_.log();
  start.join();
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_NE(S("r2").log().find("etcd is not reachable yet"), std::string::npos) << S("r2").log();
  EXPECT_FALSE(WaitWellFormed("r0", 1, 3, 15000).empty());
}

}  // namespace
}  // namespace rdb::test
