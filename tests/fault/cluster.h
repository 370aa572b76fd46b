// The system under test of rdb-fault: a real etcd (as root, on 127.0.0.1) and groups x group_size
// real rdb-server processes, node i running under uid `uid_base + i` on its own loopback address
// (127.A.B.(10+i), A.B derived from the harness's pid so concurrent harnesses never share
// addresses or uids), with its own data directory (owned by that uid) and a copy of the binary in
// the run's directory (so the uid can execute it wherever the checkout lives). It carries out the
// faults of schedule.h: kill -9 / restart, SIGSTOP / SIGCONT, kill -9 of etcd / restart, and the
// three partitions through a Firewall.
//
// Every child is started with PR_SET_PDEATHSIG (setpriv --pdeathsig for the nodes, whose uid
// change clears the inherited one), and the destructor kills them all and removes every rule.
// Not thread-safe: one thread (the fault scheduler) drives it; ChildPids() may be read by the
// signal-handling thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "tests/fault/firewall.h"
#include "tests/fault/schedule.h"
#include "tests/support/etcd_process.h"
#include "tests/support/temp_dir.h"

namespace rdb::fault {

// Most nodes a cluster has (pids registered for the signal handler).
inline constexpr int kNodesMax = 32;
// How long a node that could not reach etcd at start stays down before it is started again.
inline constexpr int kRestartBackoffMs = 300;

struct ClusterOptions {
  uint32_t groups = 2;
  uint32_t group_size = 3;
  double lease_ttl_s = 1;
  double refresh_interval_s = 0.25;
  std::string server_binary;  // the rdb-server to copy and run
  std::string fsync = "always";
};

struct NodeInfo {
  std::string name;     // "n0", "n1", ...
  uint32_t uid = 0;     // the uid it runs under
  std::string host;     // its own loopback address
  int port = 0;         // fixed for the whole run (a restart listens there again)
  uint32_t group = 0;   // from the member map once the cluster is up
  pid_t pid = -1;       // -1 while down
  bool paused = false;  // SIGSTOPped
  std::string data_dir, log_path;
  // Set when it exited by itself: the harness restarts it (as a supervisor would) at restart_at.
  bool restart_pending = false;
  std::chrono::steady_clock::time_point restart_at;

  std::string address() const { return host + ":" + std::to_string(port); }
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions options);
  ~Cluster();  // kills every process, removes every rule
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts etcd and every node, one by one (node i takes slot i, so group i / group_size), and
  // waits until the cluster is well formed.
  Status Start();

  // The fault with its role resolved to nodes (target kNode), from a running node's member map;
  // *how says which node held the role. If no member map answers, the group's first node (and
  // its second, as the peer of a link).
  Fault Resolve(const Fault& fault, std::string* how);

  // Applies / heals one fault (resolved: target kNode). Heal restarts a killed node or etcd,
  // SIGCONTs a paused node, or removes the partition's rules.
  Status Inject(const Fault& fault);
  Status Heal(const Fault& fault);
  // Heals everything: removes every rule, resumes paused nodes, restarts dead ones and etcd.
  Status HealAll();
  // Checks that a partition takes effect: cuts node 0 from the harness's clients, expects a
  // Status call to it to fail, heals, expects it to answer again.
  Status SelfTestPartition();

  // Waits until every node is registered and each group has its leader 1 and leader 2 with one
  // epoch, as each running node sees it (and, with caught_up, no member lags its leader 1).
  // False after timeout_ms, with what was last seen in *why.
  bool WaitWellFormed(int timeout_ms, bool caught_up, std::string* why = nullptr);
  // A node that exited without being killed by the harness.
  struct Exit {
    // Exit status 1 with "cannot start: Unavailable: etcd ..." in its log: a node restarted while
    // etcd was down or cut off from it exits (documented in docs/operations.md). Anything else
    // is a crash, a product bug.
    bool etcd_unreachable_at_start = false;
    std::string message;  // name, status and the log of its last run
  };
  // Reaps nodes that exited by themselves (each reported once) and restarts them as a supervisor
  // would: a crash at once, a start without etcd after kRestartBackoffMs. Call it often.
  std::vector<Exit> ReapUnexpectedExits();

  size_t size() const { return nodes_.size(); }
  const NodeInfo& node(size_t i) const { return nodes_.at(i); }
  std::vector<std::string> Addresses() const;
  std::vector<std::string> GroupAddresses(uint32_t group) const;
  const ClusterOptions& options() const { return options_; }
  std::string etcd_endpoint() const { return etcd_->endpoint(); }
  const std::string& run_dir() const { return dir_.path(); }
  // The last `lines` lines of node i's log.
  std::string LogTail(size_t i, int lines = 40) const;
  // Node i's log since its last start (at most bytes_max, the end kept), indented.
  std::string LastRun(size_t i, size_t bytes_max = 8192) const;
  // For the signal-handling thread: SIGKILLs every live child (nodes and etcd), waits until they
  // are gone, and removes the run's temporary directories (the destructors will not run).
  static void KillAllChildren();
  static void RemoveTempDirs();

 private:
  Status StartNode(size_t i);
  void KillNode(size_t i);
  std::vector<DropRule> CutRules(const Fault& fault) const;
  void Register();

  ClusterOptions options_;
  test::TempDir dir_;
  std::string binary_, config_;
  std::unique_ptr<test::EtcdProcess> etcd_;
  std::vector<NodeInfo> nodes_;
  Firewall firewall_;
};

}  // namespace rdb::fault
