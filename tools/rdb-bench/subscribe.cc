#include "tools/rdb-bench/subscribe.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "base/histogram.h"
#include "client/client.h"
#include "tools/rdb-bench/workload.h"

namespace rdb::bench {

namespace {

using Clock = std::chrono::steady_clock;

// Nanoseconds on steady_clock since the process's first call: one clock for writers and
// subscribers.
uint64_t NowNs() {
  static const Clock::time_point epoch = Clock::now();
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - epoch).count());
}

double Seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

std::string Payload(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// CPU time (user + system) of a process so far, in seconds; -1 if unreadable.
double CpuSeconds(const std::string& pid) {
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

nlohmann::ordered_json LatencyJson(const Histogram& h) {
  nlohmann::ordered_json j;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  j["count"] = h.count();
  j["p50"] = us(h.Percentile(50));
  j["p90"] = us(h.Percentile(90));
  j["p99"] = us(h.Percentile(99));
  j["p999"] = us(h.Percentile(99.9));
  j["max"] = us(h.max());
  j["mean"] = h.mean() / 1000.0;
  return j;
}

void PrintLatency(const char* name, const Histogram& h) {
  if (h.count() == 0) return;
  auto ms = [](uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  std::printf("%-8s latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p999 %.3f  max %.3f  mean %.3f\n",
              name, ms(h.Percentile(50)), ms(h.Percentile(90)), ms(h.Percentile(99)),
              ms(h.Percentile(99.9)), ms(h.max()), h.mean() / 1e6);
}

// seq -> acknowledgement time (NowNs() + 1; 0 = not acknowledged yet), for seqs base+1 ...
// base+capacity. Reserved address space only: pages are touched as seqs arrive.
class AckTimes {
 public:
  static constexpr uint64_t kCapacity = uint64_t{1} << 27;  // 1 GiB of address space

  explicit AckTimes(uint64_t base) : base_(base) {
    void* p = mmap(nullptr, kCapacity * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    slots_ = p == MAP_FAILED ? nullptr : static_cast<uint64_t*>(p);
  }
  ~AckTimes() {
    if (slots_ != nullptr) munmap(slots_, kCapacity * sizeof(uint64_t));
  }
  AckTimes(const AckTimes&) = delete;
  AckTimes& operator=(const AckTimes&) = delete;

  bool ok() const { return slots_ != nullptr; }
  bool Covers(uint64_t seq) const { return seq > base_ && seq - base_ <= kCapacity; }
  void Set(uint64_t seq, uint64_t ns) {
    if (Covers(seq)) std::atomic_ref<uint64_t>(slots_[seq - base_ - 1]).store(ns + 1);
  }
  // The ack time, or nullopt if not acknowledged (yet).
  std::optional<uint64_t> Get(uint64_t seq) const {
    if (!Covers(seq)) return std::nullopt;
    uint64_t v = std::atomic_ref<uint64_t>(slots_[seq - base_ - 1]).load();
    if (v == 0) return std::nullopt;
    return v - 1;
  }

 private:
  const uint64_t base_;
  uint64_t* slots_ = nullptr;
};

Result<std::unique_ptr<client::Client>> Connect(const SubscribeBenchOptions& o) {
  client::ClientOptions co;
  co.timeout_seconds = o.timeout_s;
  co.own_connection = true;
  RDB_ASSIGN_OR_RETURN(auto c, client::Client::Connect(o.server, co));
  RDB_RETURN_IF_ERROR(c->WaitUntilReady(o.timeout_s));
  return c;
}

// Subscriber streams spread over connections, at most streams_per_connection each.
Result<std::vector<std::unique_ptr<client::Client>>> ConnectSubscribers(
    const SubscribeBenchOptions& o) {
  std::vector<std::unique_ptr<client::Client>> conns;
  const uint32_t n = (o.subscribers + o.streams_per_connection - 1) / o.streams_per_connection;
  for (uint32_t i = 0; i < n; i++) {
    RDB_ASSIGN_OR_RETURN(auto c, Connect(o));
    conns.push_back(std::move(c));
  }
  return conns;
}

std::string ErrorText(const Status& st) {
  return std::string(CodeName(st.code())) + ": " + st.message().substr(0, 80);
}

// --- catch-up ---

struct PreloadResult {
  uint64_t events = 0;
  double seconds = 0;
};

Result<PreloadResult> PreloadEvents(const SubscribeBenchOptions& o) {
  std::vector<std::unique_ptr<client::Client>> clients;
  for (uint32_t i = 0; i < o.preload_clients; i++) {
    RDB_ASSIGN_OR_RETURN(auto c, Connect(o));
    clients.push_back(std::move(c));
  }
  const uint64_t requests = (o.events + o.preload_batch - 1) / o.preload_batch;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> written{0};
  std::mutex mu;
  Status first_error;
  const uint64_t start = NowNs();
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < o.preload_clients; t++) {
    threads.emplace_back([&, t] {
      std::vector<client::EventInput> batch(o.preload_batch,
                                            client::EventInput{Payload(o.payload_bytes, t), ""});
      for (uint64_t r; (r = next.fetch_add(1)) < requests;) {
        const uint64_t n = std::min<uint64_t>(o.preload_batch, o.events - r * o.preload_batch);
        if (n != batch.size()) batch.resize(n);
        auto reply = clients[t]->Append(KeyName(o.key_prefix, r % o.key_space), batch);
        if (!reply.ok()) {
          std::lock_guard lock(mu);
          if (first_error.ok()) first_error = reply.status();
          return;
        }
        written.fetch_add(n);
      }
    });
  }
  for (auto& t : threads) t.join();
  RDB_RETURN_IF_ERROR(first_error);
  return PreloadResult{written.load(), Seconds(NowNs() - start)};
}

int RunCatchup(const SubscribeBenchOptions& o, bool json, const std::string& fsync) {
  PreloadResult pre;
  if (o.preload) {
    if (!json) {
      std::printf("preloading %llu events (%u per request, %u clients)...\n",
                  static_cast<unsigned long long>(o.events), o.preload_batch, o.preload_clients);
      std::fflush(stdout);
    }
    auto r = PreloadEvents(o);
    if (!r.ok()) {
      std::fprintf(stderr, "rdb-bench: preload failed: %s\n", r.status().ToString().c_str());
      return 1;
    }
    pre = *r;
  }
  auto status_client = Connect(o);
  if (!status_client.ok()) {
    std::fprintf(stderr, "rdb-bench: %s\n", status_client.status().ToString().c_str());
    return 1;
  }
  auto st = (*status_client)->GetStatus();
  if (!st.ok()) {
    std::fprintf(stderr, "rdb-bench: status: %s\n", st.status().ToString().c_str());
    return 1;
  }
  const uint64_t target = st->last_seq;  // read until a change or checkpoint reaches it
  if (target == 0) {
    std::fprintf(stderr, "rdb-bench: the log is empty; nothing to catch up on\n");
    return 1;
  }
  auto conns = ConnectSubscribers(o);
  if (!conns.ok()) {
    std::fprintf(stderr, "rdb-bench: %s\n", conns.status().ToString().c_str());
    return 1;
  }

  struct Sub {
    uint64_t changes = 0, bytes = 0;
    uint64_t first_ns = 0, last_ns = 0;  // since the Subscribe call
    uint64_t messages = 0;
    std::string error;
  };
  std::vector<Sub> subs(o.subscribers);
  CpuWindow cpu;
  if (o.server_pid > 0) cpu.server_pid = std::to_string(o.server_pid);
  cpu.Begin();
  const uint64_t start = NowNs();
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < o.subscribers; i++) {
    threads.emplace_back([&, i] {
      Sub& s = subs[i];
      const uint64_t t0 = NowNs();
      client::SubscribeOptions so;
      so.start = client::SubscribeOptions::Start::kEarliest;
      auto sub = (*conns)[i / o.streams_per_connection]->Subscribe(so);
      if (!sub.ok()) {
        s.error = ErrorText(sub.status());
        return;
      }
      std::vector<client::Change> changes;
      for (uint64_t seen = 0; seen < target;) {
        changes.clear();
        uint64_t checkpoint = 0;
        Status ns = (*sub)->Next(&changes, &checkpoint);
        if (!ns.ok()) {
          s.error = ErrorText(ns);
          return;
        }
        const uint64_t now = NowNs() - t0;
        s.messages++;
        for (const client::Change& c : changes) {
          s.bytes += c.key.size() + (c.after ? c.after->size() : 0);
        }
        if (!changes.empty()) {
          if (s.changes == 0) s.first_ns = now;
          s.changes += changes.size();
          seen = std::max(seen, changes.back().seq);
          s.last_ns = now;
        }
        seen = std::max(seen, checkpoint);
      }
      (*sub)->Cancel();
    });
  }
  for (auto& t : threads) t.join();
  const double wall = Seconds(NowNs() - start);
  cpu.End();

  uint64_t changes = 0, bytes = 0, slowest_ns = 0, messages = 0;
  std::map<std::string, uint64_t> errors;
  for (const Sub& s : subs) {
    changes += s.changes;
    bytes += s.bytes;
    messages += s.messages;
    slowest_ns = std::max(slowest_ns, s.last_ns);
    if (!s.error.empty()) errors[s.error]++;
  }
  const double secs = Seconds(std::max<uint64_t>(slowest_ns, 1));
  const double eps = static_cast<double>(changes) / secs;
  const double mbps = static_cast<double>(bytes) / secs / 1e6;
  if (json) {
    nlohmann::ordered_json j;
    j["target"] = "rdeebee";
    j["server"] = o.server;
    j["server_fsync"] = fsync;
    j["workload"] = "subscribe-catchup";
    j["payload_bytes"] = o.payload_bytes;
    j["key_space"] = o.key_space;
    j["subscribers"] = o.subscribers;
    j["log_last_seq"] = target;
    j["preload_events"] = pre.events;
    j["preload_seconds"] = pre.seconds;
    j["preload_events_per_sec"] =
        pre.seconds > 0 ? static_cast<double>(pre.events) / pre.seconds : 0.0;
    j["changes"] = changes;
    j["messages"] = messages;
    j["seconds"] = secs;
    j["first_change_ms"] = subs.empty() ? 0.0 : static_cast<double>(subs[0].first_ns) / 1e6;
    j["events_per_sec"] = eps;
    j["mb_per_sec"] = mbps;
    j["server_cpu_cores"] = cpu.Server(wall);
    j["bench_cpu_cores"] = cpu.Self(wall);
    j["errors"] = errors;
    std::cout << j.dump() << "\n";
  } else {
    std::printf(
        "rdb-bench: rdeebee %s (fsync %s), workload subscribe-catchup, %u subscriber(s) "
        "from EARLIEST over %llu events (payload %zu B, %llu keys)\n",
        o.server.c_str(), fsync.c_str(), o.subscribers, static_cast<unsigned long long>(target),
        o.payload_bytes, static_cast<unsigned long long>(o.key_space));
    if (pre.events > 0) {
      std::printf("preload: %llu events in %.2f s (%.0f events/s)\n",
                  static_cast<unsigned long long>(pre.events), pre.seconds,
                  static_cast<double>(pre.events) / pre.seconds);
    }
    std::printf("%llu changes in %llu messages in %.2f s: %.0f events/s, %.2f MB/s (key+payload)\n",
                static_cast<unsigned long long>(changes), static_cast<unsigned long long>(messages),
                secs, eps, mbps);
    auto server = cpu.Server(wall);
    if (!server.is_null()) std::printf("server CPU: %.2f cores\n", server.get<double>());
    std::printf("rdb-bench CPU: %.2f cores\n", cpu.Self(wall));
    for (const auto& [k, v] : errors)
      std::printf("error x%llu: %s\n", static_cast<unsigned long long>(v), k.c_str());
  }
  return errors.empty() ? 0 : 1;
}

// --- live ---

struct LiveSub {
  std::unique_ptr<client::Subscription> sub;
  std::atomic<uint64_t> seen{0};  // highest seq covered by a change or checkpoint received
  std::atomic<bool> ready{false};
  uint64_t received = 0;  // changes of this run (seq > base)
  uint64_t messages = 0;  // stream messages carrying changes of this run
  uint64_t before_ack = 0;
  Histogram latency_ns;  // ack -> receipt (0 if received before the ack)
  Histogram e2e_ns;      // send -> receipt (the append's own latency included)
  std::vector<std::pair<uint64_t, uint64_t>> deferred;  // (seq, receipt) received before the ack
  std::string error;
};

// Records one receipt against the ack and send times; false if the ack is not known yet.
bool RecordReceipt(LiveSub* s, const AckTimes& acks, const AckTimes& sends, uint64_t seq,
                   uint64_t at) {
  auto ack = acks.Get(seq);
  if (!ack) return false;
  if (at >= *ack) {
    s->latency_ns.Record(at - *ack);
  } else {
    s->latency_ns.Record(0);
    s->before_ack++;
  }
  if (auto sent = sends.Get(seq); sent && at >= *sent) s->e2e_ns.Record(at - *sent);
  return true;
}

void SubscriberLoop(LiveSub* s, const AckTimes* acks, const AckTimes* sends, uint64_t base,
                    std::atomic<bool>* stopping) {
  std::vector<client::Change> changes;
  for (;;) {
    changes.clear();
    uint64_t checkpoint = 0;
    Status st = s->sub->Next(&changes, &checkpoint);
    if (!st.ok()) {
      if (!stopping->load()) s->error = ErrorText(st);
      s->ready.store(true);
      return;
    }
    const uint64_t now = NowNs();
    uint64_t seen = checkpoint;
    if (!changes.empty() && changes.back().seq > base) s->messages++;
    for (const client::Change& c : changes) {
      if (c.seq <= base) continue;
      s->received++;
      if (!RecordReceipt(s, *acks, *sends, c.seq, now)) s->deferred.emplace_back(c.seq, now);
    }
    if (!changes.empty()) seen = std::max(seen, changes.back().seq);
    if (seen > s->seen.load()) s->seen.store(seen);
    s->ready.store(true);
  }
}

int RunLive(const SubscribeBenchOptions& o, bool json, const std::string& fsync) {
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "rdb-bench: %s\n", st.ToString().c_str());
    return 1;
  };
  auto status_client = Connect(o);
  if (!status_client.ok()) return fail(status_client.status());
  auto st = (*status_client)->GetStatus();
  if (!st.ok()) return fail(st.status());
  const uint64_t base = st->last_seq;
  AckTimes acks(base), sends(base);
  if (!acks.ok() || !sends.ok())
    return fail(Status::ResourceExhausted("cannot reserve the ack-time table"));

  // Subscribers from LATEST, each on its own thread, established before any write.
  auto conns = ConnectSubscribers(o);
  if (!conns.ok()) return fail(conns.status());
  std::vector<std::unique_ptr<LiveSub>> subs;
  std::atomic<bool> stopping{false};
  std::vector<std::thread> sub_threads;
  auto cancel_all = [&] {
    stopping.store(true);
    for (auto& s : subs) s->sub->Cancel();
    for (auto& t : sub_threads) t.join();
  };
  for (uint32_t i = 0; i < o.subscribers; i++) {
    auto s = std::make_unique<LiveSub>();
    client::SubscribeOptions so;
    so.start = client::SubscribeOptions::Start::kLatest;
    auto sub = (*conns)[i / o.streams_per_connection]->Subscribe(so);
    if (!sub.ok()) {
      cancel_all();
      return fail(sub.status());
    }
    s->sub = std::move(sub).value();
    subs.push_back(std::move(s));
    sub_threads.emplace_back(SubscriberLoop, subs.back().get(), &acks, &sends, base, &stopping);
  }

  const uint64_t ready_deadline = NowNs() + static_cast<uint64_t>(o.drain_timeout_s * 1e9);
  for (auto& s : subs) {
    while (!s->ready.load() && NowNs() < ready_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& s : subs) {
    if (!s->ready.load() || !s->error.empty()) {
      std::string e = s->error.empty() ? "a subscription was not established in time" : s->error;
      cancel_all();
      return fail(Status::Unavailable(e));
    }
  }

  // Writers: single-event appends, open loop at rate/writers each, or closed loop.
  std::vector<std::unique_ptr<client::Client>> writers;
  for (uint32_t i = 0; i < o.writers; i++) {
    auto c = Connect(o);
    if (!c.ok()) {
      cancel_all();
      return fail(c.status());
    }
    writers.push_back(std::move(c).value());
  }
  struct WriterResult {
    uint64_t appended = 0;
    uint64_t max_seq = 0;
    Histogram ack_ns;  // from the intended send time (fixed rate) or the send
    std::map<std::string, uint64_t> errors;
  };
  std::vector<WriterResult> wres(o.writers);
  CpuWindow cpu;
  if (o.server_pid > 0) cpu.server_pid = std::to_string(o.server_pid);
  cpu.Begin();
  const uint64_t start = NowNs();
  const uint64_t end = start + static_cast<uint64_t>(o.duration_s * 1e9);
  std::vector<std::thread> writer_threads;
  for (uint32_t w = 0; w < o.writers; w++) {
    writer_threads.emplace_back([&, w] {
      WriterResult& r = wres[w];
      std::mt19937_64 rng(0x9E3779B97F4A7C15ull * (w + 1));
      const client::EventInput event{Payload(o.payload_bytes, w), ""};
      const double interval_ns = o.rate > 0 ? 1e9 * o.writers / o.rate : 0;
      for (uint64_t sent = 0;; sent++) {
        uint64_t intended = NowNs();
        if (interval_ns > 0) {
          intended =
              start + static_cast<uint64_t>(interval_ns * (static_cast<double>(sent) +
                                                           static_cast<double>(w) / o.writers));
          if (intended >= end) break;
          const uint64_t now = NowNs();
          if (intended > now) std::this_thread::sleep_for(std::chrono::nanoseconds(intended - now));
        }
        if (intended >= end || NowNs() >= end) break;  // a late schedule does not extend the run
        const std::string key = KeyName(o.key_prefix, rng() % o.key_space);
        const uint64_t send = NowNs();
        auto reply = writers[w]->Append(key, event);
        const uint64_t ack = NowNs();
        if (!reply.ok()) {
          r.errors[ErrorText(reply.status())]++;
          continue;
        }
        sends.Set(reply->first_seq, send);
        acks.Set(reply->first_seq, ack);
        r.appended++;
        r.max_seq = std::max(r.max_seq, reply->last_seq);
        r.ack_ns.Record(ack - intended);
      }
    });
  }
  for (auto& t : writer_threads) t.join();
  const double secs = Seconds(NowNs() - start);
  cpu.End();

  uint64_t appended = 0, target = 0;
  Histogram ack_ns;
  std::map<std::string, uint64_t> errors;
  for (const WriterResult& r : wres) {
    appended += r.appended;
    target = std::max(target, r.max_seq);
    ack_ns.Merge(r.ack_ns);
    for (const auto& [k, v] : r.errors) errors[k] += v;
  }
  // Drain: every subscriber reaches the last acknowledged seq, or the timeout.
  const uint64_t drain_start = NowNs();
  const uint64_t drain_deadline = drain_start + static_cast<uint64_t>(o.drain_timeout_s * 1e9);
  bool drained = true;
  for (auto& s : subs) {
    while (s->seen.load() < target && s->error.empty() && NowNs() < drain_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (s->seen.load() < target) drained = false;
  }
  const double drain_secs = Seconds(NowNs() - drain_start);
  cancel_all();

  Histogram latency_ns, e2e_ns;
  uint64_t received = 0, messages = 0, before_ack = 0, unmatched = 0, missing = 0;
  for (auto& s : subs) {
    for (const auto& [seq, at] : s->deferred) {
      // Not acknowledged: a failed append, or outside the table.
      if (!RecordReceipt(s.get(), acks, sends, seq, at)) unmatched++;
    }
    latency_ns.Merge(s->latency_ns);
    e2e_ns.Merge(s->e2e_ns);
    received += s->received;
    messages += s->messages;
    before_ack += s->before_ack;
    if (s->received < appended) missing += appended - s->received;
    if (!s->error.empty()) errors["subscriber: " + s->error]++;
  }
  if (!drained) errors["subscriber did not reach the last acknowledged seq in time"]++;

  const double eps = static_cast<double>(appended) / secs;
  auto server_cpu = cpu.Server(secs);
  if (json) {
    nlohmann::ordered_json j;
    j["target"] = "rdeebee";
    j["server"] = o.server;
    j["server_fsync"] = fsync;
    j["workload"] = "subscribe-live";
    j["payload_bytes"] = o.payload_bytes;
    j["key_space"] = o.key_space;
    j["subscribers"] = o.subscribers;
    j["subscriber_connections"] = conns->size();
    j["writers"] = o.writers;
    j["rate"] = o.rate;
    j["seconds"] = secs;
    j["appended"] = appended;
    j["events_per_sec"] = eps;
    j["delivered"] = received;
    j["delivered_per_sec"] = static_cast<double>(received) / secs;
    j["changes_per_message"] = messages > 0 ? static_cast<double>(received) / messages : 0.0;
    j["latency_us"] = LatencyJson(latency_ns);
    j["send_to_receipt_us"] = LatencyJson(e2e_ns);
    j["append_latency_us"] = LatencyJson(ack_ns);
    j["before_ack"] = before_ack;
    j["unmatched"] = unmatched;
    j["missing"] = missing;
    j["drain_seconds"] = drain_secs;
    j["server_cpu_cores"] = server_cpu;
    j["bench_cpu_cores"] = cpu.Self(secs);
    j["errors"] = errors;
    std::cout << j.dump() << "\n";
  } else {
    char rate_buf[32];
    std::snprintf(rate_buf, sizeof rate_buf, "%.0f/s", o.rate);
    std::printf(
        "rdb-bench: rdeebee %s (fsync %s), workload subscribe-live, %u subscriber(s) on "
        "%zu connection(s), %u writers, single-event appends at %s, payload %zu B, %llu "
        "keys\n",
        o.server.c_str(), fsync.c_str(), o.subscribers, conns->size(), o.writers,
        o.rate > 0 ? rate_buf : "max", o.payload_bytes,
        static_cast<unsigned long long>(o.key_space));
    std::printf(
        "%llu events appended in %.2f s: %.0f events/s; %llu changes delivered (%.0f/s); "
        "%.1f changes per message; drained in %.2f s\n",
        static_cast<unsigned long long>(appended), secs, eps,
        static_cast<unsigned long long>(received), static_cast<double>(received) / secs,
        messages > 0 ? static_cast<double>(received) / messages : 0.0, drain_secs);
    PrintLatency("ack->rx", latency_ns);
    PrintLatency("send->rx", e2e_ns);
    PrintLatency("append", ack_ns);
    std::printf("received before the writer saw the ack: %llu; unmatched: %llu; missing: %llu\n",
                static_cast<unsigned long long>(before_ack),
                static_cast<unsigned long long>(unmatched),
                static_cast<unsigned long long>(missing));
    if (!server_cpu.is_null()) std::printf("server CPU: %.2f cores\n", server_cpu.get<double>());
    std::printf("rdb-bench CPU: %.2f cores\n", cpu.Self(secs));
    for (const auto& [k, v] : errors)
      std::printf("error x%llu: %s\n", static_cast<unsigned long long>(v), k.c_str());
  }
  return errors.empty() && missing == 0 ? 0 : 1;
}

}  // namespace

int RunSubscribeBench(const SubscribeBenchOptions& o, bool json, const std::string& fsync) {
  NowNs();  // fix the clock's epoch
  return o.live ? RunLive(o, json, fsync) : RunCatchup(o, json, fsync);
}

}  // namespace rdb::bench
