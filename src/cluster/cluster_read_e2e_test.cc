// Reads across groups end to end: a real etcd and a 2 x 3 cluster of real rdb-server processes.
// Writes through every node land in both groups; ReadAll (and `rdb-client scan`) through any node
// returns all of them, merged in seq order, page by page; consumer groups whose positions live in
// different groups are committed and listed through any node; AppendStream through any node
// reaches every group.
#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>

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
    ASSERT_FALSE(WaitWellFormed("n0", 2, 3).empty());
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

// AppendStream through any node: appends for the node's own group are served there, the others
// forwarded to their group's leader 1, and each ack (a conflict's actual version included) is
// what the key's leader stored.
TEST_F(ClusterReadE2eTest, AppendStreamThroughAnyNodeReachesEveryGroup) {
  std::map<std::string, uint64_t> versions;  // key -> last acked version
  for (const std::string& n : names_) {
    auto c = ClientOf(n);
    auto stream = c->OpenAppendStream();
    std::mutex mu;
    std::condition_variable cv;
    std::map<int, Result<client::AppendReply>> acks;
    const int kAppends = 24;
    for (int i = 0; i < kAppends; ++i) {
      const std::string key = "s" + std::to_string(i % 6);
      stream->Send(client::StreamAppend{key,
                                        {client::EventInput{n + "-" + std::to_string(i), ""}},
                                        client::Expected::Any(),
                                        ""},
                   [&, i](Result<client::AppendReply> r) {
                     std::lock_guard<std::mutex> l(mu);
                     acks.emplace(i, std::move(r));
                     cv.notify_all();
                   });
    }
    {
      std::unique_lock<std::mutex> l(mu);
      ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(30), [&] { return acks.size() == kAppends; }))
          << n << ": " << acks.size() << " acks";
    }
    for (const auto& [i, r] : acks) {
      ASSERT_TRUE(r.ok()) << n << " append " << i << ": " << r.status().ToString();
      const std::string key = "s" + std::to_string(i % 6);
      versions[key] = std::max(versions[key], r->last_version);
      auto h = c->ReadStream(key, r->first_version, false, 1);
      ASSERT_TRUE(h.ok()) << h.status().ToString();
      ASSERT_EQ(h->events.size(), 1u);
      EXPECT_EQ(h->events[0].seq, r->first_seq) << key;
      EXPECT_EQ(h->events[0].payload, n + "-" + std::to_string(i)) << key;
    }
    // A conflict on a key of each group: the actual version comes back in the ack.
    for (const std::string key : {"s0", "s1", "s2", "s3", "s4", "s5"}) {
      std::optional<Result<client::AppendReply>> conflict;
      stream->Send(
          client::StreamAppend{
              key, {client::EventInput{"x", ""}}, client::Expected::Exact(versions[key] + 5), ""},
          [&](Result<client::AppendReply> r) {
            std::lock_guard<std::mutex> l(mu);
            conflict.emplace(std::move(r));
            cv.notify_all();
          });
      std::unique_lock<std::mutex> l(mu);
      ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(30), [&] { return conflict.has_value(); }))
          << n << " " << key;
      const Status& st = conflict->status();
      EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
      EXPECT_EQ(st.actual_version().value_or(0), versions[key])
          << n << " " << key << ": " << st.ToString();
    }
    EXPECT_TRUE(stream->Close(10).ok()) << n;
  }
  std::set<uint32_t> groups;
  for (const auto& [key, v] : versions) {
    groups.insert(cluster::GroupOfKey(key, 2));
    EXPECT_EQ(v, 24u) << key;  // 4 appends per key through each of 6 nodes
  }
  EXPECT_EQ(groups.size(), 2u);
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
