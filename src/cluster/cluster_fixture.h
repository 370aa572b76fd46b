// Shared by the cluster's end-to-end tests: a real etcd with fast timings (a 1 s lease is
// honoured) and real rdb-server processes on loopback, each with its own data directory; gRPC
// helpers for the public API. Every process dies with the test (fixtures' destructors, PDEATHSIG).
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "etcd/client.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "tests/support/etcd_process.h"
#include "tests/support/server_process.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace rdb::test {

namespace pb = ::rdeebee::v1;
using SteadyClock = std::chrono::steady_clock;

inline std::unique_ptr<pb::EventStore::Stub> Stub(const std::string& address) {
  return pb::EventStore::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

template <typename Fn>
inline grpc::Status Call(const std::string& address, Fn&& fn) {
  auto stub = Stub(address);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return fn(stub.get(), &ctx);
}

inline std::vector<pb::Member> Members(const std::string& address) {
  pb::ListMembersResponse resp;
  grpc::Status s = Call(address, [&](pb::EventStore::Stub* st, grpc::ClientContext* ctx) {
    return st->ListMembers(ctx, pb::ListMembersRequest(), &resp);
  });
  if (!s.ok()) return {};
  return {resp.members().begin(), resp.members().end()};
}

inline pb::StatusResponse NodeStatus(const std::string& address) {
  pb::StatusResponse resp;
  grpc::Status s = Call(address, [&](pb::EventStore::Stub* st, grpc::ClientContext* ctx) {
    return st->Status(ctx, pb::StatusRequest(), &resp);
  });
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

inline bool WaitFor(const std::function<bool()>& pred, int timeout_ms, int poll_ms = 20) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (SteadyClock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return pred();
}

inline const pb::Member* Find(const std::vector<pb::Member>& ms, const std::string& node) {
  for (const auto& m : ms)
    if (m.node() == node) return &m;
  return nullptr;
}

// One leader1 and one leader2 per group, all with the same epoch (> 0).
inline bool WellFormed(const std::vector<pb::Member>& ms, uint32_t groups, size_t per_group) {
  for (uint32_t g = 0; g < groups; ++g) {
    size_t n = 0, l1 = 0, l2 = 0;
    int64_t epoch = -1;
    for (const auto& m : ms) {
      if (m.group() != g) continue;
      ++n;
      l1 += m.role() == pb::MEMBER_ROLE_LEADER1;
      l2 += m.role() == pb::MEMBER_ROLE_LEADER2;
      if (epoch == -1) epoch = m.epoch();
      if (m.epoch() != epoch || m.epoch() <= 0) return false;
    }
    if (n != per_group || l1 != 1 || l2 != (per_group > 1 ? 1u : 0u)) return false;
  }
  return true;
}

inline std::string Describe(const std::vector<pb::Member>& ms) {
  std::string out;
  for (const auto& m : ms)
    out += "  g" + std::to_string(m.group()) + " " + m.node() + " id" + std::to_string(m.id()) +
           " role" + std::to_string(m.role()) + " epoch" + std::to_string(m.epoch()) + "\n";
  return out;
}

class ClusterTest : public ::testing::Test {
 protected:
  // A fast etcd: heartbeat 25 ms, election 250 ms, so its minimum lease TTL is 1 s.
  ClusterTest() : etcd_({"--heartbeat-interval=25", "--election-timeout=250"}) {}

  void SetUp() override { ASSERT_TRUE(etcd_.Start().ok()) << etcd_.log(); }

  void TearDown() override {
    if (HasFailure()) {
      for (auto& [name, s] : servers_)
        if (s) std::cerr << "---- " << name << " log:\n" << s->log() << "\n";
    }
    servers_.clear();
  }

  std::string Config(uint32_t groups, uint32_t group_size, const std::string& dbname = "testdb") {
    std::string path = dir_.File(dbname + "-" + std::to_string(groups) + "x" +
                                 std::to_string(group_size) + ".yaml");
    std::ofstream(path) << "dbname: " << dbname << "\ngroups: " << groups
                        << "\ngroup_size: " << group_size << "\nreads: " << (group_size + 1) / 2
                        << "\nwrites: " << group_size / 2 + 1 << "\n";
    return path;
  }

  // Creates (not starts) node `name` with its own data directory (reused across restarts).
  ServerProcess& Node(const std::string& name, const std::string& config, double ttl = 1,
                      double refresh = 0.25) {
    std::string data = dir_.File("data-" + name);
    servers_[name] = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--etcd", etcd_.endpoint(), "--node", name, "--config", config,
                                 "--lease-ttl", std::to_string(ttl), "--refresh-interval",
                                 std::to_string(refresh)},
        data);
    return *servers_[name];
  }

  void StartNodes(const std::vector<std::string>& names, const std::string& config, double ttl = 1,
                  double refresh = 0.25) {
    for (const auto& n : names) {
      Status s = Node(n, config, ttl, refresh).Start();
      ASSERT_TRUE(s.ok()) << n << ": " << s.ToString();
    }
  }

  ServerProcess& S(const std::string& name) { return *servers_.at(name); }

  // Waits up to timeout_ms until node `via` lists groups x group_size members with one leader 1
  // and one leader 2 per group (WellFormed) and returns that list; empty, with a failure
  // describing the members, if it does not.
  std::vector<pb::Member> WaitWellFormed(const std::string& via, uint32_t groups,
                                         uint32_t group_size, int timeout_ms = 15000) {
    std::vector<pb::Member> ms;
    bool ok = WaitFor(
        [&] {
          ms = Members(S(via).address());
          return ms.size() == groups * group_size && WellFormed(ms, groups, group_size);
        },
        timeout_ms);
    if (ok) return ms;
    ADD_FAILURE() << "cluster not well formed via " << via << ":\n" << Describe(ms);
    return {};
  }

  EtcdProcess etcd_;
  TempDir dir_;
  std::map<std::string, std::unique_ptr<ServerProcess>> servers_;
};

}  // namespace rdb::test
