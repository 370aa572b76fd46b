// Routing and forwarding in process, without etcd: EventStoreServices over real gRPC, each with a
// fake ClusterView (its group, whether it is leader 1, and the member map it would read from
// etcd), on plain engines. The real cluster (etcd, replication) is cluster_e2e_test's.
#include "server/forwarder.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

class FakeView final : public ClusterView {
 public:
  FakeView(std::string node, uint32_t group) : node_(std::move(node)), group_(group) {}
  uint32_t groups() const override { return kGroups; }
  uint32_t group() const override { return group_; }
  bool IsLeader1() const override { return leader1_.load(); }
  std::string node() const override { return node_; }
  Result<std::vector<cluster::MemberInfo>> ListMembers() override {
    ++list_calls_;
    std::lock_guard<std::mutex> l(mu_);
    if (!etcd_error_.empty()) return rdb::Status::Unavailable(etcd_error_);
    return members_;
  }

  void SetLeader1(bool leader1) { leader1_.store(leader1); }
  // The member map: leader 1 of group g at addresses[g] ("" = no leader).
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
  void SetEtcdError(std::string error) {
    std::lock_guard<std::mutex> l(mu_);
    etcd_error_ = std::move(error);
  }
  int list_calls() const { return list_calls_.load(); }

 private:
  const std::string node_;
  const uint32_t group_;
  std::atomic<bool> leader1_{true};
  std::atomic<int> list_calls_{0};
  std::mutex mu_;
  std::vector<cluster::MemberInfo> members_;
  std::string etcd_error_;
};

// One "node": a plain engine, the service in cluster mode with a FakeView, a gRPC server.
class Node {
 public:
  Node(std::string name, uint32_t group, ForwarderOptions forwarder = {})
      : view_(std::move(name), group) {
    EngineOptions o;
    o.data_dir = dir_.path();
    o.fsync = FsyncPolicy::kNever;
    auto e = Engine::Open(o);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    cdc_ = std::make_unique<CdcService>(engine_.get(), &metrics_, CdcOptions{});
    ServiceOptions so;
    so.cluster_view = &view_;
    so.forwarder = forwarder;
    service_ = std::make_unique<EventStoreService>(engine_.get(), &metrics_, cdc_.get(), so);
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    EXPECT_NE(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
    auto c = client::Client::Connect(address_);
    EXPECT_TRUE(c.ok());
    client_ = std::move(c).value();
  }
  ~Node() {
    cdc_->Shutdown();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    server_->Wait();
    service_.reset();
    cdc_.reset();
    EXPECT_TRUE(engine_->Close().ok());
  }

  FakeView& view() { return view_; }
  Engine& engine() { return *engine_; }
  client::Client& client() { return *client_; }
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
  std::unique_ptr<client::Client> client_;
};

// An address where nothing listens (a port that was bound and released).
std::string DeadAddress() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

// A raw Append marked as forwarded by another node.
grpc::Status ForwardedAppend(const std::string& address, const std::string& key) {
  auto stub =
      pb::EventStore::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata(kForwardedMetadataKey, "1");
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::AppendRequest req;
  req.set_key(key);
  req.add_events()->set_payload("x");
  pb::AppendResponse resp;
  return stub->Append(&ctx, req, &resp);
}

// A consumer group's name whose position key lives in group.
std::string GroupNameIn(uint32_t group) {
  for (int i = 0;; ++i) {
    std::string name = "billing-" + std::to_string(i);
    if (cluster::GroupOfKey(cdc::GroupStore::Key(name), kGroups) == group) return name;
  }
}

TEST(ForwarderTest, TestKeysAreInTheirGroups) {
  EXPECT_EQ(cluster::GroupOfKey(kKeyOfGroup0, kGroups), 0u);
  EXPECT_EQ(cluster::GroupOfKey(kKeyOfGroup1, kGroups), 1u);
}

TEST(ForwarderTest, ForwardedRequestThatIsNotOursIsRefusedWithoutASecondHop) {
  Node a("node-a", 0);
  // A knows a leader for group 1 (itself would do): a forwarded request must not go there.
  a.view().SetLeaders({a.address(), a.address()});
  grpc::Status s = ForwardedAppend(a.address(), kKeyOfGroup1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "node node-a is not leader 1 of group 1; retry");

  a.view().SetLeader1(false);  // its own group, but no longer leader 1 (a failover)
  s = ForwardedAppend(a.address(), kKeyOfGroup0);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "node node-a is not leader 1 of group 0; retry");
  EXPECT_EQ(a.engine().last_seq(), 0u);

  a.view().SetLeader1(true);  // now it is ours
  EXPECT_TRUE(ForwardedAppend(a.address(), kKeyOfGroup0).ok());
  EXPECT_EQ(a.engine().last_seq(), 1u);
}

