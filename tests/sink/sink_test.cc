// Sink (the follow loop) against a real PostgreSQL and a scripted stream in place of the server:
// batching, resubscribing after a broken stream, checkpoints, Stop(), fatal errors.
#include "tools/rdb-sink-postgres/sink.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "tests/sink/pg_test_base.h"
#include "tests/support/postgres_process.h"

namespace rdb::sink {
namespace {

using client::Change;
using client::ChangeOp;
using test::PostgresProcess;

// The "server": a log of changes. Each subscription sends the changes after its start in messages
// of 7, with a checkpoint every other message, breaks after `break_every` messages (0 = never),
// then tails: a checkpoint of the last seq every 10 ms until cancelled.
struct FakeServer {
  std::vector<Change> log;
  uint64_t tail_checkpoint = 0;  // sent while tailing; 0 = the last change's seq
  int break_every = 0;
  Status refuse;  // returned by Next() if not OK
  std::mutex mu;
  std::vector<uint64_t> starts;  // after_seq of every subscription

  class Sub : public client::Subscription {
   public:
    Sub(FakeServer* s, uint64_t after) : s_(s), after_(after) {}
    Status Next(std::vector<Change>* changes, uint64_t* checkpoint) override {
      *checkpoint = 0;
      if (!s_->refuse.ok()) return s_->refuse;
      if (s_->break_every > 0 && ++sent_ > s_->break_every)
        return Status::Unavailable("stream broken by the test");
      size_t n = 0;
      for (const Change& c : s_->log) {
        if (c.seq <= after_ || n == 7) continue;
        changes->push_back(c);
        n++;
      }
      if (n > 0) {
        after_ = changes->back().seq;
        if (sent_ % 2 == 0) *checkpoint = after_;
        return Status::OK();
      }
      while (!cancelled_.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        uint64_t cp = s_->tail_checkpoint;
        if (cp == 0 && !s_->log.empty()) cp = s_->log.back().seq;
        if (cp > 0) {
          *checkpoint = cp;
          return Status::OK();
        }
      }
      return Status::Unavailable("cancelled");
    }
    void Cancel() override { cancelled_ = true; }

   private:
    FakeServer* s_;
    uint64_t after_;
    int sent_ = 0;
    std::atomic<bool> cancelled_{false};
  };

  SinkOptions Options() {
    SinkOptions o;
    o.server = "fake";
    o.batch_max = 25;
    o.batch_ms = 5;
    o.backoff_initial_ms = 1;
    o.backoff_max_ms = 10;
    o.subscribe =
        [this](
            const client::SubscribeOptions& so) -> Result<std::unique_ptr<client::Subscription>> {
      std::lock_guard<std::mutex> lock(mu);
      uint64_t after = so.start == client::SubscribeOptions::Start::kAfterSeq ? so.after_seq : 0;
      starts.push_back(after);
      return std::unique_ptr<client::Subscription>(new Sub(this, after));
    };
    return o;
  }
};

class SinkTest : public PgTestBase {
 protected:
  std::unique_ptr<PgStore> Open(ValueType type = ValueType::kText) {
    StoreOptions o;
    o.table = table_;
    o.sink_name = table_;
    o.value_type = type;
    o.audit_table = table_ + "_audit";
    auto store = PgStore::Open(pg->Dsn(), o);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  uint64_t Position() {
    std::string p = Sql("SELECT seq FROM rdeebee_sink_positions WHERE sink = '" + table_ + "'");
    return p.empty() ? 0 : std::stoull(p);
  }
  bool WaitForPosition(uint64_t seq) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Position() >= seq) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

// A log over `keys` keys with a delete every 5th change, seqs with gaps (seq = 2i + 1).
std::vector<Change> MakeLog(int count, int keys, std::map<std::string, Change>* latest) {
  std::vector<Change> log;
  std::map<std::string, uint64_t> versions;
  for (int i = 0; i < count; i++) {
    Change c;
    c.seq = 2 * static_cast<uint64_t>(i) + 1;
    c.key = "k" + std::to_string((i * 7) % keys);
    c.version = ++versions[c.key];
    c.timestamp_ms = 1700000000000 + c.seq;
    bool exists = latest->count(c.key) > 0;
    if (i % 5 == 4 && exists) {
      c.op = ChangeOp::kDelete;
      latest->erase(c.key);
    } else {
      c.op = exists ? ChangeOp::kUpdate : ChangeOp::kCreate;
      c.after = "v" + std::to_string(i);
      (*latest)[c.key] = c;
    }
    log.push_back(c);
  }
  return log;
}

TEST_F(SinkTest, AppliesBrokenStreamsAndConnectionsExactlyOnce) {
  FakeServer server;
  std::map<std::string, Change> latest;
  server.log = MakeLog(500, 40, &latest);
  server.break_every = 3;
  Sink sink(server.Options(), Open());
  Status result;
  std::thread runner([&] { result = sink.Run(); });
  // Midway, PostgreSQL drops the sink's connection: it reconnects, reloads its position, retries.
  bool half = WaitForPosition(server.log[250].seq);
  Sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client "
      "backend' AND pid <> pg_backend_pid()");
  bool reached = WaitForPosition(server.log.back().seq);
  sink.Stop();
  runner.join();
  ASSERT_TRUE(half);
  ASSERT_TRUE(reached);
  EXPECT_TRUE(result.ok()) << result.ToString();

