// rdb-sink-postgres against a cluster: a real etcd, a 2 x 3 cluster of real rdb-server processes,
// a real PostgreSQL and the sink binary pointed at a follower. Writers run through every node while
// leader 1 of a group is killed with kill -9 and restarted; afterwards the sink's table is exactly
// the latest state of every key of the committed log, and its audit table saw every change once.
#include <signal.h>
#include <sys/wait.h>

#include <map>
#include <pqxx/pqxx>
#include <set>

#include "cluster/cluster_workload.h"
#include "tests/support/postgres_process.h"
#include "tests/support/subprocess.h"

namespace rdb::test {
namespace {

class SinkClusterE2eTest : public ClusterTest {
 protected:
  static void SetUpTestSuite() {
    // scripts/install-deps.sh installs PostgreSQL 15; without it this test fails, never skips.
    if (!PostgresProcess::Available()) return;
    pg_ = new PostgresProcess({"fsync=off"});
    if (Status s = pg_->Start(); !s.ok()) {
      ADD_FAILURE() << s.ToString();
      delete pg_;
      pg_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(PostgresProcess::Available()) << "PostgreSQL 15 is not installed";
    ASSERT_NE(pg_, nullptr);
    ClusterTest::SetUp();
    StartNodes(names_, Config(2, 3));
    ASSERT_FALSE(WaitWellFormed("n0", 2, 3).empty());
    db_ = std::make_unique<pqxx::connection>(pg_->Dsn());
  }
  void TearDown() override {
    if (sink_pid_ > 0) {
      kill(sink_pid_, SIGKILL);
      waitpid(sink_pid_, nullptr, 0);
    }
    ClusterTest::TearDown();
  }
  pqxx::result Query(const std::string& sql) {
    pqxx::nontransaction tx(*db_);
    return tx.exec(sql);
  }
  uint64_t Position(const std::string& sink) {
    if (Query("SELECT to_regclass('rdeebee_sink_positions') IS NULL")[0][0].as<bool>()) return 0;
    pqxx::result r =
        Query("SELECT seq FROM rdeebee_sink_positions WHERE sink = " + db_->quote(sink));
    return r.empty() ? 0 : r[0][0].as<uint64_t>();
  }

  static inline PostgresProcess* pg_ = nullptr;
  std::unique_ptr<pqxx::connection> db_;
  pid_t sink_pid_ = -1;
  const std::vector<std::string> names_{"n0", "n1", "n2", "n3", "n4", "n5"};
};

TEST_F(SinkClusterE2eTest, TheTableStaysExactAcrossALeaderFailover) {
  std::string victim, follower;
  for (const pb::Member& m : Members(S("n0").address())) {
    if (m.group() == 0 && m.role() == pb::MEMBER_ROLE_LEADER1) victim = m.node();
    if (m.group() == 1 && m.role() == pb::MEMBER_ROLE_FOLLOWER) follower = m.node();
  }
  ASSERT_FALSE(victim.empty());
  ASSERT_FALSE(follower.empty());
  const std::string table = "cluster_accounts";
  sink_pid_ = SpawnProcess({RDB_SINK_BIN, "--server", S(follower).address(), "--dsn", pg_->Dsn(),
                            "--table", table, "--audit-table", table + "_audit"},
                           dir_.File("sink.log"));
  ASSERT_GT(sink_pid_, 0);

  History history;
  std::vector<std::string> via;
  for (const auto& n : names_)
    if (n != victim) via.push_back(S(n).address());
  {
    Writers writers(&history, via);
    ASSERT_TRUE(writers.Progress(150, 30000));
    S(victim).Kill();
    ASSERT_TRUE(writers.Progress(150, 30000)) << "writes did not resume after the kill";
    ASSERT_TRUE(S(victim).Start().ok());
    ASSERT_TRUE(writers.Progress(100, 30000));
  }
  const std::vector<pb::Event> log = GlobalLog(S(follower).address());
  ASSERT_FALSE(log.empty());
  ASSERT_TRUE(WaitFor([&] { return Position(table) >= log.back().seq(); }, 30000, 20))
      << "sink at " << Position(table) << " of " << log.back().seq() << "\n"
      << RunProcess({"/bin/cat", dir_.File("sink.log")}).out;

  // The table is the latest state of every key of the log: value, version, seq; deleted keys
  // absent.
  std::map<std::string, const pb::Event*> latest;
  for (const pb::Event& e : log) latest[e.key()] = &e;
  std::map<std::string, pqxx::row> rows;
  for (const auto& row : Query("SELECT key, value, version, seq FROM " + table))
    rows.emplace(row[0].as<std::string>(), row);
  size_t present = 0;
  for (const auto& [key, e] : latest) {
    auto it = rows.find(key);
    if (e->kind() == pb::EVENT_KIND_DELETE) {
      EXPECT_TRUE(it == rows.end()) << key;
      continue;
    }
    present++;
    ASSERT_TRUE(it != rows.end()) << key << " is missing from the table";
    EXPECT_EQ(it->second[1].as<std::string>(), e->payload()) << key;
    EXPECT_EQ(it->second[2].as<uint64_t>(), e->version()) << key;
    EXPECT_EQ(it->second[3].as<uint64_t>(), e->seq()) << key;
  }
  EXPECT_EQ(rows.size(), present);
  // Every change applied exactly once (the audit table's seq is its primary key).
  std::set<uint64_t> log_seqs, audited;
  for (const pb::Event& e : log) log_seqs.insert(e.seq());
  for (const auto& row : Query("SELECT seq FROM " + table + "_audit"))
    audited.insert(row[0].as<uint64_t>());
  EXPECT_TRUE(audited == log_seqs)
      << audited.size() << " audited, " << log_seqs.size() << " in the log";
  ExpectHistoryHolds(history, log);
}

}  // namespace
}  // namespace rdb::test
