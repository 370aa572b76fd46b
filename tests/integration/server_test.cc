// rdb::server::Server in-process: start, serve through the client library, shut down, reopen.
// The same paths as the e2e tests, but inside one process, so ASan/UBSan (make test-asan) see the
// service, the status mapping and the shutdown sequence.
#include "server/server.h"

#include <gtest/gtest.h>

#include <thread>

#include "client/client.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace rdb::server {
namespace {

ServerConfig Config(const test::TempDir& dir) {
  ServerConfig c;
  c.data_dir = dir.File("data");
  c.port = static_cast<uint16_t>(test::FreePort());
  c.trace_level = "warn";
  return c;
}

TEST(ServerInProcess, ServesShutsDownAndReopens) {
  test::TempDir dir;
  ServerConfig config = Config(dir);
  {
    auto server = Server::Start(config);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    auto c = std::move(client::Client::Connect((*server)->listen_address())).value();
    ASSERT_TRUE(c->WaitUntilReady(10).ok());
    auto a = c->Append("k", client::EventInput{"v1", "T"}, client::Expected::NoStream(), "id");
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    auto conflict = c->Append("k", client::EventInput{"v2", ""}, client::Expected::NoStream());
    EXPECT_EQ(conflict.status().code(), Code::kFailedPrecondition);
    EXPECT_EQ(conflict.status().actual_version().value_or(0), 1u);
    EXPECT_EQ(c->Get("").status().code(), Code::kInvalidArgument);
    EXPECT_EQ(c->Get("absent").status().code(), Code::kNotFound);
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; t++) {
      writers.emplace_back([&c, t] {
        for (int i = 0; i < 50; i++) {
          ASSERT_TRUE(c->Append("w" + std::to_string(t), client::EventInput{"x", ""}).ok());
        }
      });
    }
    for (auto& w : writers) w.join();
    EXPECT_EQ(c->GetStatus()->events_appended, 201u);
    // A second server on the same directory is refused by the lock.
    ServerConfig second = config;
    second.port = static_cast<uint16_t>(test::FreePort());
    auto refused = Server::Start(second);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Code::kAlreadyExists);
    EXPECT_TRUE((*server)->Shutdown().ok());
    EXPECT_TRUE((*server)->Shutdown().ok());  // idempotent
    EXPECT_FALSE(c->GetStatus().ok());
  }
  config.port = static_cast<uint16_t>(test::FreePort());
  auto server = Server::Start(config);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto c = std::move(client::Client::Connect((*server)->listen_address())).value();
  ASSERT_TRUE(c->WaitUntilReady(10).ok());
  auto all = c->ReadAll(0, 1000);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->events.size(), 201u);
  EXPECT_EQ(c->Get("k")->payload, "v1");
}

TEST(ServerInProcess, PortInUseIsAClearError) {
  test::TempDir dir;
  ServerConfig config = Config(dir);
  auto first = Server::Start(config);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  test::TempDir other;
  ServerConfig clash = Config(other);
  clash.port = config.port;
  auto second = Server::Start(clash);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen"), std::string::npos)
      << second.status().ToString();
}

}  // namespace
}  // namespace rdb::server
