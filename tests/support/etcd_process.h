// EtcdProcess: a real etcd (/usr/bin/etcd, Debian's etcd-server) for integration tests. A
// single-member cluster on free 127.0.0.1 ports with its data in a TempDir of its own. Start()
// waits until it serves requests; Restart() keeps the ports and the data (so a client and its
// watches find it again); the destructor kills it and removes the directory. etcd's output goes
// to <dir>/etcd.log, printed by log() when a test fails. The child dies with the test process
// (PR_SET_PDEATHSIG), so a crashed test leaves no etcd behind. EtcdCluster runs several members.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "tests/support/temp_dir.h"

namespace rdb::test {

class EtcdProcess {
 public:
  // extra_args are appended to etcd's command line (e.g. "--auto-compaction-retention=1").
  explicit EtcdProcess(std::vector<std::string> extra_args = {});
  // One member of a cluster (see EtcdCluster): fixed ports, etcd's --initial-cluster list.
  EtcdProcess(std::string name, int client_port, int peer_port, std::string initial_cluster,
              std::vector<std::string> extra_args = {});
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // Starts etcd and waits until it answers a read, up to timeout_ms. The first start picks free
  // ports (retrying on others if one was taken meanwhile); later starts reuse them.
  Status Start(int timeout_ms = 20000);
  // SIGTERM, then SIGKILL after timeout_ms. The data stays.
  void Stop(int timeout_ms = 10000);
  // SIGKILL and reap. The data stays.
  void Kill();
  // Stop (or Kill when hard) and Start again on the same ports with the same data.
  Status Restart(bool hard = false, int timeout_ms = 20000);
  bool running() const { return pid_ > 0; }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  int client_port() const { return client_port_; }
  pid_t pid() const { return pid_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string log() const;

  // The two halves of Start(): fork etcd; wait until it answers a linearizable read (for a
  // cluster member: once a quorum is up).
  Status Spawn();
  Status WaitReady(int timeout_ms = 20000);

  // Path of the etcd binary: $RDB_ETCD_BIN, else /usr/bin/etcd.
  static std::string Binary();
  // A TCP port on 127.0.0.1 that was free a moment ago.
  static int FreePort();

 private:
  Status StartOnce(int timeout_ms);

  TempDir dir_;
  std::vector<std::string> extra_args_;
  std::string name_ = "test";
  std::string initial_cluster_;  // empty: a cluster of this member alone
  std::string data_dir_;
  std::string log_path_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

// A cluster of etcd members on 127.0.0.1, each an EtcdProcess with its own ports and directory;
// stop, kill and restart members one by one through member(i).
class EtcdCluster {
 public:
  explicit EtcdCluster(int members = 3);
  // Starts every member and waits until each answers.
  Status Start(int timeout_ms = 30000);
  EtcdProcess& member(size_t i) { return *members_.at(i); }
  size_t size() const { return members_.size(); }
  std::vector<std::string> endpoints() const;

 private:
  std::vector<std::unique_ptr<EtcdProcess>> members_;
};

}  // namespace rdb::test
