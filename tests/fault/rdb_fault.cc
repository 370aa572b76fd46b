// rdb-fault: the cluster fault-injection suite (issue 7; docs/reliability.md). Starts a real etcd
// and a cluster of real rdb-server processes (cluster.h), runs concurrent clients and subscribers
// (workload.h), injects the faults of a seeded schedule (schedule.h) until --duration-s has passed
// and --faults-min faults were injected, heals everything, and checks the recorded history, the
// committed log, the members' logs and the subscribers' streams (checks.h). Exit status: 0 = no
// violation, 1 = violations (the seed and the failing histories are printed), 2 = the harness
// could not run (not root, no iptables, a process that would not start).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "client/client.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "tests/fault/checks.h"
#include "tests/fault/cluster.h"
#include "tests/fault/firewall.h"
#include "tests/fault/schedule.h"
#include "tests/fault/workload.h"
#include "tests/support/history.h"

namespace rdb::fault {
namespace {

using SteadyClock = std::chrono::steady_clock;
namespace pb = ::rdeebee::v1;

struct Flags {
  uint64_t seed = 0;
  double duration_s = 60;
  int faults_min = 0;
  uint32_t groups = 2;
  uint32_t group_size = 3;
  int clients = 6;
  int subscribers = 4;
  double lease_ttl_s = 1;
  bool merged_feed = kMergedFeedDefault;
  std::string summary_json;
  std::string artifacts;
  std::string server_binary = RDB_SERVER_BIN;
  int print_schedule = 0;
  int recovery_timeout_ms = 20000;
};

SteadyClock::time_point g_start = SteadyClock::now();
uint64_t g_seed = 0;
std::atomic<bool> g_interrupted{false};  // the signal thread is killing everything

void Say(const std::string& line) {
  const double t = std::chrono::duration<double>(SteadyClock::now() - g_start).count();
  std::fprintf(stderr, "[%8.3fs] %s\n", t, line.c_str());
}

// SIGINT / SIGTERM / SIGHUP: remove our rules, kill our children, exit. A thread of its own
// (the signals are blocked everywhere else), so it may fork iptables safely.
void StartSignalThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    g_interrupted = true;
    std::fprintf(stderr, "rdb-fault: signal %d (seed %" PRIu64 "): cleaning up\n", sig, g_seed);
    Cluster::KillAllChildren();
    Cluster::RemoveTempDirs();
    (void)Firewall::RemoveTagged(Firewall::Tag(getpid()));
    _exit(128 + sig);
  }).detach();
}

struct RunStats {
  std::map<std::string, int> faults;
  int faults_total = 0;
  int rounds = 0;
  int slow_recoveries = 0;
  std::vector<std::string> crashes;  // nodes that exited by themselves (not start_exits)
  int start_exits = 0;               // exits at start with etcd unreachable (documented)
};

// Nodes that exited by themselves: a crash is a violation; a node that could not reach etcd at
// start (documented) is counted and restarted after a backoff.
void Reap(Cluster& cluster, RunStats& stats) {
  for (Cluster::Exit& e : cluster.ReapUnexpectedExits()) {
    if (g_interrupted.load()) return;
    if (e.etcd_unreachable_at_start) {
      stats.start_exits++;
      Say("restart: " + e.message.substr(0, e.message.find(';')) +
          ": etcd unreachable at start (documented); restarting");
      continue;
    }
    Say("CRASH: " + e.message);
    stats.crashes.push_back(std::move(e.message));
  }
}

// WaitWellFormed, restarting nodes that exit meanwhile.
bool WaitHealthy(Cluster& cluster, RunStats& stats, int timeout_ms, bool caught_up,
                 std::string* why) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    Reap(cluster, stats);
    if (cluster.WaitWellFormed(0, caught_up, why)) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Sleeps, restarting nodes that exit meanwhile.
