// Reads across groups in process, without etcd: EventStoreServices over real gRPC with fake
// cluster views (as forwarder_test), on engines in cluster mode whose commit hook takes seqs from
// one shared counter, so seqs are unique across groups as a real cluster's are. ReadAll and
// ListGroups gather every group's part from its leader 1; consumer groups are kept per group.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "cdc/groups.h"
#include "client/client.h"
#include "cluster/routing.h"
#include "server/cluster_read.h"
#include "server/service.h"
#include "tests/support/temp_dir.h"

namespace rdb::server {
namespace {

namespace pb = ::rdeebee::v1;
using client::EventInput;

constexpr uint32_t kGroups = 2;
constexpr char kKeyOfGroup0[] = "user-1";  // GroupOfKey over 2 groups (cluster_unit_test)
constexpr char kKeyOfGroup1[] = "order-17";

// Seqs for every node's commits from one counter: unique and increasing across groups.
class SharedSeqs final : public CommitHook {
 public:
  explicit SharedSeqs(std::atomic<uint64_t>* next) : next_(next) {}
  Result<SeqGrant> TakeSeqs(uint32_t n) override { return SeqGrant{next_->fetch_add(n), 1}; }
  rdb::Status Replicate(uint64_t, const std::vector<std::string>&, uint64_t) override {
    return rdb::Status::OK();
  }

 private:
  std::atomic<uint64_t>* next_;
};

class FakeView final : public ClusterView {
 public:
  FakeView(std::string node, uint32_t group, bool leader1)
      : node_(std::move(node)), group_(group), leader1_(leader1) {}
  uint32_t groups() const override { return kGroups; }
  uint32_t group() const override { return group_; }
  bool IsLeader1() const override { return leader1_; }
  std::string node() const override { return node_; }
  Result<std::vector<cluster::MemberInfo>> ListMembers() override {
    std::lock_guard<std::mutex> l(mu_);
    return members_;
  }
  // Leader 1 of group g at addresses[g] ("" = none).
  void SetLeaders(const std::vector<std::string>& addresses) {
    std::lock_guard<std::mutex> l(mu_);
    members_.clear();
    for (uint32_t g = 0; g < addresses.size(); ++g) {
      if (addresses[g].empty()) continue;
      cluster::MemberInfo m;
      m.group = g;
      m.node = "leader-of-" + std::to_string(g);
      m.address = addresses[g];
      m.role = cluster::Role::kLeader1;
      members_.push_back(m);
    }
  }

 private:
  const std::string node_;
  const uint32_t group_;
  const bool leader1_;
  std::mutex mu_;
  std::vector<cluster::MemberInfo> members_;
};

// One node: an engine in cluster mode (written through SharedSeqs while leader 1), the service
// with a FakeView, a gRPC server and a client.
class Node {
 public:
  Node(std::string name, uint32_t group, bool leader1, std::atomic<uint64_t>* seqs)
      : view_(std::move(name), group, leader1), hook_(seqs) {
    EngineOptions o;
    o.data_dir = dir_.path();
    o.fsync = FsyncPolicy::kNever;
    o.cluster = true;
    auto e = Engine::Open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    if (leader1) engine_->SetCommitHook(&hook_);
    cdc_ = std::make_unique<CdcService>(engine_.get(), &metrics_, CdcOptions{});
    ServiceOptions so;
    so.cluster_view = &view_;
    service_ = std::make_unique<EventStoreService>(engine_.get(), &metrics_, cdc_.get(), so);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    EXPECT_NE(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
    client_ = std::move(client::Client::Connect(address_)).value();
  }
  ~Node() {
    cdc_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
    service_.reset();
    cdc_.reset();
    engine_->SetCommitHook(nullptr);
    EXPECT_TRUE(engine_->Close().ok());
  }

  FakeView& view() { return view_; }
  Engine& engine() { return *engine_; }
  client::Client& client() { return *client_; }
  const std::string& address() const { return address_; }

 private:
  test::TempDir dir_;
  FakeView view_;
  SharedSeqs hook_;
  std::unique_ptr<Engine> engine_;
  Metrics metrics_;
  std::unique_ptr<CdcService> cdc_;
  std::unique_ptr<EventStoreService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<client::Client> client_;
};

// A: leader 1 of group 0; B: leader 1 of group 1; C: a follower of group 0 (serves nothing itself).
class ClusterReadTest : public ::testing::Test {
 protected:
  ClusterReadTest()
      : a_("node-a", 0, true, &seqs_),
        b_("node-b", 1, true, &seqs_),
        c_("node-c", 0, false, &seqs_) {
    for (Node* n : {&a_, &b_, &c_}) n->view().SetLeaders({a_.address(), b_.address()});
  }

