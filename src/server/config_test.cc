#include "server/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <vector>

#include "tests/support/temp_dir.h"

namespace rdb::server {
namespace {

struct Parsed {
  ParseOutcome outcome;
  ServerConfig config;
};

Parsed Parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
  std::vector<const char*> argv = {"rdb-server"};
  for (auto& a : args) argv.push_back(a.c_str());
  Parsed r;
  r.outcome = ParseServerConfig(static_cast<int>(argv.size()), argv.data(), &r.config,
                                [&](const std::string& name) -> std::optional<std::string> {
                                  auto it = env.find(name);
                                  if (it == env.end()) return std::nullopt;
                                  return it->second;
                                });
  return r;
}

std::string WriteFile(const test::TempDir& dir, const std::string& text) {
  std::string path = dir.File("rdb.yaml");
  std::ofstream(path) << text;
  return path;
}

TEST(ServerConfig, DefaultsMatchTheContract) {
  Parsed r = Parse({});
  EXPECT_FALSE(r.outcome.exit_now);
  EXPECT_EQ(r.config.data_dir, "./data");
  EXPECT_EQ(r.config.listen, "127.0.0.1");
  EXPECT_EQ(r.config.port, 2048);
  EXPECT_EQ(r.config.fsync, FsyncPolicy::kAlways);
  EXPECT_EQ(r.config.fsync_interval_ms, 10u);
  EXPECT_EQ(r.config.metrics_port, 0);
  EXPECT_EQ(r.config.payload_bytes_max, 4u << 20);
  EXPECT_EQ(r.config.ListenAddress(), "127.0.0.1:2048");
  EXPECT_GT(r.config.grpc_receive_bytes_max(), 16u << 20);
}

TEST(ServerConfig, FlagsParse) {
  Parsed r = Parse({"--data-dir", "/tmp/x", "--port", "3000", "--fsync", "NEVER",
                    "--payload-bytes-max", "1MiB", "--metrics-port=9100"});
  ASSERT_FALSE(r.outcome.exit_now);
  EXPECT_EQ(r.config.data_dir, "/tmp/x");
  EXPECT_EQ(r.config.port, 3000);
  EXPECT_EQ(r.config.fsync, FsyncPolicy::kNever);
  EXPECT_EQ(r.config.payload_bytes_max, 1u << 20);
  EXPECT_EQ(r.config.metrics_port, 9100);
}

TEST(ServerConfig, FlagBeatsEnvBeatsFile) {
  test::TempDir dir;
  std::string path = WriteFile(dir,
                               "trace_level: error\nnode: from-file\nlease_ttl: 7\n"
                               "port: 4000\n");
  Parsed r = Parse({"--config", path, "--node", "from-flag"},
                   {{"TRACE_LEVEL", "DEBUG"}, {"NODE", "from-env"}});
  ASSERT_FALSE(r.outcome.exit_now);
  EXPECT_EQ(r.config.node, "from-flag");     // flag > env > file
  EXPECT_EQ(r.config.trace_level, "debug");  // env > file, any case
  EXPECT_EQ(r.config.lease_ttl_s, 7);        // file > default
  EXPECT_EQ(r.config.port, 4000);
}

TEST(ServerConfig, ClusterShapeFromFile) {
  test::TempDir dir;
  std::string path = WriteFile(dir,
                               "dbname: shop\ngroups: 4\ngroup_size: 3\nreads: 2\nwrites: 2\n"
                               "etcd: [127.0.0.1:2379, 127.0.0.1:22379]\nrefresh_interval: 0.5\n");
  Parsed r = Parse({"--config", path});
  ASSERT_FALSE(r.outcome.exit_now);
  EXPECT_EQ(r.config.dbname, "shop");
  EXPECT_EQ(r.config.groups, 4u);
  EXPECT_EQ(r.config.group_size, 3u);
  EXPECT_EQ(r.config.etcd, "127.0.0.1:2379,127.0.0.1:22379");
  EXPECT_DOUBLE_EQ(r.config.refresh_interval_s, 0.5);
}

TEST(ServerConfig, BadValuesFail) {
  EXPECT_EQ(Parse({"--port", "70000"}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({"--fsync", "sometimes"}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({"--payload-bytes-max", "4XB"}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({"--no-such-flag"}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({}, {{"TRACE_LEVEL", "loud"}}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({}, {{"LEASE_TTL", "-1"}}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({"--lease-ttl", "1", "--refresh-interval", "2"}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({"--address", "nohostport"}).outcome.exit_code, 2);
}

TEST(ServerConfig, UnknownYamlKeyFails) {
  test::TempDir dir;
  testing::internal::CaptureStderr();
  Parsed r = Parse({"--config", WriteFile(dir, "data_dir: /x\nfsync_mode: always\n")});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.outcome.exit_code, 2);
  EXPECT_NE(err.find("fsync_mode"), std::string::npos) << err;
}

TEST(ServerConfig, BadYamlValueNamesTheSetting) {
  test::TempDir dir;
  testing::internal::CaptureStderr();
  Parsed r = Parse({"--config", WriteFile(dir, "groups: many\n")});
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.outcome.exit_code, 2);
  EXPECT_NE(err.find("'groups'"), std::string::npos) << err;
}

TEST(ServerConfig, MissingOrBrokenYamlFails) {
  test::TempDir dir;
  EXPECT_EQ(Parse({"--config", dir.File("absent.yaml")}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({"--config", WriteFile(dir, "port: [1, {\n")}).outcome.exit_code, 2);
  EXPECT_EQ(Parse({"--config", WriteFile(dir, "- just\n- a list\n")}).outcome.exit_code, 2);
}

TEST(ServerConfig, HelpPrintsLimits) {
  testing::internal::CaptureStdout();
  Parsed r = Parse({"--help"});
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_TRUE(r.outcome.exit_now);
  EXPECT_EQ(r.outcome.exit_code, 0);
  for (const char* name :
       {"--payload-bytes-max", "--requests-in-flight-max", "--append-stream-in-flight-max",
        "key_bytes_max", "batch_events_max", "TRACE_LEVEL", "--fsync", "4MiB"}) {
    EXPECT_NE(out.find(name), std::string::npos) << name;
  }
}

TEST(ServerConfig, ParseBytes) {
  EXPECT_EQ(ParseBytes("100").value(), 100u);
  EXPECT_EQ(ParseBytes("4MiB").value(), 4u << 20);
  EXPECT_EQ(ParseBytes("64k").value(), 64u << 10);
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("MiB").ok());
  EXPECT_FALSE(ParseBytes("1TiB").ok());
}

}  // namespace
}  // namespace rdb::server
