// Replication end to end: a real etcd and real rdb-server processes on loopback. Writes through
// any node reach leader 1 of the key's group, are numbered by the batched etcd sequencer and are
// acknowledged once `writes` members hold them; a kill -9 of leader 1 under load loses no
// acknowledged write, and the killed node rejoins, drops what it alone held, and converges.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>

#include "cluster/cluster_fixture.h"

namespace rdb::test {
namespace {

struct Acked {
  std::string key;
  std::string payload;
  uint64_t seq = 0;
  uint64_t version = 0;
};

// One append through `address`, with an idempotency id.
grpc::Status AppendVia(const std::string& address, const std::string& key,
                       const std::string& payload, const std::string& id,
                       pb::AppendResponse* resp) {
  pb::AppendRequest req;
  req.set_key(key);
  req.add_events()->set_payload(payload);
  req.set_idempotency_id(id);
  return Call(address, [&](pb::EventStore::Stub* st, grpc::ClientContext* ctx) {
    return st->Append(ctx, req, resp);
  });
}

// Retries (same id, so at most once) through the given nodes in turn until acknowledged or
// timeout_ms passes.
bool AppendWithRetry(const std::vector<std::string>& addresses, const std::string& key,
                     const std::string& payload, const std::string& id, Acked* out,
                     int timeout_ms = 15000) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  for (size_t attempt = 0; SteadyClock::now() < deadline; attempt++) {
    pb::AppendResponse resp;
    grpc::Status s = AppendVia(addresses[attempt % addresses.size()], key, payload, id, &resp);
    if (s.ok()) {
      *out = {key, payload, resp.first_seq(), resp.first_version()};
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::vector<pb::Event> LocalLog(const std::string& address) {
  pb::ReadAllRequest req;
  req.set_limit(10000);
  pb::ReadAllResponse resp;
  grpc::Status s = Call(address, [&](pb::EventStore::Stub* st, grpc::ClientContext* ctx) {
    return st->ReadAll(ctx, req, &resp);
  });
  if (!s.ok()) return {};
  return {resp.events().begin(), resp.events().end()};
}

std::string Summary(const std::vector<pb::Event>& log) {
  std::string out;
  for (const auto& e : log) out += std::to_string(e.seq()) + ":" + e.key() + " ";
  return out;
}

bool SameLog(const std::vector<pb::Event>& a, const std::vector<pb::Event>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].seq() != b[i].seq() || a[i].key() != b[i].key() || a[i].version() != b[i].version() ||
        a[i].payload() != b[i].payload()) {
      return false;
    }
  }
  return true;
}

// Every acknowledged write is in `log` with its seq, version and payload; versions per key have
// no gaps; seqs strictly increase.
void ExpectHolds(const std::vector<pb::Event>& log, const std::vector<Acked>& acked,
                 const std::string& who) {
  std::map<uint64_t, const pb::Event*> by_seq;
  std::map<std::string, uint64_t> versions;
  uint64_t prev = 0;
  for (const auto& e : log) {
    EXPECT_GT(e.seq(), prev) << who;
    prev = e.seq();
    by_seq[e.seq()] = &e;
    EXPECT_EQ(e.version(), ++versions[e.key()]) << who << ": " << e.key();
  }
  for (const Acked& a : acked) {
    auto it = by_seq.find(a.seq);
    ASSERT_NE(it, by_seq.end()) << who << " lost acknowledged seq " << a.seq << " (" << a.key
                                << ")";
    EXPECT_EQ(it->second->key(), a.key);
    EXPECT_EQ(it->second->payload(), a.payload);
    EXPECT_EQ(it->second->version(), a.version);
  }
}

TEST_F(ClusterTest, WritesThroughEveryNodeAreReplicatedWithUniqueIncreasingSeqs) {
  const std::vector<std::string> names = {"n0", "n1", "n2", "n3", "n4", "n5"};
  StartNodes(names, Config(2, 3));
  std::vector<pb::Member> ms;
  ASSERT_TRUE(WaitFor(
      [&] {
        ms = Members(S("n0").address());
        return ms.size() == 6 && WellFormed(ms, 2, 3);
      },
      10000))
      << Describe(ms);
  std::vector<std::vector<Acked>> per_writer(names.size());
  std::vector<std::thread> writers;
  for (size_t w = 0; w < names.size(); w++) {
    writers.emplace_back([&, w] {
      const std::string addr = S(names[w]).address();
      for (int i = 0; i < 30; i++) {
        Acked a;
        const std::string key = "w" + std::to_string(w) + "-k" + std::to_string(i % 5);
        ASSERT_TRUE(AppendWithRetry({addr}, key, "p" + std::to_string(i),
                                    "id-" + std::to_string(w) + "-" + std::to_string(i), &a))
            << "through " << names[w];
        per_writer[w].push_back(a);
      }
    });
  }
  for (auto& t : writers) t.join();
  std::set<uint64_t> seqs;
  std::vector<Acked> all;
  for (const auto& acks : per_writer) {
    for (size_t i = 0; i < acks.size(); i++) {
      EXPECT_TRUE(seqs.insert(acks[i].seq).second) << "seq " << acks[i].seq << " issued twice";
      // Each writer's appends start after its previous one was acknowledged, on keys of both
      // groups: real-time order across groups.
      if (i > 0) {
        EXPECT_GT(acks[i].seq, acks[i - 1].seq);
      }
      all.push_back(acks[i]);
    }
  }
  ASSERT_EQ(all.size(), 180u);
  // Within each group every member converges on one log, and together the groups hold every
  // acknowledged write exactly once.
  std::vector<pb::Event> union_log;
  for (uint32_t g = 0; g < 2; g++) {
    std::vector<std::string> group;
    for (const auto& m : ms)
      if (m.group() == g) group.push_back(m.node());
    std::vector<pb::Event> first;
    ASSERT_TRUE(WaitFor(
        [&] {
          first = LocalLog(S(group[0]).address());
          for (size_t i = 1; i < group.size(); i++)
            if (!SameLog(first, LocalLog(S(group[i]).address()))) return false;
          return true;
        },
        10000))
        << "group " << g << " members differ; " << group[0] << ": " << Summary(first);
    EXPECT_FALSE(first.empty()) << "group " << g << " got no key";
    union_log.insert(union_log.end(), first.begin(), first.end());
  }
  std::sort(union_log.begin(), union_log.end(),
            [](const pb::Event& a, const pb::Event& b) { return a.seq() < b.seq(); });
  EXPECT_EQ(union_log.size(), all.size());
  ExpectHolds(union_log, all, "the cluster");
}

TEST_F(ClusterTest, KillLeader1UnderWritesLosesNoAcknowledgedWrite) {
  StartNodes({"k0", "k1", "k2"}, Config(1, 3));
  std::vector<pb::Member> ms;
  ASSERT_TRUE(WaitFor(
      [&] {
        ms = Members(S("k1").address());
        return ms.size() == 3 && WellFormed(ms, 1, 3) &&
               Find(ms, "k0")->role() == pb::MEMBER_ROLE_LEADER1;
      },
      10000))
      << Describe(ms);
  const std::vector<std::string> via = {S("k2").address(), S("k1").address()};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Acked> acked;
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; w++) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop.load(); i++) {
        Acked a;
        const std::string key = "key" + std::to_string((w * 7 + i) % 10);
        const std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
        // Every write is eventually acknowledged (retried with its id through the survivors).
        ASSERT_TRUE(AppendWithRetry(via, key, id, id, &a)) << id;
        std::lock_guard lock(mu);
        acked.push_back(a);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  size_t before_kill = 0;
  {
    std::lock_guard lock(mu);
    before_kill = acked.size();
  }
  S("k0").Kill();
  auto killed = SteadyClock::now();
  // Writes resume on the new leader 1 (k1) within LEASE_TTL + 1 s.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard lock(mu);
        return acked.size() > before_kill + 20;
      },
      10000));
  const auto resumed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - killed).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  for (auto& t : writers) t.join();
  std::cerr << "acknowledged " << acked.size() << " writes (" << before_kill
            << " before the kill); writes resumed " << resumed_ms << " ms after it\n";
  EXPECT_GT(before_kill, 10u);
  EXPECT_LE(resumed_ms, 2000 + 1000);  // TTL 1 s (+ etcd's 0.5 s expiry check) + 1 s
  ms = Members(S("k1").address());
  ASSERT_NE(Find(ms, "k1"), nullptr);
  EXPECT_EQ(Find(ms, "k1")->role(), pb::MEMBER_ROLE_LEADER1) << Describe(ms);
  // Both survivors hold every acknowledged write.
  std::vector<pb::Event> leader_log;
  ASSERT_TRUE(WaitFor(
      [&] {
        leader_log = LocalLog(S("k1").address());
        return SameLog(leader_log, LocalLog(S("k2").address()));
      },
      10000));
  ExpectHolds(leader_log, acked, "k1");
  // The old leader restarts, rejoins as a follower, drops whatever it alone held, and converges.
  ASSERT_TRUE(S("k0").Start().ok());
  std::vector<pb::Event> old_log;
  ASSERT_TRUE(WaitFor(
      [&] {
        old_log = LocalLog(S("k0").address());
        return SameLog(old_log, LocalLog(S("k1").address()));
      },
      15000))
      << "k0: " << Summary(old_log) << "\nk1: " << Summary(LocalLog(S("k1").address()));
  ms = Members(S("k1").address());
  ASSERT_NE(Find(ms, "k0"), nullptr);
  EXPECT_EQ(Find(ms, "k0")->role(), pb::MEMBER_ROLE_FOLLOWER);
}

}  // namespace
}  // namespace rdb::test
