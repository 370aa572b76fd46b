// rdb-sink-postgres end to end: a real rdb-server, a real PostgreSQL and the sink binary. The main
// test kills the sink with SIGKILL while it applies and checks, against the server's Get, that the
// table holds every key's latest state and that the audit table saw every change exactly once.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <thread>

#include "tests/sink/pg_test_base.h"
#include "tests/support/postgres_process.h"
#include "tests/support/server_process.h"
#include "tests/support/subprocess.h"

namespace rdb::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string SinkBinary() { return RDB_SINK_BIN; }

// One rdb-sink-postgres process; killed (SIGKILL) on destruction if still running.
class SinkProcess {
 public:
  SinkProcess(const TempDir& dir, std::vector<std::string> args) : args_(std::move(args)) {
    log_path_ = dir.File("sink-" + std::to_string(++count_) + ".log");
  }
  ~SinkProcess() { Kill(); }
  void Start() {
    std::vector<std::string> argv = {SinkBinary()};
    argv.insert(argv.end(), args_.begin(), args_.end());
    pid_ = SpawnProcess(argv, log_path_);
    ASSERT_GT(pid_, 0);
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // SIGTERM and the exit code (-1 if it had to be killed).
  int Terminate(int timeout_ms = 20000) {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    return Wait(timeout_ms);
  }
  // Waits for the exit; its code, or -1 (then killed) after timeout_ms.
  int Wait(int timeout_ms) {
    int status = 0;
    if (!WaitForExit(pid_, timeout_ms, &status)) {
      Kill();
      return -1;
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  bool running() const { return pid_ > 0; }
  std::string log() const {
    ProcessResult r = RunProcess({"/bin/cat", log_path_});
    return r.out;
  }

 private:
  static inline int count_ = 0;
  std::vector<std::string> args_;
  std::string log_path_;
  pid_t pid_ = -1;
};

class SinkE2eTest : public sink::PgTestBase {
 protected:
  void SetUp() override {
    sink::PgTestBase::SetUp();
    if (HasFatalFailure()) return;
    db_ = std::make_unique<pqxx::connection>(pg->Dsn());
  }
  void StartServer() {
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{"--fsync", "never"});
    Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    client_ = server_->NewClient();
  }
  std::vector<std::string> SinkArgs(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"--server", server_->address(), "--dsn",
                                     pg->Dsn(),  "--table",          table_};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  pqxx::result Query(const std::string& sql) {
    pqxx::nontransaction tx(*db_);
    return tx.exec(sql);
  }
  // The stored position of sink `name` (0 if none yet).
  uint64_t Position(const std::string& name) {
    if (Query("SELECT to_regclass('rdeebee_sink_positions') IS NULL")[0][0].as<bool>()) return 0;
    pqxx::result r =
        Query("SELECT seq FROM rdeebee_sink_positions WHERE sink = " + db_->quote(name));
    return r.empty() ? 0 : r[0][0].as<uint64_t>();
  }
  // Polls until the position reaches `seq`; false after timeout_ms.
  bool WaitForPosition(const std::string& name, uint64_t seq, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      if (Position(name) >= seq) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }
  uint64_t LastSeq() {
    auto st = client_->GetStatus();
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? st->last_seq : 0;
  }

  TempDir dir_;
  std::unique_ptr<pqxx::connection> db_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(SinkE2eTest, KillNineMidwayAppliesEveryChangeExactlyOnce) {
  StartServer();
  constexpr int kEvents = 10000;
  constexpr int kKeys = 1000;
  std::mt19937_64 rng(20240611);
  int stored = 0, deletes = 0;
  while (stored < kEvents) {
    std::string key = "acct/" + std::to_string(rng() % kKeys);
    if (rng() % 10 == 0) {
      auto r = client_->Delete(key);
      if (r.ok()) {
        stored++;
        deletes++;
      } else {
        ASSERT_TRUE(r.status().IsNotFound()) << r.status().ToString();
      }
      continue;
    }
    std::string payload = "balance " + std::to_string(rng() % 100000) + " \xe2\x82\xac";
    auto r = client_->Append(key, client::EventInput{payload, "Deposited"});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    stored++;
  }
  ASSERT_GT(deletes, 500);
  const uint64_t last = LastSeq();
  ASSERT_GE(last, static_cast<uint64_t>(kEvents));

  const std::string audit = table_ + "_audit";
  auto args = SinkArgs({"--audit-table", audit, "--batch-max", "5", "--batch-ms", "5"});
  // Two kills while it applies, at about 30% and 70% of the log.
  for (double fraction : {0.3, 0.7}) {
    SinkProcess sink(dir_, args);
    sink.Start();
    ASSERT_TRUE(WaitForPosition(table_, static_cast<uint64_t>(last * fraction), 120000))
        << sink.log();
    sink.Kill();
    uint64_t at = Position(table_);
    ASSERT_LT(at, last) << "the sink finished before it could be killed midway";
  }
  SinkProcess sink(dir_, args);
  sink.Start();
  ASSERT_TRUE(WaitForPosition(table_, last, 120000)) << sink.log();
  EXPECT_EQ(sink.Terminate(), 0) << sink.log();

  // The table equals Get for every key: value, version, seq, time; deleted keys absent.
  std::map<std::string, pqxx::row> rows;
  pqxx::result table = Query(
      "SELECT key, value, version, seq, (extract(epoch FROM updated_at) * 1000)::bigint FROM " +
      table_);
  for (const auto& row : table) rows.emplace(row[0].as<std::string>(), row);
  size_t present = 0;
  for (int k = 0; k < kKeys; k++) {
    std::string key = "acct/" + std::to_string(k);
    auto got = client_->Get(key);
    auto it = rows.find(key);
    if (!got.ok() || got->kind == client::Kind::kDelete) {
      if (!got.ok()) {
        ASSERT_TRUE(got.status().IsNotFound()) << got.status().ToString();
      }
      EXPECT_TRUE(it == rows.end()) << key << " is deleted but in the table";
      continue;
    }
    present++;
    ASSERT_TRUE(it != rows.end()) << key << " is missing from the table";
    EXPECT_EQ(it->second[1].as<std::string>(), got->payload) << key;
    EXPECT_EQ(it->second[2].as<uint64_t>(), got->version) << key;
    EXPECT_EQ(it->second[3].as<uint64_t>(), got->seq) << key;
    EXPECT_EQ(it->second[4].as<uint64_t>(), got->timestamp_ms) << key;
  }
  EXPECT_EQ(rows.size(), present);

  // Every change applied exactly once: the audit table (seq primary key, so a second application
  // would have stopped the sink) holds exactly the log's seqs.
  std::set<uint64_t> log_seqs;
  for (uint64_t from = 1; from != 0;) {
    auto page = client_->ReadAll(from, 10000);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& e : page->events) log_seqs.insert(e.seq);
    from = page->next;
  }
  ASSERT_EQ(log_seqs.size(), static_cast<size_t>(kEvents));
  std::set<uint64_t> audited;
  for (const auto& row : Query("SELECT seq FROM " + audit)) audited.insert(row[0].as<uint64_t>());
  EXPECT_EQ(Query("SELECT count(*) FROM " + audit)[0][0].as<size_t>(), audited.size());
  EXPECT_TRUE(audited == log_seqs)
      << audited.size() << " audited, " << log_seqs.size() << " in the log";
}

TEST_F(SinkE2eTest, FilteredSinkRecordsProgressThroughCheckpoints) {
  StartServer();
  for (int i = 0; i < 20; i++) {
    ASSERT_TRUE(client_->Append("a/" + std::to_string(i), client::EventInput{"x", "T"}).ok());
    ASSERT_TRUE(client_->Append("b/" + std::to_string(i), client::EventInput{"y", "T"}).ok());
  }
  ASSERT_TRUE(client_->Append("b/last", client::EventInput{"z", "T"}).ok());
  const uint64_t last = LastSeq();
  SinkProcess sink(dir_, SinkArgs({"--prefix", "a/", "--name", "only-a"}));
  sink.Start();
  // The last event does not match: only a checkpoint can carry the position to it.
  ASSERT_TRUE(WaitForPosition("only-a", last, 30000)) << sink.log();
  EXPECT_EQ(sink.Terminate(), 0) << sink.log();
  EXPECT_EQ(Query("SELECT count(*) FROM " + table_)[0][0].as<int>(), 20);
  EXPECT_EQ(Query("SELECT count(*) FROM " + table_ + " WHERE key NOT LIKE 'a/%'")[0][0].as<int>(),
            0);
}

TEST_F(SinkE2eTest, PayloadNotFittingJsonbStopsTheSinkAtItsSeq) {
  StartServer();
  ASSERT_TRUE(client_->Append("doc/1", client::EventInput{R"({"n": 1})", "T"}).ok());
  auto bad = client_->Append("doc/2", client::EventInput{"not json", "T"});
  ASSERT_TRUE(bad.ok());
  ASSERT_TRUE(client_->Append("doc/3", client::EventInput{"{}", "T"}).ok());
  const uint64_t bad_seq = bad->first_seq;
  for (int run = 0; run < 2; run++) {  // a restart stops at the same change: never skipped
    SinkProcess sink(dir_, SinkArgs({"--value-type", "jsonb"}));
    sink.Start();
    EXPECT_EQ(sink.Wait(30000), 1) << sink.log();
    std::string log = sink.log();
    EXPECT_NE(log.find("seq " + std::to_string(bad_seq)), std::string::npos) << log;
    EXPECT_NE(log.find("jsonb"), std::string::npos) << log;
    EXPECT_EQ(Position(table_), bad_seq - 1);
    EXPECT_EQ(Query("SELECT string_agg(key, ',') FROM " + table_)[0][0].as<std::string>(), "doc/1");
  }
}

TEST_F(SinkE2eTest, WrongTableShapeIsRefused) {
  Query("CREATE TABLE " + table_ +
        " (key text primary key, value integer, version bigint, seq bigint, updated_at "
        "timestamptz)");
  ProcessResult r =
      RunProcess({SinkBinary(), "--server", "127.0.0.1:1", "--dsn", pg->Dsn(), "--table", table_},
                 {}, "", 30000);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("table " + table_ + " has the wrong shape: column value is integer"),
            std::string::npos)
      << r.err;
}

TEST_F(SinkE2eTest, BadDsnOrUnreachableDatabaseExitsTwo) {
  for (const std::string& dsn :
       {std::string("definitely not a dsn"),
        "postgresql://postgres@127.0.0.1:" + std::to_string(FreePort()) + "/postgres"}) {
    auto start = Clock::now();
    ProcessResult r = RunProcess(
        {SinkBinary(), "--server", "127.0.0.1:1", "--dsn", dsn, "--table", table_}, {}, "", 30000);
    EXPECT_EQ(r.exit_code, 2) << dsn << ": " << r.err;
    EXPECT_NE(r.err.find("cannot connect to PostgreSQL"), std::string::npos) << r.err;
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(15));
  }
  ProcessResult usage = RunProcess(
      {SinkBinary(), "--dsn", pg->Dsn(), "--table", table_, "--value-type", "json"}, {}, "", 30000);
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.err.find("value-type"), std::string::npos) << usage.err;
}

}  // namespace
}  // namespace rdb::test
