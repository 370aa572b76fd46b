// Direct routing (ClientOptions::route_direct) in process, without etcd: EventStoreServices over
// real gRPC on plain engines, each with a fake ClusterView whose member map is empty and whose
// etcd is "down" (so a node cannot forward: a keyed call succeeds only where it was sent), and a
// fake "directory" server that answers ListMembers with the member map the test sets and serves
// nothing keyed (Append answers a marker seq, other calls UNIMPLEMENTED), so a call that went to
// the given server instead of a leader shows. The real cluster is client_routing_e2e_test's.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "cdc/groups.h"
#include "client/client.h"
#include "cluster/routing.h"
#include "server/service.h"
#include "tests/support/temp_dir.h"

namespace rdb::server {
namespace {

namespace pb = ::rdeebee::v1;
using client::EventInput;
using client::Expected;

constexpr uint32_t kGroups = 2;
// GroupOfKey over 2 groups (pinned in cluster_unit_test).
constexpr char kKeyOfGroup0[] = "user-1";
constexpr char kKeyOfGroup1[] = "order-17";
constexpr uint64_t kDirectorySeq = 777;  // what the directory's Append answers

class FakeView final : public ClusterView {
 public:
  FakeView(std::string node, uint32_t group) : node_(std::move(node)), group_(group) {}
  uint32_t groups() const override { return kGroups; }
  uint32_t group() const override { return group_; }
  bool IsLeader1() const override { return true; }
  std::string node() const override { return node_; }
  Result<std::vector<cluster::MemberInfo>> ListMembers() override {
    return rdb::Status::Unavailable("etcd is down (this test forbids forwarding)");
  }

