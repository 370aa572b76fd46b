// What rdb-bench's subscribe workloads share between their targets (subscribe.cc: RDeeBee,
// subscribe_etcd.cc: etcd's watch): one steady clock, the ack-time table, CPU accounting and the
// report each workload prints (text or one JSON object, the same fields for both targets).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/histogram.h"
#include "base/status.h"
#include "tools/rdb-bench/subscribe.h"

namespace rdb::bench::sub {

// Nanoseconds on steady_clock since the process's first call: one clock for writers and
// subscribers.
inline uint64_t NowNs() {
  using Clock = std::chrono::steady_clock;
  static const Clock::time_point epoch = Clock::now();
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - epoch).count());
}

inline double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

inline std::string Payload(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

inline std::string ErrorText(const Status& st) {
  return std::string(CodeName(st.code())) + ": " + st.message().substr(0, 80);
}

// CPU time (user + system) of a process so far, in seconds; -1 if unreadable.
inline double CpuSeconds(const std::string& pid) {
  std::ifstream f("/proc/" + pid + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream in(text.substr(paren + 1));
  std::vector<std::string> fields;
  for (std::string t; in >> t;) fields.push_back(t);
  // After the command: state is field 3, utime field 14, stime field 15.
  if (fields.size() < 13) return -1;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

struct CpuWindow {
  std::string server_pid;  // empty: not measured
  double server0 = -1, self0 = -1, server1 = -1, self1 = -1;
  explicit CpuWindow(int pid) {
    if (pid > 0) server_pid = std::to_string(pid);
  }
  void Begin() {
    if (!server_pid.empty()) server0 = CpuSeconds(server_pid);
    self0 = CpuSeconds("self");
  }
  void End() {
    if (!server_pid.empty()) server1 = CpuSeconds(server_pid);
    self1 = CpuSeconds("self");
  }
  // Cores used over `seconds`, or null if not measured.
  nlohmann::ordered_json Server(double seconds) const {
    if (server0 < 0 || server1 < 0) return nullptr;
    return (server1 - server0) / seconds;
  }
  double Self(double seconds) const { return (self1 - self0) / seconds; }
};

// seq (RDeeBee) or revision (etcd) -> a time (NowNs() + 1; 0 = not set yet), for base+1 ...
// base+capacity. Reserved address space only: pages are touched as numbers arrive. `sparse`
// (a cluster's seqs, R*1024+i: one etcd revision per group commit, so a page per commit in the
// flat table): a sharded hash map instead, any seq > base.
class AckTimes {
 public:
  static constexpr uint64_t kCapacity = uint64_t{1} << 27;  // 1 GiB of address space

  explicit AckTimes(uint64_t base, bool sparse = false) : base_(base) {
    if (sparse) {
      shards_ = std::make_unique<Shard[]>(kShards);
      return;
    }
    void* p = mmap(nullptr, kCapacity * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    slots_ = p == MAP_FAILED ? nullptr : static_cast<uint64_t*>(p);
  }
  ~AckTimes() {
    if (slots_ != nullptr) munmap(slots_, kCapacity * sizeof(uint64_t));
  }
  AckTimes(const AckTimes&) = delete;
  AckTimes& operator=(const AckTimes&) = delete;

  bool ok() const { return slots_ != nullptr || shards_ != nullptr; }
  bool Covers(uint64_t seq) const {
    return seq > base_ && (shards_ != nullptr || seq - base_ <= kCapacity);
  }
  void Set(uint64_t seq, uint64_t ns) {
    if (!Covers(seq)) return;
    if (shards_ != nullptr) {
      Shard& s = shards_[seq % kShards];
      std::lock_guard lock(s.mu);
      s.map[seq] = ns;
      return;
    }
    std::atomic_ref<uint64_t>(slots_[seq - base_ - 1]).store(ns + 1);
  }
  // The time, or nullopt if not set (yet).
  std::optional<uint64_t> Get(uint64_t seq) const {
    if (!Covers(seq)) return std::nullopt;
    if (shards_ != nullptr) {
      Shard& s = shards_[seq % kShards];
      std::lock_guard lock(s.mu);
      auto it = s.map.find(seq);
      if (it == s.map.end()) return std::nullopt;
      return it->second;
    }
    uint64_t v = std::atomic_ref<uint64_t>(slots_[seq - base_ - 1]).load();
    if (v == 0) return std::nullopt;
    return v - 1;
  }

 private:
  static constexpr size_t kShards = 64;
  struct Shard {
    std::mutex mu;
    std::unordered_map<uint64_t, uint64_t> map;
  };
  const uint64_t base_;
  uint64_t* slots_ = nullptr;
  std::unique_ptr<Shard[]> shards_;
};

// One live subscriber's (or etcd watcher's) tally. Written only by the thread that delivers its
// messages (one at a time), read after the stream has ended.
struct LiveTally {
  uint64_t received = 0;  // changes of this run (seq/revision > base)
  uint64_t messages = 0;  // stream messages carrying changes of this run
  uint64_t before_ack = 0;
  Histogram latency_ns;  // ack -> receipt (0 if received before the ack)
  Histogram e2e_ns;      // send -> receipt (the write's own latency included)
  std::vector<std::pair<uint64_t, uint64_t>> deferred;  // (seq, receipt) received before the ack

  // Records one receipt against the ack and send times; false if the ack is not known yet.
  bool Record(const AckTimes& acks, const AckTimes& sends, uint64_t seq, uint64_t at) {
    auto ack = acks.Get(seq);
    if (!ack) return false;
    if (at >= *ack) {
      latency_ns.Record(at - *ack);
    } else {
      latency_ns.Record(0);
      before_ack++;
    }
    if (auto sent = sends.Get(seq); sent && at >= *sent) e2e_ns.Record(at - *sent);
    return true;
  }
  void Receive(const AckTimes& acks, const AckTimes& sends, uint64_t seq, uint64_t at) {
    received++;
    if (!Record(acks, sends, seq, at)) deferred.emplace_back(seq, at);
  }
};

struct CatchupReport {
  std::string target, server, fsync;
  uint64_t log_last = 0;  // the last seq (RDeeBee) or revision (etcd) to catch up to
  uint64_t preload_events = 0;
  double preload_seconds = 0;
  uint64_t changes = 0, bytes = 0, messages = 0;
  double seconds = 0;  // from the subscribe call to the last change (slowest subscriber)
  double first_change_ms = 0;
  nlohmann::ordered_json server_cpu;
  double bench_cpu = 0;
  std::map<std::string, uint64_t> errors;
};

struct LiveReport {
  std::string target, server, fsync;
  size_t subscriber_connections = 0;
  double seconds = 0;
  uint64_t appended = 0;  // events
  uint64_t requests = 0;  // append requests (appended / batch)
  Histogram append_ns;    // per request, from the intended send time (fixed rate) or the send
  LiveTally all;          // every subscriber's, merged
  uint64_t unmatched = 0, missing = 0;
  double drain_seconds = 0;
  nlohmann::ordered_json server_cpu;
  double bench_cpu = 0;
  std::map<std::string, uint64_t> errors;
};

// The seqs (revisions) one write request was given: first..last.
struct Written {
  uint64_t first = 0;
  uint64_t last = 0;
};

// Runs o.writers threads writing requests of o.batch events (payload o.payload_bytes, one random
// key of o.key_space per request) for o.duration_s, at o.rate events/s over all writers (open
// loop: o.rate / o.batch requests/s) or as fast as they can; write(writer, key, payload) sends one
// request and returns its seqs (revisions). Records the request's send and ack times for each of
// its seqs, the CPU window, and the writes in *report; returns the highest seq acknowledged.
using WriteFn =
    std::function<Result<Written>(uint32_t writer, const std::string& key, const std::string&)>;
uint64_t RunWriters(const SubscribeBenchOptions& o, AckTimes* acks, AckTimes* sends, CpuWindow* cpu,
                    LiveReport* report, const WriteFn& write);

// Merges the subscribers' tallies into r: deferred receipts are matched now (all acks are in);
// changes a subscriber did not get count as missing.
void MergeTallies(const AckTimes& acks, const AckTimes& sends, std::vector<LiveTally*> tallies,
                  LiveReport* r);

// Prints the report; returns the exit code (1 = errors or missing changes).
int PrintCatchup(const SubscribeBenchOptions& o, const CatchupReport& r, bool json);
int PrintLive(const SubscribeBenchOptions& o, const LiveReport& r, bool json);

// The etcd target (subscribe_etcd.cc).
int RunEtcdCatchup(const SubscribeBenchOptions& o, bool json);
int RunEtcdLive(const SubscribeBenchOptions& o, bool json);

}  // namespace rdb::bench::sub
