// Process lifecycle end to end: restart keeps everything; SIGTERM under load exits 0 with every
// acknowledged write present after restart; kill -9 under load (fsync=always) loses no
// acknowledged write; a second server on the same data directory refuses to start; bad
// configuration fails at start naming the setting.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "tests/support/server_process.h"
#include "tests/support/subprocess.h"

namespace rdb::test {
namespace {

using client::EventInput;

struct Acked {
  std::string key;
  uint64_t version;
  std::string payload;
};

// Appends from `threads` clients until told to stop or the server stops answering, recording
// every acknowledged write by seq.
class Load {
 public:
  Load(const ServerProcess& server, int threads) {
    for (int t = 0; t < threads; t++) {
      threads_.emplace_back([this, &server, t] {
        auto c = server.NewClient(5);
        for (int i = 0; !stop_.load(); i++) {
          std::string key = "load-" + std::to_string(t) + "-" + std::to_string(i % 50);
          std::string payload = "p" + std::to_string(t) + "." + std::to_string(i);
          auto r = c->Append(key, EventInput{payload, ""});
          if (!r.ok()) {
            if (r.status().code() == Code::kUnavailable) break;  // the server went away
            continue;
          }
          std::lock_guard<std::mutex> lock(mu_);
          acked_[r->first_seq] = {key, r->first_version, payload};
        }
      });
    }
  }
  ~Load() { Join(); }
  void Join() {
    stop_.store(true);
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_.size();
  }
  std::map<uint64_t, Acked> acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<uint64_t, Acked> acked_;
  std::vector<std::thread> threads_;
};

void WaitForAcks(Load& load, size_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (load.count() < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Every acknowledged write is in the log with its key, version and payload.
void ExpectAllPresent(client::Client& c, const std::map<uint64_t, Acked>& acked) {
  std::map<uint64_t, client::Event> stored;
  uint64_t from = 0;
  while (true) {
    auto r = c.ReadAll(from, 10000);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (auto& e : r->events) stored[e.seq] = e;
    if (r->next == 0 || r->events.empty()) break;
    from = r->next;
  }
  size_t missing = 0;
  for (const auto& [seq, a] : acked) {
    auto it = stored.find(seq);
    if (it == stored.end() || it->second.key != a.key || it->second.version != a.version ||
        it->second.payload != a.payload) {
      if (missing++ < 5)
        ADD_FAILURE() << "acknowledged seq " << seq << " (" << a.key << " v" << a.version
                      << ") is missing or different";
    }
  }
  EXPECT_EQ(missing, 0u);
}

TEST(Durability, RestartKeepsEverything) {
  TempDir dir;
  std::string data = dir.File("data");
  std::vector<std::string> before;
  {
    ServerProcess s({}, data);
    ASSERT_TRUE(s.Start().ok()) << s.log();
    auto c = s.NewClient();
    ASSERT_TRUE(c->Append("a", EventInput{"1", "T"}).ok());
    ASSERT_TRUE(c->Append("a", std::vector<EventInput>{{"2", ""}, {"3", ""}},
                          client::Expected::Exact(1), "id")
                    .ok());
    ASSERT_TRUE(c->Append("b", EventInput{"x", ""}).ok());
    ASSERT_TRUE(c->Delete("b").ok());
    auto all = c->ReadAll(0, 100);
    ASSERT_TRUE(all.ok());
    for (auto& e : all->events) before.push_back(std::to_string(e.seq) + e.key + e.payload);
    EXPECT_EQ(s.Stop(), 0) << s.log();
  }
  ServerProcess s({}, data);
  ASSERT_TRUE(s.Start().ok()) << s.log();
  auto c = s.NewClient();
  auto all = c->ReadAll(0, 100);
  ASSERT_TRUE(all.ok());
  std::vector<std::string> after;
  for (auto& e : all->events) after.push_back(std::to_string(e.seq) + e.key + e.payload);
  EXPECT_EQ(after, before);
  EXPECT_EQ(c->Get("a")->payload, "3");
  EXPECT_EQ(c->Get("b").status().code(), Code::kNotFound);
  // Idempotency ids and versions survive the restart too.
  auto retry = c->Append("a", std::vector<EventInput>{{"2", ""}, {"3", ""}},
                         client::Expected::Exact(1), "id");
  ASSERT_TRUE(retry.ok()) << retry.status().ToString();
  EXPECT_TRUE(retry->deduplicated);
  auto next = c->Append("a", EventInput{"4", ""});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->first_version, 4u);
  EXPECT_GT(next->first_seq, 5u);
  EXPECT_EQ(s.Stop(), 0) << s.log();
}

TEST(Durability, SigtermUnderLoadExitsZeroAndKeepsAcknowledgedWrites) {
  TempDir dir;
  std::string data = dir.File("data");
  std::map<uint64_t, Acked> acked;
  {
    ServerProcess s({}, data);
    ASSERT_TRUE(s.Start().ok()) << s.log();
    Load load(s, 8);
    WaitForAcks(load, 1000);
    int status = s.Stop(30000);
    load.Join();
    acked = load.acked();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n"
                                                               << s.log();
    EXPECT_NE(s.log().find("shut down cleanly"), std::string::npos) << s.log();
  }
  ASSERT_GE(acked.size(), 1000u);
  ServerProcess s({}, data);
  ASSERT_TRUE(s.Start().ok()) << s.log();
  ExpectAllPresent(*s.NewClient(), acked);
  EXPECT_EQ(s.Stop(), 0);
}

TEST(Durability, KillNineUnderLoadLosesNoAcknowledgedWrite) {
  TempDir dir;
  std::string data = dir.File("data");
  std::map<uint64_t, Acked> acked;
  for (int round = 0; round < 5; round++) {
    ServerProcess s({"--fsync", "always"}, data);
    ASSERT_TRUE(s.Start().ok()) << s.log();
    Load load(s, 8);
    WaitForAcks(load, 500 + round * 137);
    s.Kill();
    load.Join();
    for (auto& [seq, a] : load.acked()) acked[seq] = a;
  }
  ServerProcess s({}, data);
  ASSERT_TRUE(s.Start().ok()) << s.log();
  ExpectAllPresent(*s.NewClient(), acked);
  EXPECT_EQ(s.Stop(), 0);
}

TEST(Durability, SecondServerOnTheSameDataDirRefuses) {
  ServerProcess first;
  ASSERT_TRUE(first.Start().ok()) << first.log();
  ProcessResult second = RunProcess(
      {ServerBinary(), "--data-dir", first.data_dir(), "--port", std::to_string(FreePort())}, {},
      "", 20000);
  EXPECT_FALSE(second.timed_out);
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find("another rdb-server uses this data directory"), std::string::npos)
      << second.err;
  EXPECT_TRUE(first.NewClient()->GetStatus().ok());
  EXPECT_EQ(first.Stop(), 0);
}

TEST(Durability, BadConfigurationFailsNamingTheSetting) {
  TempDir dir;
  ProcessResult r = RunProcess({ServerBinary(), "--data-dir", dir.File("d"), "--fsync", "maybe"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--fsync"), std::string::npos) << r.err;
  r = RunProcess({ServerBinary(), "--data-dir", dir.File("d")}, {{"TRACE_LEVEL", "chatty"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("TRACE_LEVEL"), std::string::npos) << r.err;
  std::ofstream(dir.File("c.yaml")) << "port: 1234\nfsync_policy: always\n";
  r = RunProcess({ServerBinary(), "--config", dir.File("c.yaml")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("fsync_policy"), std::string::npos) << r.err;
  r = RunProcess({ServerBinary(), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("payload_bytes_max"), std::string::npos);
}

}  // namespace
}  // namespace rdb::test
