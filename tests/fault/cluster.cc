#include "tests/fault/cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "client/client.h"
#include "tests/support/subprocess.h"

namespace rdb::fault {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// First uid of a harness's nodes: far above ordinary accounts, unique per harness pid.
constexpr uint32_t kUidBase = 200000;
constexpr uint32_t kUidsPerHarness = kNodesMax;
constexpr const char* kSetpriv = "/usr/bin/setpriv";
constexpr int kNodeReadyTimeoutMs = 20000;

// Pids the signal-handling thread kills (slot kNodesMax: etcd), and directories it removes.
std::atomic<pid_t> g_children[kNodesMax + 1];
std::atomic<bool> g_stopping{false};
std::mutex g_dirs_mu;
std::vector<std::string> g_dirs;  // guarded by g_dirs_mu

// 127.A.B.x for this harness (A in 1..254, so never 127.0.0.x).
std::string HostPrefix() {
  const uint32_t pid = static_cast<uint32_t>(getpid());
  return "127." + std::to_string(1 + (pid >> 8) % 254) + "." + std::to_string(pid & 255) + ".";
}

// A port free on `host` a moment ago.
int FreePortOn(const std::string& host) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

std::unique_ptr<client::Client> ClientFor(const std::string& address, double timeout_s) {
  client::ClientOptions o;
  o.timeout_seconds = timeout_s;
  o.unavailable_retry_seconds = 0;
  o.own_connection = true;
  return std::move(client::Client::Connect(address, o)).value();
}

}  // namespace

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {
  for (auto& p : g_children) p = -1;
  std::lock_guard lock(g_dirs_mu);
  g_dirs.push_back(dir_.path());
}

Cluster::~Cluster() {
  {
    std::lock_guard lock(g_dirs_mu);
    g_dirs.clear();  // the TempDirs remove themselves
  }
  (void)firewall_.RemoveAll();
  for (size_t i = 0; i < nodes_.size(); i++) KillNode(i);
  if (etcd_) etcd_->Kill();
  g_children[kNodesMax] = -1;
  // The data directories belong to the nodes' uids; TempDir (root) removes them all the same.
}

