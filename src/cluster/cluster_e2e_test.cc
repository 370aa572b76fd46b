// The control plane end to end: a real etcd (fast timings, so a 1 s lease is honoured) and real
// rdb-server processes on loopback. Covers the member map and roles of 2 groups x 3 nodes, the
// shape check, a full cluster, rejoining the same slot, failover on kill -9 within LEASE_TTL + 1 s,
// hand-over on SIGTERM well under the TTL, a vacant slot taken by a new node, and writes in a
// one-member group. Every process dies with the test (fixtures' destructors, PDEATHSIG).
#include "cluster/cluster_fixture.h"

namespace rdb::test {
namespace {

TEST_F(ClusterTest, TwoGroupsOfThreeHaveTwoLeadersEach) {
  std::string cfg = Config(2, 3);
  StartNodes({"n0", "n1", "n2", "n3", "n4", "n5"}, cfg);
  std::vector<pb::Member> ms = WaitWellFormed("n0", 2, 3, 10000);
  ASSERT_FALSE(ms.empty());
  // Ids count from 0 in start order; group = id / group_size; the first to campaign leads: the
  // group's first node (the later ones campaign once caught up, in whichever order that happens,
  // so leader 2 is either of them; WellFormed checked there is one).
  for (int i = 0; i < 6; ++i) {
    const pb::Member* m = Find(ms, "n" + std::to_string(i));
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->id(), static_cast<uint64_t>(i));
    EXPECT_EQ(m->group(), static_cast<uint32_t>(i / 3));
    EXPECT_EQ(m->address(), S(m->node()).address());
    EXPECT_EQ(m->role() == pb::MEMBER_ROLE_LEADER1, i % 3 == 0) << i;
    EXPECT_EQ(m->lag(), 0u);
  }
  EXPECT_NE(Find(ms, "n0")->epoch(), Find(ms, "n3")->epoch());
  // Every node tells the same story, and its Status agrees with the map.
  for (int i = 0; i < 6; ++i) {
    std::string name = "n" + std::to_string(i);
    std::vector<pb::Member> other = WaitWellFormed(name, 2, 3, 5000);
    ASSERT_FALSE(other.empty());
    for (const auto& m : other) EXPECT_EQ(Find(ms, m.node())->role(), m.role()) << m.node();
    const pb::Member* me = Find(ms, name);
    pb::StatusResponse st;
    ASSERT_TRUE(WaitFor(
        [&] {
          st = NodeStatus(S(name).address());
          return st.role() == (me->role() == pb::MEMBER_ROLE_LEADER1   ? "leader1"
                               : me->role() == pb::MEMBER_ROLE_LEADER2 ? "leader2"
                                                                       : "follower");
        },
        5000))
        << name << " role " << st.role();
    EXPECT_EQ(st.mode(), "cluster");
    EXPECT_EQ(st.node(), name);
    EXPECT_EQ(st.node_id(), me->id());
    EXPECT_EQ(st.group(), me->group());
    EXPECT_EQ(st.epoch(), me->epoch());
  }

  // The CLI: one line per node, and --json.
  ProcessResult human = RunProcess({ClientBinary(), "members", "--server", S("n4").address()});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(std::count(human.out.begin(), human.out.end(), '\n'), 6) << human.out;
  EXPECT_NE(human.out.find("group=0 node=n0 address=" + S("n0").address() + " role=leader1"),
            std::string::npos)
      << human.out;
  const char* n4_role = Find(ms, "n4")->role() == pb::MEMBER_ROLE_LEADER2 ? "leader2" : "follower";
  EXPECT_NE(human.out.find("group=1 node=n4 address=" + S("n4").address() + " role=" + n4_role),
            std::string::npos)
      << human.out;
  ProcessResult json =
      RunProcess({ClientBinary(), "members", "--json", "--server", S("n0").address()});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find(R"("node":"n5","address":")"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find(R"("role":"follower")"), std::string::npos) << json.out;
  ProcessResult status = RunProcess({ClientBinary(), "status", "--server", S("n1").address()});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("mode: cluster"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("group: 0"), std::string::npos) << status.out;
  const char* n1_role = Find(ms, "n1")->role() == pb::MEMBER_ROLE_LEADER2 ? "leader2" : "follower";
  EXPECT_NE(status.out.find(std::string("role: ") + n1_role), std::string::npos) << status.out;

  // The cluster is full: a seventh node with a fresh data directory is refused.
  ServerProcess& extra = Node("n6", cfg);
  Status refused = extra.Start();
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("the cluster is full"), std::string::npos) << refused.ToString();
}