  std::string want;
  for (const auto& [key, c] : latest)
    want += (want.empty() ? "" : " ") + key + "=" + *c.after + "@" + std::to_string(c.seq);
  EXPECT_EQ(
      Sql("SELECT string_agg(key || '=' || value || '@' || seq, ' ' ORDER BY key) FROM " + table_),
      want);
  EXPECT_EQ(Sql("SELECT count(*) FROM " + table_ + "_audit"), "500");
  // Each new subscription started exactly after what the previous one delivered.
  std::lock_guard<std::mutex> lock(server.mu);
  ASSERT_GT(server.starts.size(), 10u);
  EXPECT_EQ(server.starts[0], 0u);
  for (size_t i = 1; i < server.starts.size(); i++)
    EXPECT_GE(server.starts[i], server.starts[i - 1]);
}

TEST_F(SinkTest, CheckpointsMoveThePositionWhenNothingMatches) {
  FakeServer server;
  server.tail_checkpoint = 42;
  Sink sink(server.Options(), Open());
  Status result;
  std::thread runner([&] { result = sink.Run(); });
  bool reached = WaitForPosition(42);
  sink.Stop();
  runner.join();
  EXPECT_TRUE(reached);
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(Sql("SELECT count(*) FROM " + table_), "0");
}

TEST_F(SinkTest, StopsAtAChangeThatDoesNotFit) {
  FakeServer server;
  std::map<std::string, Change> latest;
  server.log = MakeLog(60, 10, &latest);
  for (Change& c : server.log)
    if (c.after) c.after = "{\"n\": " + std::to_string(c.seq) + "}";
  server.log[40].op = ChangeOp::kUpdate;
  server.log[40].after = "{broken";
  const uint64_t bad = server.log[40].seq;
  Sink sink(server.Options(), Open(ValueType::kJsonb));
  ApplyError at;
  Status result = sink.Run(&at);  // returns by itself
  EXPECT_EQ(result.code(), Code::kInvalidArgument) << result.ToString();
  EXPECT_EQ(at.seq, bad);
  EXPECT_EQ(Position(), server.log[39].seq);
  EXPECT_EQ(Sql("SELECT count(*) FROM " + table_ + "_audit"), "40");
}

TEST_F(SinkTest, AServerRefusalEndsTheRun) {
  FakeServer server;
  server.refuse = Status::FailedPrecondition("position 7 is no longer available");
  Sink sink(server.Options(), Open());
  Status result = sink.Run();
  EXPECT_EQ(result.code(), Code::kFailedPrecondition);
  EXPECT_NE(result.message().find("no longer available"), std::string::npos);
}

}  // namespace
}  // namespace rdb::sink
