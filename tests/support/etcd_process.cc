#include "tests/support/etcd_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "etcd/client.h"
#include "tests/support/subprocess.h"

namespace rdb::test {

int EtcdProcess::FreePort() { return test::FreePort(); }

std::string EtcdProcess::Binary() {
  const char* bin = std::getenv("RDB_ETCD_BIN");
  return bin != nullptr && *bin != '\0' ? bin : "/usr/bin/etcd";
}

EtcdProcess::EtcdProcess(std::vector<std::string> extra_args) : extra_args_(std::move(extra_args)) {
  data_dir_ = dir_.File("data");
  log_path_ = dir_.File("etcd.log");
}

EtcdProcess::~EtcdProcess() { Kill(); }

// --- EtcdCluster -------------------------------------------------------------------------------

EtcdCluster::EtcdCluster(int members) {
  std::vector<std::pair<int, int>> ports;
  std::string cluster;
  for (int i = 0; i < members; i++) {
    ports.emplace_back(EtcdProcess::FreePort(), EtcdProcess::FreePort());
    cluster += (i ? "," : "") + std::string("m") + std::to_string(i) +
               "=http://127.0.0.1:" + std::to_string(ports.back().second);
  }
  for (int i = 0; i < members; i++) {
    members_.push_back(std::make_unique<EtcdProcess>("m" + std::to_string(i), ports[i].first,
                                                     ports[i].second, cluster));
  }
}

Status EtcdCluster::Start(int timeout_ms) {
  // All members first: none answers before a quorum is up.
  for (auto& m : members_) RDB_RETURN_IF_ERROR(m->Spawn());
  for (auto& m : members_) {
    Status st = m->WaitReady(timeout_ms);
    if (!st.ok()) return st.Annotate(m->endpoint());
  }
  return Status::OK();
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (const auto& m : members_) out.push_back(m->endpoint());
  return out;
}

EtcdProcess::EtcdProcess(std::string name, int client_port, int peer_port,
                         std::string initial_cluster, std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)),
      name_(std::move(name)),
      initial_cluster_(std::move(initial_cluster)),
      client_port_(client_port),
      peer_port_(peer_port) {
  data_dir_ = dir_.File("data");
  log_path_ = dir_.File("etcd.log");
}

Status EtcdProcess::Start(int timeout_ms) {
  if (pid_ > 0) return Status::FailedPrecondition("etcd is already running");
  if (client_port_ != 0) return StartOnce(timeout_ms);
  Status last;
  for (int attempt = 0; attempt < 3; attempt++) {
    client_port_ = FreePort();
    peer_port_ = FreePort();
    if (client_port_ == peer_port_) continue;
    last = StartOnce(timeout_ms);
    if (last.ok()) return last;
    if (log().find("address already in use") == std::string::npos) return last;
  }
  return last;
}

Status EtcdProcess::StartOnce(int timeout_ms) {
  RDB_RETURN_IF_ERROR(Spawn());
  return WaitReady(timeout_ms);
}

Status EtcdProcess::Spawn() {
  if (pid_ > 0) return Status::FailedPrecondition("etcd is already running");
  std::string client_url = "http://127.0.0.1:" + std::to_string(client_port_);
  std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::string cluster = initial_cluster_.empty() ? name_ + "=" + peer_url : initial_cluster_;
  std::vector<std::string> argv = {Binary(),
                                   "--name=" + name_,
                                   "--data-dir=" + data_dir_,
                                   "--listen-client-urls=" + client_url,
                                   "--advertise-client-urls=" + client_url,
                                   "--listen-peer-urls=" + peer_url,
                                   "--initial-advertise-peer-urls=" + peer_url,
                                   "--initial-cluster=" + cluster,
                                   "--initial-cluster-state=new",
                                   "--logger=zap",
                                   "--log-outputs=stderr",
                                   "--log-level=warn"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  pid_ = SpawnProcess(argv, log_path_);
  if (pid_ < 0) return Status::IoError("fork failed");
  return Status::OK();
}

Status EtcdProcess::WaitReady(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (pid_ <= 0 || waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("etcd exited during start (status " + std::to_string(status) +
                                 "): " + log());
    }
    // A fresh client each time: a channel that failed to connect backs off. A linearizable read
    // answers only once the member is part of a cluster with a leader.
    etcd::ClientOptions o;
    o.timeout_ms = 500;
    o.own_connection = true;
    auto c = etcd::Client::Connect({endpoint()}, o);
    if (c.ok() && (*c)->Revision().ok()) return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return Status::Unavailable("etcd did not answer within " + std::to_string(timeout_ms) +
                             " ms: " + log());
}

void EtcdProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  if (!WaitForExit(pid_, timeout_ms, nullptr)) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

void EtcdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

Status EtcdProcess::Restart(bool hard, int timeout_ms) {
  if (hard) {
    Kill();
  } else {
    Stop();
  }
  return Start(timeout_ms);
}

std::string EtcdProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace rdb::test