void Cluster::KillAllChildren() {
  g_stopping = true;  // no restart from now on
  for (auto& p : g_children) {
    const pid_t pid = p.load();
    if (pid > 0) kill(pid, SIGKILL);
  }
  for (auto& p : g_children) {
    const pid_t pid = p.load();
    for (int i = 0; pid > 0 && i < 100 && kill(pid, 0) == 0; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

void Cluster::RemoveTempDirs() {
  std::lock_guard lock(g_dirs_mu);
  for (const std::string& d : g_dirs) {
    std::error_code ec;
    fs::remove_all(d, ec);
  }
}

void Cluster::Register() {
  for (size_t i = 0; i < nodes_.size(); i++) g_children[i] = nodes_[i].pid;
  g_children[kNodesMax] = etcd_ && etcd_->running() ? etcd_->pid() : -1;
}

Status Cluster::Start() {
  const size_t n = options_.groups * options_.group_size;
  if (n == 0 || n > kNodesMax) return Status::InvalidArgument("1..32 nodes");
  if (access(kSetpriv, X_OK) != 0) {
    return Status::FailedPrecondition("/usr/bin/setpriv (util-linux) is missing");
  }
  // The nodes run under other uids: they must reach the run directory and execute the binary.
  chmod(dir_.path().c_str(), 0755);
  binary_ = dir_.File("rdb-server");
  std::error_code ec;
  fs::copy_file(options_.server_binary, binary_, fs::copy_options::overwrite_existing, ec);
  if (ec) return Status::IoError("copy " + options_.server_binary + ": " + ec.message());
  chmod(binary_.c_str(), 0755);
  config_ = dir_.File("cluster.yaml");
  std::ofstream(config_) << "dbname: faultdb\ngroups: " << options_.groups
                         << "\ngroup_size: " << options_.group_size
                         << "\nreads: " << (options_.group_size + 1) / 2
                         << "\nwrites: " << options_.group_size / 2 + 1 << "\n";
  chmod(config_.c_str(), 0644);

  // A fast etcd (heartbeat 25 ms, election 250 ms) honours a 1 s lease, as cluster_fixture.h.
  etcd_ = std::make_unique<test::EtcdProcess>(
      std::vector<std::string>{"--heartbeat-interval=25", "--election-timeout=250"});
  {
    std::lock_guard lock(g_dirs_mu);
    g_dirs.push_back(fs::path(etcd_->data_dir()).parent_path().string());  // etcd's own TempDir
  }
  RDB_RETURN_IF_ERROR(etcd_->Start());
  Register();

  const std::string prefix = HostPrefix();
  const uint32_t uid0 = kUidBase + static_cast<uint32_t>(getpid()) * kUidsPerHarness;
  for (size_t i = 0; i < n; i++) {
    NodeInfo node;
    node.name = "n" + std::to_string(i);
    node.uid = uid0 + static_cast<uint32_t>(i);
    node.host = prefix + std::to_string(10 + i);
    node.port = FreePortOn(node.host);
    node.group = static_cast<uint32_t>(i / options_.group_size);
    node.data_dir = dir_.File("data-" + node.name);
    node.log_path = dir_.File(node.name + ".log");
    if (node.port == 0) return Status::IoError("no free port on " + node.host);
    if (mkdir(node.data_dir.c_str(), 0700) != 0 ||
        chown(node.data_dir.c_str(), node.uid, node.uid) != 0) {
      return Status::IoError("cannot create " + node.data_dir + " for uid " +
                             std::to_string(node.uid));
    }
    nodes_.push_back(node);
  }
  // One at a time, each registered before the next starts, so node i takes slot i.
  for (size_t i = 0; i < n; i++) {
    RDB_RETURN_IF_ERROR(StartNode(i));
    auto deadline = Clock::now() + std::chrono::milliseconds(kNodeReadyTimeoutMs);
    bool registered = false;
    while (!registered && Clock::now() < deadline) {
      auto c = ClientFor(nodes_[i].address(), 1);
      Result<client::ServerStatus> st = c->GetStatus();
      registered = st.ok() && !st->node.empty() && !st->role.empty();
      if (registered) nodes_[i].group = st->group;
      if (!registered) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!registered) {
      return Status::Unavailable(nodes_[i].name + " did not register: " + LogTail(i));
    }
  }
  std::string why;
  if (!WaitWellFormed(30000, false, &why))
    return Status::Unavailable("cluster not well formed: " + why);
  return Status::OK();
}

Status Cluster::StartNode(size_t i) {
  NodeInfo& node = nodes_[i];
  if (node.pid > 0) return Status::OK();
  if (g_stopping.load()) return Status::Aborted("rdb-fault is stopping");
  const std::string uid = std::to_string(node.uid);
  std::vector<std::string> argv = {kSetpriv,
                                   "--reuid",
                                   uid,
                                   "--regid",
                                   uid,
                                   "--clear-groups",
                                   "--pdeathsig",
                                   "KILL",
                                   binary_,
                                   "--data-dir",
                                   node.data_dir,
                                   "--address",
                                   node.address(),
                                   "--etcd",
                                   etcd_->endpoint(),
                                   "--node",
                                   node.name,
                                   "--config",
                                   config_,
                                   "--fsync",
                                   options_.fsync,
                                   "--lease-ttl",
                                   std::to_string(options_.lease_ttl_s),
                                   "--refresh-interval",
                                   std::to_string(options_.refresh_interval_s)};
  { std::ofstream(node.log_path, std::ios::app) << "==== rdb-fault: start " << node.name << "\n"; }
  node.pid = test::SpawnProcess(argv, node.log_path);
  node.paused = false;
  node.restart_pending = false;
  if (node.pid < 0) return Status::IoError("fork failed");
  Register();
  return Status::OK();
}

void Cluster::KillNode(size_t i) {
  NodeInfo& node = nodes_[i];
  node.restart_pending = false;  // down until its fault heals
  if (node.pid <= 0) return;
  kill(node.pid, SIGKILL);
  int status = 0;
  waitpid(node.pid, &status, 0);
  node.pid = -1;
  node.paused = false;
  Register();
}

std::vector<DropRule> Cluster::CutRules(const Fault& f) const {
  std::vector<DropRule> rules;
  const NodeInfo& node = nodes_.at(static_cast<size_t>(f.node));
  switch (f.kind) {
    case FaultKind::kCutEtcd:
      rules.push_back({node.uid, "127.0.0.1", etcd_->client_port()});
      break;
    case FaultKind::kCutGroup:
      for (const NodeInfo& peer : nodes_) {
        if (peer.name == node.name || peer.group != node.group) continue;
        rules.push_back({node.uid, peer.host, peer.port});
        rules.push_back({peer.uid, node.host, node.port});
      }
      break;
    case FaultKind::kCutClients:
      rules.push_back({0, node.host, node.port});  // the harness's clients run as root
      break;
    case FaultKind::kCutLink: {
      const NodeInfo& peer = nodes_.at(static_cast<size_t>(f.peer));
      rules.push_back({node.uid, peer.host, peer.port});
      rules.push_back({peer.uid, node.host, node.port});
      break;
    }
    default:
      break;
  }
  return rules;
}

Fault Cluster::Resolve(const Fault& f, std::string* how) {
  Fault r = f;
  if (f.target == Target::kNode || f.kind == FaultKind::kEtcdKill) return r;
  std::map<std::string, std::string> role_of;  // node name -> role, in f.group
  for (const NodeInfo& asker : nodes_) {
    if (asker.pid <= 0 || asker.paused) continue;
    Result<std::vector<client::Member>> ms = ClientFor(asker.address(), 1)->ListMembers();
    if (!ms.ok()) continue;
    for (const client::Member& m : *ms)
      if (m.group == f.group) role_of[m.node] = m.role;
    break;
  }
  auto find = [&](const std::string& role) {
    for (size_t i = 0; i < nodes_.size(); i++) {
      auto it = role_of.find(nodes_[i].name);
      if (it != role_of.end() && it->second == role) return static_cast<int>(i);
    }
    return -1;
  };
  const int first = static_cast<int>(f.group * options_.group_size);
  const int l1 = find("leader1"), l2 = find("leader2");
  r.target = Target::kNode;
  if (f.kind == FaultKind::kCutLink) {
    r.node = l1 >= 0 ? l1 : first;
    r.peer = l2 >= 0 && l2 != r.node ? l2 : (r.node == first ? first + 1 : first);
  } else {
    const int found = f.target == Target::kLeader1 ? l1 : l2;
    r.node = found >= 0 ? found : first;
  }
  *how = " -> " + FormatTarget(r) +
         (l1 < 0 || (l2 < 0 && f.target != Target::kLeader1) ? " (role unknown: fallback)" : "");
  return r;
}

Status Cluster::Inject(const Fault& f) {
  switch (f.kind) {
    case FaultKind::kKill:
      KillNode(static_cast<size_t>(f.node));
      return Status::OK();
    case FaultKind::kPause: {
      NodeInfo& node = nodes_.at(static_cast<size_t>(f.node));
      if (node.pid > 0 && kill(node.pid, SIGSTOP) == 0) node.paused = true;
      return Status::OK();
    }
    case FaultKind::kEtcdKill:
      etcd_->Kill();
      Register();
      return Status::OK();
    default:
      for (const DropRule& r : CutRules(f)) RDB_RETURN_IF_ERROR(firewall_.Drop(r));
      return Status::OK();
  }
}

Status Cluster::Heal(const Fault& f) {
  switch (f.kind) {
    case FaultKind::kKill:
      return StartNode(static_cast<size_t>(f.node));
    case FaultKind::kPause: {
      NodeInfo& node = nodes_.at(static_cast<size_t>(f.node));
      if (node.pid > 0) kill(node.pid, SIGCONT);
      node.paused = false;
      return Status::OK();
    }
    case FaultKind::kEtcdKill: {
      if (etcd_->running()) return Status::OK();
      Status s = etcd_->Start();
      Register();
      return s.ok() ? s : s.Annotate("etcd restart");
    }
    default:
      for (const DropRule& r : CutRules(f)) RDB_RETURN_IF_ERROR(firewall_.Heal(r));
      return Status::OK();
  }
}

Status Cluster::HealAll() {
  Status first = firewall_.RemoveAll();
  if (!etcd_->running()) {
    Status s = etcd_->Start();
    Register();
    if (first.ok()) first = s;
  }
  for (size_t i = 0; i < nodes_.size(); i++) {
    if (nodes_[i].paused) {
      kill(nodes_[i].pid, SIGCONT);
      nodes_[i].paused = false;
    }
    if (nodes_[i].pid <= 0) {
      Status s = StartNode(i);
      if (first.ok()) first = s;
    }
  }
  return first;
}

Status Cluster::SelfTestPartition() {
  Fault cut;
  cut.kind = FaultKind::kCutClients;
  cut.node = 0;
  RDB_RETURN_IF_ERROR(Inject(cut));
  const bool blocked = !ClientFor(nodes_[0].address(), 1)->GetStatus().ok();
  RDB_RETURN_IF_ERROR(Heal(cut));
  if (!blocked) {
    return Status::FailedPrecondition("iptables rule did not cut the clients from " +
                                      nodes_[0].address() + ": partitions would not take effect");
  }
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!ClientFor(nodes_[0].address(), 1)->GetStatus().ok()) {
    if (Clock::now() >= deadline) {
      return Status::FailedPrecondition(nodes_[0].name + " unreachable after the rule was removed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::OK();
}

std::vector<Cluster::Exit> Cluster::ReapUnexpectedExits() {
  std::vector<Exit> out;
  for (size_t i = 0; i < nodes_.size(); i++) {
    NodeInfo& node = nodes_[i];
    if (node.pid <= 0) {
      if (node.restart_pending && Clock::now() >= node.restart_at) {
        node.restart_pending = false;
        (void)StartNode(i);
      }
      continue;
    }
    int status = 0;
    if (waitpid(node.pid, &status, WNOHANG) != node.pid) continue;
    const bool exit1 = WIFEXITED(status) && WEXITSTATUS(status) == 1;
    std::string last = LastRun(i);
    if (exit1 && last.find("cannot start") == std::string::npos) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the last lines, if late
      last = LastRun(i);
    }
    Exit e;
    e.etcd_unreachable_at_start =
        exit1 && last.find("cannot start: Unavailable: etcd") != std::string::npos;
    const std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                                : "exit " + std::to_string(WEXITSTATUS(status));
    e.message =
        node.name + " exited by itself (" + how + "); its log since its last start:\n" + last;
    out.push_back(std::move(e));
    node.pid = -1;
    node.paused = false;
    Register();
    node.restart_pending = true;
    node.restart_at =
        Clock::now() +
        std::chrono::milliseconds(out.back().etcd_unreachable_at_start ? kRestartBackoffMs : 0);
  }
  return out;
}

std::string Cluster::LastRun(size_t i, size_t bytes_max) const {
  std::ifstream in(nodes_.at(i).log_path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const size_t marker = text.rfind("==== rdb-fault: start");
  if (marker != std::string::npos) text = text.substr(marker);
  if (text.size() > bytes_max) text = "...\n" + text.substr(text.size() - bytes_max);
  std::string out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) out += "    " + line + "\n";
  return out;
}

bool Cluster::WaitWellFormed(int timeout_ms, bool caught_up, std::string* why) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last;
  while (true) {
    bool all = true;
    for (const NodeInfo& asker : nodes_) {
      if (asker.pid <= 0 || asker.paused) continue;
      Result<std::vector<client::Member>> ms = ClientFor(asker.address(), 2)->ListMembers();
      if (!ms.ok()) {
        all = false;
        last = asker.name + ": ListMembers: " + ms.status().ToString();
        break;
      }
      std::map<uint32_t, std::vector<const client::Member*>> groups;
      for (const auto& m : *ms) groups[m.group].push_back(&m);
      bool ok = ms->size() == nodes_.size() && groups.size() == options_.groups;
      for (const auto& [g, members] : groups) {
        int l1 = 0, l2 = 0;
        for (const auto* m : members) {
          l1 += m->role == "leader1";
          l2 += m->role == "leader2";
          ok = ok && m->epoch == members[0]->epoch && m->epoch > 0 && (!caught_up || m->lag == 0);
        }
        ok = ok && members.size() == options_.group_size && l1 == 1 &&
             l2 == (options_.group_size > 1 ? 1 : 0);
      }
      if (!ok) {
        all = false;
        last = asker.name + " sees:";
        for (const auto& m : *ms) {
          last += " " + m.node + "(g" + std::to_string(m.group) + " " + m.role + " e" +
                  std::to_string(m.epoch) + " lag" + std::to_string(m.lag) + ")";
        }
        break;
      }
    }
    if (all) return true;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (why != nullptr) *why = last;
  return false;
}

std::vector<std::string> Cluster::Addresses() const {
  std::vector<std::string> out;
  for (const NodeInfo& n : nodes_) out.push_back(n.address());
  return out;
}

std::vector<std::string> Cluster::GroupAddresses(uint32_t group) const {
  std::vector<std::string> out;
  for (const NodeInfo& n : nodes_)
    if (n.group == group) out.push_back(n.address());
  return out;
}

std::string Cluster::LogTail(size_t i, int lines) const {
  std::ifstream in(nodes_.at(i).log_path);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(line);
    if (tail.size() > static_cast<size_t>(lines)) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += "    " + l + "\n";
  return out;
}

}  // namespace rdb::fault