TEST_F(ClusterTest, AOneMemberGroupWritesWithoutPeers) {
  // writes = 1: leader 1 alone holds every write; seqs still come from etcd's batched sequencer.
  StartNodes({"w0"}, Config(1, 1));
  const std::string addr = S("w0").address();
  ProcessResult w;
  ASSERT_TRUE(WaitFor(
      [&] {
        w = RunProcess({ClientBinary(), "-k", "k", "-p", "v", "write", "--server", addr});
        return w.exit_code == 0;
      },
      5000))
      << w.err;
  EXPECT_EQ(w.out.rfind("seq=", 0), 0u) << w.out;
  const uint64_t seq = std::stoull(w.out.substr(4));
  EXPECT_GE(seq, 1024u);  // revision x 1024 + index
  ProcessResult r = RunProcess({ClientBinary(), "-k", "k", "read", "--server", addr});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "v");
  ProcessResult d = RunProcess({ClientBinary(), "-k", "k", "delete", "--server", addr});
  EXPECT_EQ(d.exit_code, 0) << d.err;
  r = RunProcess({ClientBinary(), "-k", "k", "read", "--server", addr});
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

TEST_F(ClusterTest, ShapeMismatchIsRefused) {
  StartNodes({"a"}, Config(2, 3));
  ServerProcess& b = Node("b", Config(3, 3));
  Status s = b.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cluster shape mismatch: groups is 3 in this node's configuration "
                             "but 2 in the cluster"),
            std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("status 256"), std::string::npos) << s.ToString();  // exit code 1
  // Another database name in the same etcd is another cluster: no conflict.
  Status other = Node("c", Config(3, 3, "otherdb")).Start();
  EXPECT_TRUE(other.ok()) << other.ToString();
}

TEST_F(ClusterTest, RestartedNodeRejoinsItsSlot) {
  std::string cfg = Config(1, 3);
  StartNodes({"r0", "r1", "r2"}, cfg);
  EXPECT_EQ(NodeStatus(S("r1").address()).node_id(), 1u);
  // A clean restart and a kill -9 restart (after its lease expired): the same id both times.
  EXPECT_EQ(WEXITSTATUS(S("r1").Stop()), 0);
  ASSERT_TRUE(S("r1").Start().ok());
  EXPECT_EQ(NodeStatus(S("r1").address()).node_id(), 1u);
  S("r1").Kill();
  std::vector<pb::Member> ms;
  ASSERT_TRUE(WaitFor(
      [&] {
        ms = Members(S("r0").address());
        return ms.size() == 2;
      },
      5000));
  ASSERT_TRUE(S("r1").Start().ok());
  EXPECT_EQ(NodeStatus(S("r1").address()).node_id(), 1u);
  ms = WaitWellFormed("r0", 1, 3, 5000);
  ASSERT_FALSE(ms.empty());
  EXPECT_EQ(Find(ms, "r1")->id(), 1u);
  EXPECT_EQ(Find(ms, "r1")->role(), pb::MEMBER_ROLE_FOLLOWER);  // it campaigned last
}

TEST_F(ClusterTest, KillLeader1FailsOverWithinTtlAndSlotGoesVacant) {
  std::string cfg = Config(1, 3);
  StartNodes({"k0", "k1", "k2"}, cfg);
  std::vector<pb::Member> ms = WaitWellFormed("k1", 1, 3, 5000);
  ASSERT_FALSE(ms.empty());
  ASSERT_EQ(Find(ms, "k0")->role(), pb::MEMBER_ROLE_LEADER1);
  const int64_t old_epoch = Find(ms, "k0")->epoch();

  auto killed = SteadyClock::now();
  S("k0").Kill();
  ASSERT_TRUE(WaitFor(
      [&] {
        ms = Members(S("k1").address());
        return ms.size() == 2 && Find(ms, "k1") &&
               Find(ms, "k1")->role() == pb::MEMBER_ROLE_LEADER1 && Find(ms, "k2") &&
               Find(ms, "k2")->role() == pb::MEMBER_ROLE_LEADER2;
      },
      5000, 10))
      << Describe(ms);
  auto took_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - killed).count();
  std::cerr << "failover after kill -9 of leader 1: " << took_ms << " ms (LEASE_TTL 1 s)\n";
  EXPECT_LT(took_ms, 2000);  // LEASE_TTL + 1 s
  EXPECT_GT(Find(ms, "k1")->epoch(), old_epoch);
  EXPECT_EQ(Find(ms, "k2")->epoch(), Find(ms, "k1")->epoch());
  // The nodes' own view follows.
  ASSERT_TRUE(WaitFor([&] { return NodeStatus(S("k1").address()).role() == "leader1"; }, 2000));
  EXPECT_EQ(NodeStatus(S("k1").address()).epoch(), Find(ms, "k1")->epoch());

  // Its slot was advertised as vacant: a node with a new data directory takes id 0.
  Status s;
  ASSERT_TRUE(WaitFor(
      [&] {
        s = Node("k3", cfg).Start();
        return s.ok();
      },
      5000, 100))
      << s.ToString();
  EXPECT_EQ(NodeStatus(S("k3").address()).node_id(), 0u);
  ms = WaitWellFormed("k1", 1, 3, 5000);
  ASSERT_FALSE(ms.empty());
  EXPECT_EQ(Find(ms, "k3")->role(), pb::MEMBER_ROLE_FOLLOWER);
  EXPECT_EQ(Find(ms, "k3")->group(), 0u);
  // The old k0 comes back too late: its slot has a new owner, so it refuses to start.
  servers_["k0"] = std::make_unique<ServerProcess>(
      std::vector<std::string>{"--etcd", etcd_.endpoint(), "--node", "k0", "--config", cfg,
                               "--lease-ttl", "1", "--refresh-interval", "0.25"},
      dir_.File("data-k0"));
  s = S("k0").Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node id 0 now belongs to node k3"), std::string::npos)
      << s.ToString();
}