TEST(ForwarderTest, EveryKeyedRequestReachesLeader1OfItsGroup) {
  Node a("node-a", 0);
  Node b("node-b", 1);
  a.view().SetLeaders({a.address(), b.address()});
  b.view().SetLeaders({a.address(), b.address()});

  // Through A: group 1's key is written on B, group 0's on A; reads follow.
  auto w1 = a.client().Append(kKeyOfGroup1, EventInput{"one", "T"});
  ASSERT_TRUE(w1.ok()) << w1.status().ToString();
  auto w0 = a.client().Append(kKeyOfGroup0, EventInput{"zero", "T"});
  ASSERT_TRUE(w0.ok()) << w0.status().ToString();
  EXPECT_EQ(b.engine().last_seq(), w1->last_seq);
  EXPECT_EQ(a.engine().last_seq(), w0->last_seq);
  EXPECT_EQ(a.engine().GetKeyState(kKeyOfGroup1)->version, 0u);
  EXPECT_EQ(b.engine().GetKeyState(kKeyOfGroup0)->version, 0u);

  // Through B, the other way round.
  auto e = b.client().Get(kKeyOfGroup0);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->payload, "zero");
  e = a.client().Get(kKeyOfGroup1);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->payload, "one");
  auto r = a.client().ReadStream(kKeyOfGroup1, 1, false, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->events.size(), 1u);
  EXPECT_EQ(r->events[0].event_type, "T");

  // Errors come back verbatim: code, message, and the actual version on a conflict.
  auto conflict = a.client().Append(kKeyOfGroup1, EventInput{"x", ""}, Expected::Exact(7));
  ASSERT_EQ(conflict.status().code(), Code::kFailedPrecondition) << conflict.status().ToString();
  EXPECT_EQ(conflict.status().actual_version(), 1u);
  auto missing = a.client().Get("order-missing-" + std::to_string(0));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  auto bad = a.client().ReadStream(kKeyOfGroup1, 1, false, 1000000);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);

  auto d = a.client().Delete(kKeyOfGroup1, Expected::Exact(1));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(b.engine().GetKeyState(kKeyOfGroup1)->version, 2u);

  // A consumer group's position goes to the group of its system key.
  const std::string group = GroupNameIn(1);
  auto c = a.client().CommitGroupPosition(group, d->first_seq);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c, d->first_seq);
  EXPECT_NE(b.engine().GetKeyState(cdc::GroupStore::Key(group))->version, 0u);
  EXPECT_EQ(a.engine().GetKeyState(cdc::GroupStore::Key(group))->version, 0u);
  EXPECT_TRUE(a.client().DeleteGroup(group).ok());
}

TEST(ForwarderTest, ReadsTheLeadersAgainAfterAFailedForward) {
  // The cache never ages here: only a failed forward can make A read the members again.
  ForwarderOptions never_stale;
  never_stale.leaders_max_age_ms = 3600 * 1000;
  Node a("node-a", 0, never_stale);
  Node b("node-b", 1);
  a.view().SetLeaders({a.address(), DeadAddress()});
  auto w = a.client().Append(kKeyOfGroup1, EventInput{"x", ""});
  EXPECT_EQ(w.status().code(), Code::kUnavailable) << w.status().ToString();

  // Leader 1 of group 1 moved to B. A refresh already under way may still see the dead address
  // (the client retries, as it would against a cluster in failover); a later one sees B.
  a.view().SetLeaders({a.address(), b.address()});
  for (int attempt = 0; attempt < 100; ++attempt) {
    w = a.client().Append(kKeyOfGroup1, EventInput{"x", ""});
    if (w.status().code() != Code::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(b.engine().last_seq(), w->last_seq);
}

TEST(ForwarderTest, NoKnownLeaderIsUnavailable) {
  Node a("node-a", 0);
  a.view().SetLeaders({a.address(), ""});
  auto w = a.client().Append(kKeyOfGroup1, EventInput{"x", ""});
  EXPECT_EQ(w.status().code(), Code::kUnavailable);
  EXPECT_NE(w.status().message().find("no leader 1 of group 1 is known"), std::string::npos)
      << w.status().ToString();

  a.view().SetEtcdError("etcd is down");
  auto g = a.client().Get(kKeyOfGroup1);
  EXPECT_EQ(g.status().code(), Code::kUnavailable);
  EXPECT_NE(g.status().message().find("etcd is down"), std::string::npos) << g.status().ToString();
  // Its own group's keys need nobody else.
  EXPECT_TRUE(a.client().Append(kKeyOfGroup0, EventInput{"x", ""}).ok());
}

}  // namespace
}  // namespace rdb::server
