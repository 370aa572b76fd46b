// ServerProcess: a real rdb-server binary for end-to-end tests. Starts it on a free port with a
// data directory (a TempDir of its own unless given), waits until it answers, and stops it with
// SIGTERM (then SIGKILL) — in the destructor too, so no test leaves a server behind. The server's
// output goes to <data dir>/../server-<port>.log, printed by log() when a test fails.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "client/client.h"
#include "tests/support/temp_dir.h"

namespace rdb::test {

// Path of the rdb-server binary (compile definition RDB_SERVER_BIN).
std::string ServerBinary();
// Path of the rdb-client binary (compile definition RDB_CLIENT_BIN).
std::string ClientBinary();

class ServerProcess {
 public:
  // data_dir empty = a fresh directory of its own. extra_args are appended to the command line.
  explicit ServerProcess(std::vector<std::string> extra_args = {}, std::string data_dir = "");
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server and waits until it answers (Status RPC), up to timeout_ms. Retries on
  // another port if the chosen one was taken meanwhile.
  Status Start(int timeout_ms = 20000);
  // SIGTERM, then waits up to timeout_ms for the exit; SIGKILL after that. Returns the exit
  // status as from waitpid (-1 if not running).
  int Stop(int timeout_ms = 20000);
  // SIGKILL and reap.
  void Kill();
  bool running() const { return pid_ > 0; }
  // True if the process has exited (reaps it).
  bool Exited(int* wait_status = nullptr);

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& data_dir() const { return data_dir_; }
  std::string log() const;
  // A client connected to this server (10 s deadline per call).
  std::unique_ptr<client::Client> NewClient(double timeout_seconds = 10) const;

 private:
  std::unique_ptr<TempDir> own_dir_;
  std::vector<std::string> extra_args_;
  std::string data_dir_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace rdb::test