TEST_F(ClusterTest, SigtermOfLeader1HandsOverAtOnce) {
  // A long lease (5 s): a hand-over well under it can only come from the resignation.
  std::string cfg = Config(1, 3);
  StartNodes({"t0", "t1", "t2"}, cfg, /*ttl=*/5, /*refresh=*/1);
  std::vector<pb::Member> ms = WaitWellFormed("t1", 1, 3, 5000);
  ASSERT_FALSE(ms.empty());
  const int64_t old_epoch = Find(ms, "t0")->epoch();
  auto stopped = SteadyClock::now();
  pid_t pid = S("t0").pid();
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        ms = Members(S("t1").address());
        const pb::Member* t1 = Find(ms, "t1");
        const pb::Member* t2 = Find(ms, "t2");
        return t1 && t1->role() == pb::MEMBER_ROLE_LEADER1 && t2 &&
               t2->role() == pb::MEMBER_ROLE_LEADER2;
      },
      5000, 10))
      << Describe(ms);
  auto took_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - stopped).count();
  std::cerr << "hand-over after SIGTERM of leader 1: " << took_ms << " ms (LEASE_TTL 5 s)\n";
  EXPECT_LT(took_ms, 1500);
  EXPECT_GT(Find(ms, "t1")->epoch(), old_epoch);
  int wait_status = 0;
  ASSERT_TRUE(WaitFor([&] { return S("t0").Exited(&wait_status); }, 15000));
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << wait_status;
}

TEST_F(ClusterTest, LostLeaseRegistersAndCampaignsAgain) {
  std::string cfg = Config(1, 3);
  StartNodes({"l0", "l1", "l2"}, cfg);
  std::vector<pb::Member> ms = WaitWellFormed("l1", 1, 3, 5000);
  ASSERT_FALSE(ms.empty());
  // Revoke leader 1's lease behind its back (as if etcd had expired it).
  auto client = etcd::Client::Connect({etcd_.endpoint()});
  ASSERT_TRUE(client.ok());
  auto reg = (*client)->Get("/rdeebee/testdb/groups/0/members/0");
  ASSERT_TRUE(reg.ok() && reg->kvs.size() == 1);
  const int64_t old_lease = reg->kvs[0].lease;
  ASSERT_TRUE((*client)->LeaseRevoke(old_lease).ok());
  // l1 leads at once; l0 comes back under a new lease, behind the others, with the same id.
  ASSERT_TRUE(WaitFor(
      [&] {
        ms = Members(S("l1").address());
        const pb::Member* l0 = Find(ms, "l0");
        return ms.size() == 3 && WellFormed(ms, 1, 3) && l0 &&
               l0->role() == pb::MEMBER_ROLE_FOLLOWER && l0->id() == 0;
      },
      5000))
      << Describe(ms);
  EXPECT_EQ(Find(ms, "l1")->role(), pb::MEMBER_ROLE_LEADER1);
  reg = (*client)->Get("/rdeebee/testdb/groups/0/members/0");
  ASSERT_TRUE(reg.ok() && reg->kvs.size() == 1);
  EXPECT_NE(reg->kvs[0].lease, old_lease);
  ASSERT_TRUE(WaitFor([&] { return NodeStatus(S("l0").address()).role() == "follower"; }, 3000));
  // Its slot was not handed out meanwhile: no vacancy marker is left behind.
  auto vacant = (*client)->GetPrefix("/rdeebee/testdb/vacant/");
  ASSERT_TRUE(vacant.ok());
  EXPECT_TRUE(vacant->kvs.empty());
}

TEST(SingleNodeMembersTest, OneLeader1InGroup0) {
  ServerProcess server;
  ASSERT_TRUE(server.Start().ok()) << server.log();
  std::vector<pb::Member> ms = Members(server.address());
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].group(), 0u);
  EXPECT_EQ(ms[0].role(), pb::MEMBER_ROLE_LEADER1);
  EXPECT_EQ(ms[0].address(), server.address());
  EXPECT_EQ(NodeStatus(server.address()).mode(), "single-node");
  ProcessResult out = RunProcess({ClientBinary(), "members", "--server", server.address()});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.out.find("group=0 node=single-node address=" + server.address() + " role=leader1"),
            std::string::npos)
      << out.out;
}

}  // namespace
}  // namespace rdb::test