  // Every event of the feed from `from`, page by page through node n, checking each page.
  std::vector<client::Event> Scan(Node& n, uint32_t limit, bool include_system = false) {
    std::vector<client::Event> out;
    uint64_t from = 0;
    for (int pages = 0; pages < 1000; ++pages) {
      auto r = n.client().ReadAll(from, limit, include_system);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok()) break;
      EXPECT_LE(r->events.size(), limit);
      for (const client::Event& e : r->events) {
        EXPECT_GE(e.seq, from);
        if (!out.empty()) {
          EXPECT_GT(e.seq, out.back().seq);
        }
        out.push_back(e);
      }
      if (r->next == 0) break;
      EXPECT_GT(r->next, from);
      from = r->next;
    }
    return out;
  }

  std::atomic<uint64_t> seqs_{1};
  Node a_, b_, c_;
};

TEST(KeyInGroupTest, RoutesToItsGroupAndIsStable) {
  for (uint32_t groups : {1u, 2u, 3u, 7u}) {
    for (uint32_t g = 0; g < groups; ++g) {
      std::string key = cluster::KeyInGroup("$groups/" + std::to_string(g) + "/", g, groups);
      EXPECT_EQ(cluster::GroupOfKey(key, groups), g) << key;
      EXPECT_EQ(key, cluster::KeyInGroup("$groups/" + std::to_string(g) + "/", g, groups));
    }
  }
  EXPECT_EQ(cluster::KeyInGroup("p", 0, 1), "p0");
}

pb::Event Ev(uint64_t seq, size_t payload_bytes = 1) {
  pb::Event e;
  e.set_seq(seq);
  e.set_key("k");
  e.set_payload(std::string(payload_bytes, 'x'));
  return e;
}

pb::ReadAllResponse Page(std::vector<uint64_t> seqs, uint64_t next, size_t payload_bytes = 1) {
  pb::ReadAllResponse p;
  for (uint64_t s : seqs) *p.add_events() = Ev(s, payload_bytes);
  p.set_next_seq(next);
  return p;
}

std::vector<uint64_t> Seqs(const pb::ReadAllResponse& r) {
  std::vector<uint64_t> out;
  for (const pb::Event& e : r.events()) out.push_back(e.seq());
  return out;
}

TEST(MergeReadAllPagesTest, CutsAtTheFirstGroupThatMayHaveMore) {
  // Group 0 was cut at its limit (its next event is 10); group 1 reached its end with 12 among its
  // events: 12 must wait, since group 0 may hold 10 and 11.
  std::vector<pb::ReadAllResponse> pages{Page({1, 3, 5}, 10), Page({2, 4, 12}, 0)};
  pb::ReadAllResponse out;
  MergeReadAllPages(&pages, 3, &out);  // the limit cuts first
  EXPECT_EQ(Seqs(out), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(out.next_seq(), 4u);

  pages = {Page({1, 3, 5}, 10), Page({2, 4, 12}, 0)};
  out.Clear();
  MergeReadAllPages(&pages, 100, &out);
  EXPECT_EQ(Seqs(out), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(out.next_seq(), 10u);

  pages = {Page({1, 3}, 0), Page({2}, 0), Page({}, 0)};
  out.Clear();
  MergeReadAllPages(&pages, 100, &out);
  EXPECT_EQ(Seqs(out), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(out.next_seq(), 0u);  // every group at its end

  pages = {Page({}, 0), Page({}, 7)};  // a group with nothing to show yet may still have more
  out.Clear();
  MergeReadAllPages(&pages, 100, &out);
  EXPECT_TRUE(out.events().empty());
  EXPECT_EQ(out.next_seq(), 7u);

  // The response's byte limit: two 10 MiB events do not fit one page.
  pages = {Page({1}, 0, 10 << 20), Page({2}, 0, 10 << 20)};
  out.Clear();
  MergeReadAllPages(&pages, 100, &out);
  EXPECT_EQ(Seqs(out), (std::vector<uint64_t>{1}));
  EXPECT_EQ(out.next_seq(), 2u);
}

TEST(MergeGroupListsTest, SortedByNameWithLagFromTheHighestSeq) {
  std::vector<pb::ListGroupsResponse> lists(2);
  lists[0].set_last_seq(50);
  lists[1].set_last_seq(90);
  auto* g = lists[0].add_groups();
  g->set_group("zeta");
  g->set_seq(40);
  g = lists[1].add_groups();
  g->set_group("alpha");
  g->set_seq(95);  // above its own group's last seq: positions are seqs of the whole feed
  pb::ListGroupsResponse out;
  MergeGroupLists(&lists, &out);
  ASSERT_EQ(out.groups_size(), 2);
  EXPECT_EQ(out.last_seq(), 90u);
  EXPECT_EQ(out.groups(0).group(), "alpha");
  EXPECT_EQ(out.groups(0).lag(), 0u);
  EXPECT_EQ(out.groups(1).group(), "zeta");
  EXPECT_EQ(out.groups(1).lag(), 50u);
}

TEST_F(ClusterReadTest, ScanThroughAnyNodeReturnsEveryGroupInSeqOrder) {
  // Uneven runs, so that pages of one group end far below the other's: 12 on group 0, 7 on
  // group 1, 12 on group 0, then alternating; written through every node.
  std::vector<uint64_t> written;
  Node* via[] = {&a_, &b_, &c_};
  auto write = [&](const char* key, int i) {
    auto w = via[i % 3]->client().Append(key, EventInput{"p", "T"});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    written.push_back(w->last_seq);
  };
  int i = 0;
  for (int k = 0; k < 12; ++k) write(kKeyOfGroup0, i++);
  for (int k = 0; k < 7; ++k) write(kKeyOfGroup1, i++);
  for (int k = 0; k < 12; ++k) write(kKeyOfGroup0, i++);
  for (int k = 0; k < 10; ++k) write(k % 2 ? kKeyOfGroup0 : kKeyOfGroup1, i++);
  EXPECT_GT(a_.engine().last_seq(), 0u);
  EXPECT_GT(b_.engine().last_seq(), 0u);
  EXPECT_EQ(c_.engine().last_seq(), 0u);  // a follower without replication here

  for (Node* n : via) {
    for (uint32_t limit : {1u, 5u, 7u, 1000u}) {
      std::vector<client::Event> all = Scan(*n, limit);
      std::vector<uint64_t> seqs;
      for (const client::Event& e : all) seqs.push_back(e.seq);
      EXPECT_EQ(seqs, written) << "through " << n->address() << " with limit " << limit;
    }
  }
  // One page with a limit: the first `limit` events of the merged feed, next = the one after.
  auto page = c_.client().ReadAll(written[3], 5);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->events.size(), 5u);
  EXPECT_EQ(page->events[0].seq, written[3]);
  EXPECT_EQ(page->events[4].seq, written[7]);
  EXPECT_EQ(page->next, written[8]);
  EXPECT_EQ(b_.client().ReadAll(written.back() + 1, 10)->events.size(), 0u);
  EXPECT_EQ(b_.client().ReadAll(0, 10001).status().code(), Code::kInvalidArgument);
}

TEST_F(ClusterReadTest, ForwardedReadAllIsOneGroupsPart) {
  ASSERT_TRUE(a_.client().Append(kKeyOfGroup0, EventInput{"0", ""}).ok());
  ASSERT_TRUE(a_.client().Append(kKeyOfGroup1, EventInput{"1", ""}).ok());
  auto raw = [](const std::string& address, pb::ReadAllResponse* resp) {
    auto stub =
        pb::EventStore::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.AddMetadata(kForwardedMetadataKey, "1");
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::ReadAllRequest req;
    return stub->ReadAll(&ctx, req, resp);
  };
  pb::ReadAllResponse resp;
  ASSERT_TRUE(raw(b_.address(), &resp).ok());
  ASSERT_EQ(resp.events_size(), 1);
  EXPECT_EQ(resp.events(0).key(), kKeyOfGroup1);
  // Any node serves its own log to a forwarded ReadAll (C, a follower here, holds nothing).
  resp.Clear();
  ASSERT_TRUE(raw(c_.address(), &resp).ok());
  EXPECT_EQ(resp.events_size(), 0);
}

TEST_F(ClusterReadTest, AGroupWithoutLeaderFailsTheScanUntilOneIsKnown) {
  c_.view().SetLeaders({a_.address(), ""});
  client::ClientOptions no_retry;
  no_retry.unavailable_retry_seconds = 0;
  auto once = std::move(client::Client::Connect(c_.address(), no_retry)).value();
  auto r = once->ReadAll(0, 10);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("group 1: no leader 1 of group 1 is known"),
            std::string::npos)
      << r.status().ToString();

  // The client library retries safe calls on UNAVAILABLE (a leader change) with backoff: a read
  // and an append with an idempotency id succeed once the leader is known; a plain append fails.
  auto start = std::chrono::steady_clock::now();
  auto plain = c_.client().Append(kKeyOfGroup1, EventInput{"x", ""});
  EXPECT_EQ(plain.status().code(), Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  std::thread heal([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    c_.view().SetLeaders({a_.address(), b_.address()});
  });
  auto w = c_.client().Append(kKeyOfGroup1, EventInput{"x", ""}, client::Expected::Any(), "id-1");
  heal.join();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  auto again =
      c_.client().Append(kKeyOfGroup1, EventInput{"y", ""}, client::Expected::Any(), "id-1");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(again->last_seq, w->last_seq);
  r = c_.client().ReadAll(0, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->events.size(), 1u);
}

// A consumer group's name whose position key lives in group.
std::string GroupNameIn(uint32_t group, int skip = 0) {
  for (int i = 0;; ++i) {
    std::string name = "billing-" + std::to_string(i);
    if (cluster::GroupOfKey(cdc::GroupStore::Key(name), kGroups) == group && skip-- == 0)
      return name;
  }
}

TEST_F(ClusterReadTest, ConsumerGroupsAreKeptPerGroupAndListedFromEveryNode) {
  const std::string g0 = GroupNameIn(0), g1 = GroupNameIn(1), g1b = GroupNameIn(1, 1);
  // Positions are seqs of the whole feed: group 1's leader accepts one above its own last seq.
  auto w0 = a_.client().Append(kKeyOfGroup0, EventInput{"x", ""});
  ASSERT_TRUE(w0.ok());
  auto w1 = a_.client().Append(kKeyOfGroup1, EventInput{"x", ""});
  ASSERT_TRUE(w1.ok());
  auto w2 = a_.client().Append(kKeyOfGroup0, EventInput{"x", ""});
  ASSERT_TRUE(w2.ok());
  ASSERT_GT(w2->last_seq, b_.engine().last_seq());
  for (auto [via, name, seq] :
       {std::tuple{&c_, g1, w2->last_seq}, std::tuple{&b_, g0, w1->last_seq},
        std::tuple{&a_, g1b, w0->last_seq}}) {
    auto c = via->client().CommitGroupPosition(name, seq);
    ASSERT_TRUE(c.ok()) << name << ": " << c.status().ToString();
    EXPECT_EQ(*c, seq);
  }
  // Each group's leader holds its own registry, a key of its own group.
  const std::string reg0 = cluster::KeyInGroup("$groups/0/", 0, kGroups);
  const std::string reg1 = cluster::KeyInGroup("$groups/1/", 1, kGroups);
  EXPECT_EQ(a_.engine().Get(reg0)->payload, g0);
  EXPECT_EQ(b_.engine().Get(reg1)->payload, g1 + "\n" + g1b);
  EXPECT_EQ(a_.engine().GetKeyState(reg1)->version, 0u);
  EXPECT_EQ(b_.engine().GetKeyState(cdc::kGroupRegistryKey)->version, 0u);

  // The feed's last seq is the highest of the groups' (system records take seqs too).
  const uint64_t feed_last = std::max(a_.engine().last_seq(), b_.engine().last_seq());
  for (Node* n : {&a_, &b_, &c_}) {
    uint64_t last = 0;
    auto list = n->client().ListGroups(&last);
    ASSERT_TRUE(list.ok()) << list.status().ToString();
    ASSERT_EQ(list->size(), 3u);
    EXPECT_EQ(last, feed_last);
    std::vector<std::string> names;
    for (const client::GroupInfo& g : *list) names.push_back(g.group);
    std::vector<std::string> sorted = {g0, g1, g1b};
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(names, sorted);
    for (const client::GroupInfo& g : *list) {
      if (g.group == g1) {
        EXPECT_EQ(g.seq, w2->last_seq);
        EXPECT_EQ(g.lag, feed_last - w2->last_seq);
      }
      if (g.group == g0) {
        EXPECT_EQ(g.seq, w1->last_seq);
        EXPECT_EQ(g.lag, feed_last - w1->last_seq);
      }
    }
  }
  // Backwards is refused by the owner; a deleted group leaves every node's list.
  EXPECT_EQ(c_.client().CommitGroupPosition(g1, w0->last_seq).status().code(),
            Code::kFailedPrecondition);
  ASSERT_TRUE(c_.client().DeleteGroup(g1).ok());
  EXPECT_EQ(a_.client().ListGroups()->size(), 2u);
  EXPECT_EQ(b_.engine().Get(reg1)->payload, g1b);
  // The registries are system records: a scan shows them only when asked.
  std::set<std::string> system_keys;
  for (const client::Event& e : Scan(c_, 4, true)) {
    if (e.key[0] == '$') system_keys.insert(e.key);
  }
  EXPECT_EQ(system_keys.count(reg0), 1u);
  EXPECT_EQ(system_keys.count(reg1), 1u);
  for (const client::Event& e : Scan(c_, 4)) EXPECT_NE(e.key[0], '$');
}

}  // namespace
}  // namespace rdb::server
