#include "tests/support/server_process.h"

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/subprocess.h"

namespace rdb::test {

std::string ServerBinary() { return RDB_SERVER_BIN; }
std::string ClientBinary() { return RDB_CLIENT_BIN; }

ServerProcess::ServerProcess(std::vector<std::string> extra_args, std::string data_dir)
    : extra_args_(std::move(extra_args)) {
  own_dir_ = std::make_unique<TempDir>();
  data_dir_ = data_dir.empty() ? own_dir_->File("data") : std::move(data_dir);
  log_path_ = own_dir_->File("server.log");
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop(10000);
}

Status ServerProcess::Start(int timeout_ms) {
  Status last = Status::Unavailable("not started");
  for (int attempt = 0; attempt < 3; attempt++) {
    port_ = FreePort();
    std::vector<std::string> argv = {ServerBinary(), "--data-dir", data_dir_, "--port",
                                     std::to_string(port_)};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    pid_ = SpawnProcess(argv, log_path_);
    if (pid_ < 0) return Status::IoError("fork failed");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (Exited(&status)) {
        last = Status::Unavailable("rdb-server exited during start (status " +
                                   std::to_string(status) + "): " + log());
        break;
      }
      // A fresh connection each time: a channel that failed to connect backs off for seconds.
      if (NewClient(1)->GetStatus().ok()) return Status::OK();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      Kill();
      return Status::Unavailable("rdb-server did not answer within " + std::to_string(timeout_ms) +
                                 " ms: " + log());
    }
    // Exited: maybe the port was taken meanwhile; try another unless it was something else.
    if (last.message().find("cannot listen") == std::string::npos) return last;
  }
  return last;
}

bool ServerProcess::Exited(int* wait_status) {
  if (pid_ <= 0) return true;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || r < 0) {
    pid_ = -1;
    if (wait_status) *wait_status = status;
    return true;
  }
  return false;
}

int ServerProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  if (!WaitForExit(pid_, timeout_ms, &status)) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  return status;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ServerProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<client::Client> ServerProcess::NewClient(double timeout_seconds) const {
  client::ClientOptions o;
  o.timeout_seconds = timeout_seconds;
  o.own_connection = true;
  return std::move(client::Client::Connect(address(), o)).value();
}

}  // namespace rdb::test
