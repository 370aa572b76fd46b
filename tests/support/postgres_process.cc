#include "tests/support/postgres_process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace rdb::test {
namespace {

constexpr char kDefaultBinDir[] = "/usr/lib/postgresql/15/bin";
constexpr char kRunuser[] = "/usr/sbin/runuser";
constexpr char kUser[] = "postgres";

bool IsRoot() { return geteuid() == 0; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

PostgresProcess::PostgresProcess(std::vector<std::string> settings)
    : settings_(std::move(settings)) {}

PostgresProcess::~PostgresProcess() { Stop(); }

std::string PostgresProcess::BinDir() {
  const char* dir = std::getenv("RDB_PG_BIN");
  return dir && *dir ? dir : kDefaultBinDir;
}

bool PostgresProcess::Available() {
  for (const char* tool : {"initdb", "pg_ctl", "postgres", "psql", "pg_isready"})
    if (access((BinDir() + "/" + tool).c_str(), X_OK) != 0) return false;
  return !IsRoot() || access(kRunuser, X_OK) == 0;
}

std::vector<std::string> PostgresProcess::AsPostgres(std::vector<std::string> argv) const {
  if (!IsRoot()) return argv;
  std::vector<std::string> out = {kRunuser, "-u", kUser, "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Status PostgresProcess::InitDb() {
  dir_ = std::make_unique<TempDir>();
  data_dir_ = dir_->File("data");
  log_path_ = dir_->File("postgres.log");
  if (IsRoot()) {
    passwd* pw = getpwnam(kUser);
    if (pw == nullptr) return Status::NotFound("no user 'postgres' to run PostgreSQL as");
    if (chown(dir_->path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
      return Status::IoError("chown " + dir_->path() + ": " + std::strerror(errno));
  }
  ProcessResult r =
      RunProcess(AsPostgres({BinDir() + "/initdb", "-D", data_dir_, "-U", kUser, "--auth=trust",
                             "-E", "UTF8", "--locale=C", "--no-sync"}),
                 {}, "", 120000);
  if (r.exit_code != 0)
    return Status::IoError("initdb failed (exit " + std::to_string(r.exit_code) + "): " + r.err +
                           r.out);
  return Status::OK();
}

pid_t PostgresProcess::SpawnPostmaster() {
  std::vector<std::string> argv = {BinDir() + "/postgres",      "-D", data_dir_,    "-p",
                                   std::to_string(port_),       "-k", dir_->path(), "-c",
                                   "listen_addresses=127.0.0.1"};
  for (const std::string& s : settings_) {
    argv.push_back("-c");
    argv.push_back(s);
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // Everything the child needs is computed here: between fork and exec only async-signal-safe
  // calls are allowed.
  uid_t uid = 0;
  gid_t gid = 0;
  if (IsRoot()) {
    passwd* pw = getpwnam(kUser);
    if (pw == nullptr) return -1;
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  pid_t pid = fork();
  if (pid != 0) return pid;
  int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd >= 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
  }
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) dup2(null, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (IsRoot() && (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
  // After setuid: a change of credentials clears the parent-death signal.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  execv(args[0], args.data());
  _exit(127);
}

Status PostgresProcess::Start(int timeout_ms) {
  if (!Available()) return Status::NotFound("PostgreSQL binaries not found in " + BinDir());
  RDB_RETURN_IF_ERROR(InitDb());
  Status last = Status::Unavailable("not started");
  for (int attempt = 0; attempt < 3; attempt++) {
    port_ = FreePort();
    pid_ = SpawnPostmaster();
    if (pid_ < 0) return Status::IoError("fork failed");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exited = true;
        last = Status::Unavailable("postgres exited during start: " + log());
        break;
      }
      ProcessResult r = RunProcess({BinDir() + "/pg_isready", "-q", "-h", "127.0.0.1", "-p",
                                    std::to_string(port_), "-t", "1"},
                                   {}, "", 5000);
      if (r.exit_code == 0) return Status::OK();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) {
      Stop();
      return Status::Unavailable("postgres did not accept connections within " +
                                 std::to_string(timeout_ms) + " ms: " + log());
    }
    if (last.message().find("could not bind") == std::string::npos &&
        last.message().find("Address already in use") == std::string::npos)
      break;
  }
  Stop();
  return last;
}

void PostgresProcess::Stop() {
  if (pid_ > 0) {
    RunProcess(AsPostgres({BinDir() + "/pg_ctl", "-D", data_dir_, "-m", "immediate", "-w", "stop"}),
               {}, "", 20000);
    int status = 0;
    if (!WaitForExit(pid_, 10000, &status)) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  dir_.reset();
}

std::string PostgresProcess::Dsn(const std::string& database) const {
  return "postgresql://" + std::string(kUser) + "@127.0.0.1:" + std::to_string(port_) + "/" +
         database;
}

ProcessResult PostgresProcess::Psql(const std::string& sql, const std::string& database) const {
  return RunProcess(
      {BinDir() + "/psql", "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
       std::to_string(port_), "-U", kUser, "-d", database, "-c", sql},
      {{"PGCONNECT_TIMEOUT", "10"}}, "", 60000);
}

std::string PostgresProcess::log() const { return log_path_.empty() ? "" : ReadFile(log_path_); }

}  // namespace rdb::test
