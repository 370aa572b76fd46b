// Reads across groups end to end: a real etcd and a 2 x 3 cluster of real rdb-server processes.
// Writes through every node land in both groups; ReadAll (and `rdb-client scan`) through any node
// returns all of them, merged in seq order, page by page; consumer groups whose positions live in
// different groups are committed and listed through any node.
#include <algorithm>

#include "client/client.h"
#include "cluster/cluster_fixture.h"
#include "cluster/routing.h"

namespace rdb::test {
namespace {

class ClusterReadE2eTest : public ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    StartNodes(names_, Config(2, 3));
    std::vector<pb::Member> ms;
    ASSERT_TRUE(WaitFor(
        [&] {
          ms = Members(S("n0").address());
          return ms.size() == 6 && WellFormed(ms, 2, 3);
        },
        15000))
        << Describe(ms);
  }

  std::unique_ptr<client::Client> ClientOf(const std::string& node) {
    return std::move(client::Client::Connect(S(node).address())).value();
  }

  const std::vector<std::string> names_{"n0", "n1", "n2", "n3", "n4", "n5"};
};

TEST_F(ClusterReadE2eTest, ScanThroughAnyNodeMergesEveryGroupInSeqOrder) {
  // 40 writes through every node in turn, on keys of both groups (ids make retries safe).
  std::vector<uint64_t> acked;
  std::set<uint32_t> groups_hit;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i % 13);
    groups_hit.insert(cluster::GroupOfKey(key, 2));
    auto c = ClientOf(names_[i % names_.size()]);
    auto w = c->Append(key, client::EventInput{"p" + std::to_string(i), "T"},
                       client::Expected::Any(), "id-" + std::to_string(i));
    ASSERT_TRUE(w.ok()) << i << ": " << w.status().ToString();
    acked.push_back(w->last_seq);
  }
  ASSERT_EQ(groups_hit.size(), 2u);
  std::sort(acked.begin(), acked.end());

  for (const std::string& n : names_) {
    auto c = ClientOf(n);
    std::vector<uint64_t> seen;
    uint64_t from = 0;
    for (int pages = 0; pages < 100; ++pages) {
      auto r = c->ReadAll(from, 7);
      ASSERT_TRUE(r.ok()) << n << ": " << r.status().ToString();
      EXPECT_LE(r->events.size(), 7u);
      for (const client::Event& e : r->events) {
        EXPECT_TRUE(seen.empty() || e.seq > seen.back()) << n;
        EXPECT_NE(e.key[0], '$');
        seen.push_back(e.seq);
      }
      if (r->next == 0) break;
      from = r->next;
    }
    EXPECT_EQ(seen, acked) << "through " << n;
  }

  // The CLI: one line per event, in seq order, through a follower.
  ProcessResult r = RunProcess(
      {ClientBinary(), "scan", "--json", "--limit", "25", "--server", S("n2").address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<uint64_t> cli;
  size_t pos = 0;
  while ((pos = r.out.find("\"seq\":", pos)) != std::string::npos) {
    pos += 6;
    while (r.out[pos] == ' ') ++pos;
    cli.push_back(std::stoull(r.out.substr(pos)));
  }
  EXPECT_EQ(cli, std::vector<uint64_t>(acked.begin(), acked.begin() + 25)) << r.out;
}

TEST_F(ClusterReadE2eTest, ConsumerGroupsOfBothGroupsThroughAnyNode) {
  // Group names whose position keys live in group 0 and in group 1.
  std::string in[2];
  for (int i = 0; in[0].empty() || in[1].empty(); ++i) {
    std::string name = "cg-" + std::to_string(i);
    std::string& slot = in[cluster::GroupOfKey("$group/" + name, 2)];
    if (slot.empty()) slot = name;
  }
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 4; ++i) {
    auto w = ClientOf("n" + std::to_string(i))
                 ->Append("k" + std::to_string(i), client::EventInput{"x", ""},
                          client::Expected::Any(), "gid-" + std::to_string(i));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    seqs.push_back(w->last_seq);
  }
  const uint64_t top = *std::max_element(seqs.begin(), seqs.end());
  // Commits through nodes of the other group (forwarded), at the feed's highest seq.
  auto c0 = ClientOf("n4")->CommitGroupPosition(in[0], top);
  ASSERT_TRUE(c0.ok()) << c0.status().ToString();
  auto c1 = ClientOf("n1")->CommitGroupPosition(in[1], top);
  ASSERT_TRUE(c1.ok()) << c1.status().ToString();
  EXPECT_EQ(ClientOf("n5")->CommitGroupPosition(in[1], top - 1).status().code(),
            Code::kFailedPrecondition);

  for (const std::string& n : names_) {
    auto list = ClientOf(n)->ListGroups();
    ASSERT_TRUE(list.ok()) << n << ": " << list.status().ToString();
    ASSERT_EQ(list->size(), 2u) << n;
    std::vector<std::string> expected{in[0], in[1]};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ((*list)[0].group, expected[0]);
    EXPECT_EQ((*list)[1].group, expected[1]);
    for (const client::GroupInfo& g : *list) EXPECT_EQ(g.seq, top) << n;
  }
  ProcessResult r = RunProcess({ClientBinary(), "groups", "--server", S("n3").address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(in[0]), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(in[1]), std::string::npos) << r.out;

  ASSERT_TRUE(ClientOf("n2")->DeleteGroup(in[1]).ok());
  auto list = ClientOf("n5")->ListGroups();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].group, in[0]);
}

}  // namespace
}  // namespace rdb::test
