// PostgresProcess: a private PostgreSQL 15 server for tests, on a loopback port, with its data
// under a fresh temporary directory.
//
// Start() runs initdb (trust authentication, superuser `postgres`, UTF8, locale C) and then the
// postmaster as a child of the test, listening on 127.0.0.1:<free port> with its unix socket in the
// temporary directory. PostgreSQL refuses to run as root: when the test is root, the directory is
// chowned to `postgres`, initdb and pg_ctl run through `runuser -u postgres`, and the postmaster's
// child process drops to that user itself before exec — so that it stays our child and dies with
// the test (PR_SET_PDEATHSIG) even if the test is killed. Stop() — also the destructor — stops it
// with `pg_ctl -m immediate` (SIGKILL if that fails) and removes the directory.
//
// Not thread-safe; one test thread owns it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace rdb::test {

class PostgresProcess {
 public:
  // settings: extra "-c name=value" server settings, e.g. {"fsync=off"}.
  explicit PostgresProcess(std::vector<std::string> settings = {});
  ~PostgresProcess();
  PostgresProcess(const PostgresProcess&) = delete;
  PostgresProcess& operator=(const PostgresProcess&) = delete;

  // The directory of initdb, pg_ctl and postgres ($RDB_PG_BIN, else /usr/lib/postgresql/15/bin).
  static std::string BinDir();
  // True if the binaries are there (tests skip otherwise).
  static bool Available();

  // initdb + start, waiting until the server accepts connections (up to timeout_ms). Retries on
  // another port if the chosen one was taken meanwhile.
  Status Start(int timeout_ms = 60000);
  // Immediate shutdown, then removes the data. Safe to call twice.
  void Stop();
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  // "postgresql://postgres@127.0.0.1:<port>/<database>"
  std::string Dsn(const std::string& database = "postgres") const;
  const std::string& dir() const { return dir_->path(); }

  // Runs SQL through psql (-X -At, ON_ERROR_STOP): exit_code 0 and the rows in `out`, one per line,
  // columns separated by '|'.
  ProcessResult Psql(const std::string& sql, const std::string& database = "postgres") const;

  // The server's log (initdb's and the postmaster's output).
  std::string log() const;

 private:
  // argv run as the postgres user when we are root.
  std::vector<std::string> AsPostgres(std::vector<std::string> argv) const;
  Status InitDb();
  pid_t SpawnPostmaster();

  std::vector<std::string> settings_;
  std::unique_ptr<TempDir> dir_;
  std::string data_dir_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace rdb::test