 private:
  const std::string node_;
  const uint32_t group_;
};

// One node: a plain engine and the service, in cluster mode (leader 1 of `group`, cannot forward)
// or, without a group, in single-node mode.
class Node {
 public:
  explicit Node(std::string name, std::optional<uint32_t> group = std::nullopt)
      : view_(std::move(name), group.value_or(0)) {
    EngineOptions o;
    o.data_dir = dir_.path();
    o.fsync = FsyncPolicy::kNever;
    auto e = Engine::Open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    cdc_ = std::make_unique<CdcService>(engine_.get(), &metrics_, CdcOptions{});
    ServiceOptions so;
    if (group.has_value()) so.cluster_view = &view_;
    service_ = std::make_unique<EventStoreService>(engine_.get(), &metrics_, cdc_.get(), so);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    EXPECT_NE(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  ~Node() {
    cdc_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
    service_.reset();
    cdc_.reset();
    EXPECT_TRUE(engine_->Close().ok());
  }

  Engine& engine() { return *engine_; }
  const std::string& address() const { return address_; }

 private:
  test::TempDir dir_;
  FakeView view_;
  std::unique_ptr<Engine> engine_;
  Metrics metrics_;
  std::unique_ptr<CdcService> cdc_;
  std::unique_ptr<EventStoreService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

// The given server: answers ListMembers with the map set here (or an error), Append with
// kDirectorySeq, everything else UNIMPLEMENTED.
class Directory final : public pb::EventStore::Service {
 public:
  Directory() {
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  ~Directory() override {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
  }

  // Leader 1 of group g at leaders[g]; the directory itself is a follower of group 0.
  void SetLeaders(const std::vector<std::string>& leaders) {
    std::lock_guard<std::mutex> l(mu_);
    resp_.Clear();
    resp_.set_mode("cluster");
    for (uint32_t g = 0; g < leaders.size(); ++g) {
      pb::Member* m = resp_.add_members();
      m->set_group(g);
      m->set_node("leader-of-" + std::to_string(g));
      m->set_address(leaders[g]);
      m->set_role(pb::MEMBER_ROLE_LEADER1);
    }
    pb::Member* f = resp_.add_members();
    f->set_group(0);
    f->set_node("directory");
    f->set_address(address_);
    f->set_role(pb::MEMBER_ROLE_FOLLOWER);
    error_ = false;
  }
  void SetError() {
    std::lock_guard<std::mutex> l(mu_);
    error_ = true;
  }

  grpc::Status ListMembers(grpc::ServerContext*, const pb::ListMembersRequest*,
                           pb::ListMembersResponse* resp) override {
    ++list_calls_;
    std::lock_guard<std::mutex> l(mu_);
    if (error_) return {grpc::StatusCode::UNAVAILABLE, "etcd is down"};
    *resp = resp_;
    return grpc::Status::OK;
  }
  grpc::Status Append(grpc::ServerContext*, const pb::AppendRequest*,
                      pb::AppendResponse* resp) override {
    ++appends_;
    if (refuse_appends_.load())
      return {grpc::StatusCode::UNAVAILABLE, "node directory is not leader 1 of the group; retry"};
    resp->set_first_seq(kDirectorySeq);
    resp->set_last_seq(kDirectorySeq);
    return grpc::Status::OK;
  }

  // Append answers UNAVAILABLE, like a node whose forwarded call failed during a failover.
  void RefuseAppends() { refuse_appends_.store(true); }

  const std::string& address() const { return address_; }
  int list_calls() const { return list_calls_.load(); }
  int appends() const { return appends_.load(); }

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::mutex mu_;
  pb::ListMembersResponse resp_;
  bool error_ = false;
  std::atomic<int> list_calls_{0};
  std::atomic<int> appends_{0};
  std::atomic<bool> refuse_appends_{false};
};

std::unique_ptr<client::Client> Routing(const std::string& address, bool stale = false) {
  client::ClientOptions o;
  o.route_direct = true;
  o.stale_reads = stale;
  o.timeout_seconds = 10;
  auto c = client::Client::Connect(address, o);
  EXPECT_TRUE(c.ok());
  return std::move(c).value();
}

// A consumer group's name whose position key lives in group.
std::string GroupNameIn(uint32_t group) {
  for (int i = 0;; ++i) {
    std::string name = "billing-" + std::to_string(i);
    if (cluster::GroupOfKey(cdc::GroupStore::Key(name), kGroups) == group) return name;
  }
}

TEST(ClientRoutingTest, GroupOfKeyIsTheServers) {
  EXPECT_EQ(client::GroupOfKey(kKeyOfGroup0, 2), 0u);
  EXPECT_EQ(client::GroupOfKey(kKeyOfGroup1, 2), 1u);
  EXPECT_EQ(client::GroupOfKey(kKeyOfGroup1, 3), 0u);
  for (uint32_t groups : {1u, 2u, 3u, 7u, 64u}) {
    for (int i = 0; i < 1000; ++i) {
      std::string key = "k" + std::to_string(i);
      ASSERT_EQ(client::GroupOfKey(key, groups), cluster::GroupOfKey(key, groups)) << key;
    }
    ASSERT_EQ(client::GroupOfKey("", groups), cluster::GroupOfKey("", groups));
    ASSERT_EQ(client::GroupOfKey("$group/g", groups), cluster::GroupOfKey("$group/g", groups));
  }
}

TEST(ClientRoutingTest, KeyedCallsGoStraightToLeader1OfTheirGroup) {
  Node a("node-a", 0), b("node-b", 1);
  Directory dir;
  dir.SetLeaders({a.address(), b.address()});
  auto c = Routing(dir.address());

  auto w0 = c->Append(kKeyOfGroup0, EventInput{"zero", "T"});
  ASSERT_TRUE(w0.ok()) << w0.status().ToString();
  auto w1 = c->Append(kKeyOfGroup1, EventInput{"one", "T"}, Expected::NoStream(), "id-1");
  ASSERT_TRUE(w1.ok()) << w1.status().ToString();
  EXPECT_NE(w0->first_seq, kDirectorySeq);
  EXPECT_EQ(a.engine().last_seq(), 1u);
  EXPECT_EQ(b.engine().last_seq(), 1u);
  EXPECT_EQ(dir.appends(), 0);

  auto g1 = c->Get(kKeyOfGroup1);
  ASSERT_TRUE(g1.ok()) << g1.status().ToString();
  EXPECT_EQ(g1->payload, "one");
  auto r0 = c->ReadStream(kKeyOfGroup0, 1, false, 10);
  ASSERT_TRUE(r0.ok()) << r0.status().ToString();
  ASSERT_EQ(r0->events.size(), 1u);
  EXPECT_EQ(r0->events[0].payload, "zero");
  auto d0 = c->Delete(kKeyOfGroup0);
  ASSERT_TRUE(d0.ok()) << d0.status().ToString();
  EXPECT_EQ(a.engine().last_seq(), 2u);

  // Consumer groups by their position key "$group/<name>".
  for (uint32_t g = 0; g < kGroups; ++g) {
    const std::string name = GroupNameIn(g);
    auto p = c->CommitGroupPosition(name, 1);
    ASSERT_TRUE(p.ok()) << name << ": " << p.status().ToString();
    EXPECT_TRUE(c->DeleteGroup(name).ok()) << name;
  }

  // Unkeyed calls and stale reads stay on the given server (the directory serves neither).
  EXPECT_EQ(c->ReadAll(0, 10).status().code(), Code::kNotSupported);
  auto stale = Routing(dir.address(), /*stale=*/true);
  EXPECT_EQ(stale->Get(kKeyOfGroup1).status().code(), Code::kNotSupported);

  auto st = c->routing_stats();
  EXPECT_EQ(st.mode, "cluster");
  EXPECT_EQ(st.groups, kGroups);
  EXPECT_EQ(st.map_reads, 1u);  // read once, then reused
  EXPECT_EQ(st.via_server, 0u);
  EXPECT_EQ(dir.list_calls(), 1);
}

TEST(ClientRoutingTest, ALeaderChangeRereadsTheMapAndRetriesOnTheNewLeader) {
  Node a("node-a", 0);
  auto b = std::make_unique<Node>("node-b", 1);
  Directory dir;
  dir.SetLeaders({a.address(), b->address()});
  dir.RefuseAppends();
  auto c = Routing(dir.address());
  ASSERT_TRUE(c->Append(kKeyOfGroup1, EventInput{"one", "T"}, Expected::Any(), "id-1").ok());
  EXPECT_EQ(b->engine().last_seq(), 1u);

  // Group 1's leader goes away; the member map names its successor.
  b.reset();
  Node successor("node-c", 1);
  dir.SetLeaders({a.address(), successor.address()});
  auto w = c->Append(kKeyOfGroup1, EventInput{"two", "T"}, Expected::Any(), "id-2");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_NE(w->first_seq, kDirectorySeq);
  EXPECT_EQ(successor.engine().last_seq(), 1u);
  // Later calls go straight there.
  ASSERT_TRUE(c->Append(kKeyOfGroup1, EventInput{"three", "T"}).ok());
  EXPECT_EQ(successor.engine().last_seq(), 2u);
  EXPECT_GE(c->routing_stats().map_reads, 2u);
  EXPECT_LE(c->routing_stats().map_reads, 4u);  // rate-limited
}

TEST(ClientRoutingTest, SingleNodeAndAnUnreadableMapKeepEveryCallOnTheGivenServer) {
  Node single("single");  // single-node mode: ListMembers says so
  auto c = Routing(single.address());
  for (const char* key : {kKeyOfGroup0, kKeyOfGroup1})
    ASSERT_TRUE(c->Append(key, EventInput{"v", "T"}).ok());
  EXPECT_EQ(single.engine().last_seq(), 2u);
  auto st = c->routing_stats();
  EXPECT_EQ(st.mode, "single-node");
  EXPECT_EQ(st.map_reads, 1u);
  EXPECT_EQ(st.routed, 0u);

  Directory dir;
  dir.SetError();
  auto d = Routing(dir.address());
  for (int i = 0; i < 3; ++i) {
    auto w = d->Append(kKeyOfGroup1, EventInput{"v", "T"});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(w->first_seq, kDirectorySeq);  // fell back to the given server
  }
  EXPECT_EQ(d->routing_stats().mode, "");
  EXPECT_EQ(dir.list_calls(), 1);  // no re-read within the failed read's back-off
}

TEST(ClientRoutingTest, OffByDefault) {
  Node a("node-a", 0);
  Directory dir;
  dir.SetLeaders({a.address(), a.address()});
  auto c = client::Client::Connect(dir.address());
  ASSERT_TRUE(c.ok());
  auto w = (*c)->Append(kKeyOfGroup0, EventInput{"v", "T"});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->first_seq, kDirectorySeq);
  EXPECT_EQ(dir.list_calls(), 0);
}

}  // namespace
}  // namespace rdb::server