void SleepWatching(Cluster& cluster, RunStats& stats, int ms) {
  const auto until = SteadyClock::now() + std::chrono::milliseconds(ms);
  while (SteadyClock::now() < until) {
    Reap(cluster, stats);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Runs one round: injects and heals its faults at their offsets, watching for crashed nodes.
// A fault that names a role is resolved to a node when injected; its heal undoes exactly that.
Status RunRound(const Round& round, Cluster& cluster, RunStats& stats) {
  struct Step {
    uint32_t at_ms;
    bool inject;
    size_t fault;
  };
  std::vector<Fault> faults = round.faults;
  std::vector<Step> steps;
  for (size_t i = 0; i < faults.size(); i++) {
    steps.push_back({faults[i].start_ms, true, i});
    steps.push_back({faults[i].start_ms + faults[i].hold_ms, false, i});
  }
  std::stable_sort(steps.begin(), steps.end(),
                   [](const Step& a, const Step& b) { return a.at_ms < b.at_ms; });
  const auto t0 = SteadyClock::now();
  for (const Step& s : steps) {
    while (SteadyClock::now() < t0 + std::chrono::milliseconds(s.at_ms)) {
      Reap(cluster, stats);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    Fault& f = faults[s.fault];
    const std::string kind = FaultKindName(f.kind);
    if (s.inject) {
      std::string how;
      const std::string named = FormatTarget(f);
      f = cluster.Resolve(f, &how);
      Say("inject " + kind + " " + named + how);
      Status st = cluster.Inject(f);
      if (!st.ok()) return st.Annotate("inject " + kind + " " + FormatTarget(f));
      stats.faults[kind]++;
      stats.faults_total++;
    } else {
      Say("heal   " + kind + " " + FormatTarget(f));
      Status st = cluster.Heal(f);
      if (!st.ok()) return st.Annotate("heal " + kind + " " + FormatTarget(f));
    }
  }
  stats.rounds++;
  return Status::OK();
}

std::unique_ptr<client::Client> Connect(const std::string& address, double timeout_s) {
  client::ClientOptions o;
  o.timeout_seconds = timeout_s;
  o.unavailable_retry_seconds = timeout_s;
  return std::move(client::Client::Connect(address, o)).value();
}

test::RecordedEvent FromPb(const pb::Event& e) {
  return e.kind() == pb::EVENT_KIND_DELETE
             ? test::RecordedEvent::Delete(e.key(), e.seq(), e.version())
             : test::RecordedEvent::Put(e.key(), e.seq(), e.version(), e.payload());
}

// The whole committed log: ReadAll through a node (it merges every group's leader 1), paged.
Result<std::vector<test::RecordedEvent>> CommittedLog(const std::string& address) {
  auto c = Connect(address, 20);
  std::vector<test::RecordedEvent> out;
  uint64_t from = 1;
  while (true) {
    RDB_ASSIGN_OR_RETURN(client::ReadReply page, c->ReadAll(from, 10000));
    for (const client::Event& e : page.events) {
      out.push_back(e.kind == client::Kind::kDelete
                        ? test::RecordedEvent::Delete(e.key, e.seq, e.version)
                        : test::RecordedEvent::Put(e.key, e.seq, e.version, e.payload));
    }
    if (page.next == 0) return out;
    from = page.next;
  }
}

// One member's own log: a ReadAll marked as forwarded is served from its local engine.
Result<std::vector<test::RecordedEvent>> LocalLog(const std::string& address) {
  auto stub =
      pb::EventStore::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  std::vector<test::RecordedEvent> out;
  uint64_t from = 1;
  while (true) {
    pb::ReadAllRequest req;
    req.set_from_seq(from);
    req.set_limit(10000);
    pb::ReadAllResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    ctx.AddMetadata("rdb-forwarded", "1");
    grpc::Status s = stub->ReadAll(&ctx, req, &resp);
    if (!s.ok()) return Status::Unavailable(address + ": ReadAll: " + s.error_message());
    for (const pb::Event& e : resp.events()) out.push_back(FromPb(e));
    if (resp.next_seq() == 0) return out;
    from = resp.next_seq();
  }
}

void WriteArtifacts(const Flags& flags, const Cluster& cluster, const test::History& history,
                    bool failed) {
  if (flags.artifacts.empty()) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(flags.artifacts, ec);
  std::ofstream(flags.artifacts + "/history.txt") << history.ToString();
  if (!failed) return;
  for (size_t i = 0; i < cluster.size(); i++) {
    fs::copy_file(cluster.node(i).log_path, flags.artifacts + "/" + cluster.node(i).name + ".log",
                  fs::copy_options::overwrite_existing, ec);
  }
}

int Run(const Flags& flags) {
  g_seed = flags.seed;
  Status avail = Firewall::Available();
  if (!avail.ok()) {
    std::fprintf(stderr, "rdb-fault: cannot run partition faults: %s\n", avail.ToString().c_str());
    return 2;
  }
  Result<int> stale = Firewall::RemoveStale();
  if (!stale.ok()) {
    std::fprintf(stderr, "rdb-fault: %s\n", stale.status().ToString().c_str());
    return 2;
  }
  if (*stale > 0) Say("removed " + std::to_string(*stale) + " stale rdb-fault rules");

  ClusterOptions co;
  co.groups = flags.groups;
  co.group_size = flags.group_size;
  co.lease_ttl_s = flags.lease_ttl_s;
  co.refresh_interval_s = flags.lease_ttl_s / 4;
  co.server_binary = flags.server_binary;
  Cluster cluster(co);
  Say("seed " + std::to_string(flags.seed) + ": starting etcd and " + std::to_string(flags.groups) +
      " x " + std::to_string(flags.group_size) + " nodes in " + cluster.run_dir());
  Status st = cluster.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "rdb-fault: cluster did not start: %s\n", st.ToString().c_str());
    return 2;
  }
  st = cluster.SelfTestPartition();
  if (!st.ok()) {
    std::fprintf(stderr, "rdb-fault: %s\n", st.ToString().c_str());
    return 2;
  }
  for (size_t i = 0; i < cluster.size(); i++) {
    const NodeInfo& n = cluster.node(i);
    Say(n.name + " group " + std::to_string(n.group) + " uid " + std::to_string(n.uid) + " " +
        n.address());
  }

  test::History history;
  WorkloadOptions wo;
  wo.seed = flags.seed;
  wo.clients = flags.clients;
  wo.subscribers = flags.subscribers;
  wo.groups = flags.groups;
  wo.addresses = cluster.Addresses();
  for (size_t i = 0; i < cluster.size(); i++) wo.node_groups.push_back(cluster.node(i).group);
  wo.merged_feed = flags.merged_feed;
  Workload workload(wo, &history);
  workload.Start();
  std::this_thread::sleep_for(std::chrono::seconds(2));

  ScheduleOptions so;
  so.nodes = static_cast<int>(cluster.size());
  so.group_size = static_cast<int>(flags.group_size);
  so.lease_ttl_ms = static_cast<uint32_t>(flags.lease_ttl_s * 1000);
  Schedule schedule(flags.seed, so);
  RunStats stats;
  const auto faults_start = SteadyClock::now();
  auto elapsed_s = [&] {
    return std::chrono::duration<double>(SteadyClock::now() - faults_start).count();
  };
  for (uint64_t i = 0; elapsed_s() < flags.duration_s || stats.faults_total < flags.faults_min;
       i++) {
    const Round round = schedule.At(i);
    Say(FormatRound(round) + "  (ops so far " + std::to_string(history.size()) + ")");
    st = RunRound(round, cluster, stats);
    if (!st.ok()) {
      std::fprintf(stderr, "rdb-fault: harness error: %s\n", st.ToString().c_str());
      return 2;
    }
    std::string why;
    if (!WaitHealthy(cluster, stats, flags.recovery_timeout_ms, false, &why)) {
      stats.slow_recoveries++;
      Say("not recovered within " + std::to_string(flags.recovery_timeout_ms) + " ms: " + why);
    }
    SleepWatching(cluster, stats, static_cast<int>(round.gap_ms));
  }

  Say("healing everything; stopping clients");
  st = cluster.HealAll();
  if (!st.ok()) Say("heal: " + st.ToString());
  workload.StopClients();
  Reap(cluster, stats);
  std::vector<Violation> extra;
  std::string why;
  if (!WaitHealthy(cluster, stats, 60000, true, &why)) {
    extra.push_back(
        {"converge", "", "cluster did not converge within 60 s after healing: " + why, ""});
  }

  CheckInput in;
  in.groups = flags.groups;
  in.entries = history.Entries();
  Result<std::vector<test::RecordedEvent>> committed = CommittedLog(cluster.node(0).address());
  if (!committed.ok()) {
    std::fprintf(stderr, "rdb-fault: cannot read the committed log: %s\n",
                 committed.status().ToString().c_str());
    WriteArtifacts(flags, cluster, history, true);
    return 2;
  }
  in.committed = std::move(committed).value();
  Say("committed log: " + std::to_string(in.committed.size()) + " events");

  // Each member's own log, and who leads each group now.
  Result<std::vector<client::Member>> members =
      Connect(cluster.node(0).address(), 10)->ListMembers();
  if (members.ok()) {
    for (const client::Member& m : *members)
      if (m.role == "leader1") in.leaders[m.group] = m.node;
  }
  for (size_t i = 0; i < cluster.size(); i++) {
    const NodeInfo& n = cluster.node(i);
    Result<std::vector<test::RecordedEvent>> log = LocalLog(n.address());
    if (!log.ok()) {
      extra.push_back({"replicas", "", log.status().ToString(), ""});
      continue;
    }
    in.member_logs[n.group][n.name] = std::move(log).value();
  }

  // Subscribers catch up with their part of the committed log.
  auto target = [&](const SubscriberLog& s) {
    std::vector<test::RecordedEvent> mine = InScope(in.committed, s.scope, flags.groups, s.prefix);
    return mine.empty() ? uint64_t{0} : mine.back().seq;
  };
  in.subscribers_caught_up = workload.WaitSubscribers(target, 30000);
  workload.StopSubscribers();
  in.subscribers = workload.subscriber_logs();
  if (!in.subscribers_caught_up) {
    std::string where;
    for (const SubscriberLog& s : in.subscribers) {
      if (s.last_seq() >= target(s)) continue;
      where += "\n  subscriber " + std::to_string(s.id) + " at seq " +
               std::to_string(s.last_seq()) + " of " + std::to_string(target(s)) + ", " +
               std::to_string(s.connections) + " streams; errors:";
      for (const std::string& e : s.errors) where += "\n    " + e;
    }
    extra.push_back(
        {"stream", "", "subscribers did not catch up within 30 s of healing:" + where, ""});
  }

  Say("checking " + std::to_string(in.entries.size()) + " operations");
  CheckReport report = RunChecks(in);
  for (Violation& v : extra) report.violations.push_back(std::move(v));
  for (const std::string& c : stats.crashes) report.violations.push_back({"crash", "", c, ""});

  // Summary.
  std::map<std::string, uint64_t> ops, outcomes;
  uint64_t acked = 0, lost = 0, sub_events = 0;
  std::set<uint64_t> committed_seqs, acked_seqs;
  for (const auto& e : in.committed) committed_seqs.insert(e.seq);
  static const char* kOpNames[] = {"append", "delete", "get", "read_stream"};
  static const char* kOutcomeNames[] = {"ok", "not_found", "failed", "unknown"};
  for (const test::HistoryEntry& e : in.entries) {
    ops[kOpNames[static_cast<int>(e.op.kind)]]++;
    outcomes[kOutcomeNames[static_cast<int>(e.outcome.type)]]++;
    const bool write = e.op.kind == test::OpKind::kAppend || e.op.kind == test::OpKind::kDelete;
    if (write && e.outcome.type == test::Outcome::Type::kOk &&
        acked_seqs.insert(e.outcome.seq).second) {  // a retry by id acknowledges the same event
      acked++;
      if (committed_seqs.count(e.outcome.seq) == 0) lost++;
    }
  }
  for (const SubscriberLog& s : in.subscribers) sub_events += s.received.size();

  nlohmann::json j;
  j["seed"] = flags.seed;
  j["duration_s"] = std::chrono::duration<double>(SteadyClock::now() - g_start).count();
  j["fault_phase_s"] = elapsed_s();
  j["cluster"] = std::to_string(flags.groups) + "x" + std::to_string(flags.group_size);
  j["clients"] = flags.clients;
  j["subscribers"] = flags.subscribers;
  j["merged_feed"] = flags.merged_feed;
  j["operations"] = in.entries.size();
  j["ops"] = ops;
  j["outcomes"] = outcomes;
  j["acknowledged_writes"] = acked;
  j["committed_events"] = in.committed.size();
  j["subscriber_events"] = sub_events;
  j["rounds"] = stats.rounds;
  j["faults_total"] = stats.faults_total;
  j["faults"] = stats.faults;
  j["slow_recoveries"] = stats.slow_recoveries;
  j["exits_etcd_unreachable_at_start"] = stats.start_exits;
  j["lost"] = lost;
  j["violations"] = report.violations.size();
  j["checks"] = report.verdicts;
  j["notes"] = report.notes;
  j["result"] = report.violations.empty() ? "pass" : "fail";
  const std::string summary = j.dump(2);
  if (!flags.summary_json.empty()) std::ofstream(flags.summary_json) << summary << "\n";

  for (const Violation& v : report.violations) {
    std::fprintf(stderr, "\n==== VIOLATION [%s]%s%s\n%s\n", v.check.c_str(),
                 v.key.empty() ? "" : " key ", v.key.c_str(), v.message.c_str());
    if (!v.history.empty())
      std::fprintf(stderr, "---- operations of %s:\n%s", v.key.c_str(), v.history.c_str());
  }
  for (const std::string& n : report.notes) Say("note: " + n);
  std::printf("%s\n", summary.c_str());
  std::printf("rdb-fault: seed %" PRIu64 ": %zu operations, %d faults (%s), %" PRIu64
              " acknowledged writes, lost %" PRIu64 ", violations %zu\n",
              flags.seed, in.entries.size(), stats.faults_total, j["faults"].dump().c_str(), acked,
              lost, report.violations.size());
  const bool failed = !report.violations.empty();
  WriteArtifacts(flags, cluster, history, failed);
  if (failed) {
    std::printf("rdb-fault: FAILED; reproduce with: rdb-fault --seed %" PRIu64
                " --duration-s %g --groups %u --group-size %u --clients %d\n",
                flags.seed, flags.duration_s, flags.groups, flags.group_size, flags.clients);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace rdb::fault

int main(int argc, char** argv) {
  using rdb::fault::Flags;
  Flags f;
  f.seed = std::random_device()();
  CLI::App app{
      "rdb-fault: the cluster fault-injection suite. Runs a real etcd and groups x group-size "
      "rdb-server processes, concurrent clients and subscribers, and a seeded schedule of faults "
      "(kill -9, SIGSTOP past the lease, kill -9 of etcd, iptables partitions node<->etcd, "
      "node<->group, clients->node), then checks linearizability, lost writes, ReadStream "
      "prefixes, subscriber streams, watermarks and replica logs. Needs root (iptables). See "
      "docs/reliability.md."};
  app.add_option("--seed", f.seed, "Schedule seed (default: random, printed)");
  app.add_option("--duration-s", f.duration_s, "Length of the fault phase, seconds")
      ->capture_default_str();
  app.add_option("--faults-min", f.faults_min, "Keep injecting until this many faults")
      ->capture_default_str();
  app.add_option("--groups", f.groups, "Replication groups")->capture_default_str();
  app.add_option("--group-size", f.group_size, "Nodes per group")->capture_default_str();
  app.add_option("--clients", f.clients, "Client threads")->capture_default_str();
  app.add_option("--subscribers", f.subscribers, "Subscriber threads")->capture_default_str();
  app.add_option("--lease-ttl", f.lease_ttl_s, "Nodes' LEASE_TTL, seconds")->capture_default_str();
  app.add_flag("--merged-feed,!--per-group-feed", f.merged_feed,
               "Subscribers expect every node to stream all groups merged")
      ->capture_default_str();
  app.add_option("--summary-json", f.summary_json, "Write the summary there");
  app.add_option("--artifacts", f.artifacts,
                 "Directory for the history (always) and node logs (on failure)");
  app.add_option("--server-bin", f.server_binary, "rdb-server binary")->capture_default_str();
  app.add_option("--print-schedule", f.print_schedule,
                 "Print the first N rounds of the seed's schedule and exit");
  app.add_option("--recovery-timeout-ms", f.recovery_timeout_ms,
                 "After each round, wait this long for the cluster to be well formed")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (f.print_schedule > 0) {
    rdb::fault::ScheduleOptions so;
    so.nodes = static_cast<int>(f.groups * f.group_size);
    so.group_size = static_cast<int>(f.group_size);
    so.lease_ttl_ms = static_cast<uint32_t>(f.lease_ttl_s * 1000);
    rdb::fault::Schedule s(f.seed, so);
    for (int i = 0; i < f.print_schedule; i++) {
      std::printf("%s\n", rdb::fault::FormatRound(s.At(static_cast<uint64_t>(i))).c_str());
    }
    return 0;
  }
  rdb::fault::StartSignalThread();
  return rdb::fault::Run(f);
}
