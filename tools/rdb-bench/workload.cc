#include "tools/rdb-bench/workload.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace rdb::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  const BenchOptions* o;
  std::atomic<uint64_t> next_op{0};   // ops mode: requests handed out
  std::atomic<uint64_t> next_key{0};  // sequential keys
  Clock::time_point start;
  Clock::time_point end;  // duration mode
  std::mutex mu;
  BenchResult total;
};

void ClientLoop(Shared* sh, uint32_t index, Conn* c) {
  const BenchOptions& o = *sh->o;
  std::mt19937_64 rng(0x9E3779B97F4A7C15ull * (index + 1));
  std::string payload = RandomPayload(o.payload_bytes, index);
  BenchResult local;
  // Fixed rate: this client sends every `interval` from start, offset so clients interleave.
  double per_client_rate = o.rate / o.clients;
  auto interval = per_client_rate > 0 ? std::chrono::duration<double>(1.0 / per_client_rate)
                                      : std::chrono::duration<double>(0);
  uint64_t sent = 0;
  while (true) {
    if (o.ops > 0) {
      if (sh->next_op.fetch_add(1) >= o.ops) break;
    } else if (Clock::now() >= sh->end) {
      break;
    }
    Clock::time_point intended = Clock::now();
    if (per_client_rate > 0) {
      intended =
          sh->start +
          std::chrono::duration_cast<Clock::duration>(
              interval * (static_cast<double>(sent) + static_cast<double>(index) / o.clients));
      if (o.ops == 0 && intended >= sh->end) break;
      std::this_thread::sleep_until(intended);
    }
    sent++;
    uint64_t key_no = o.keys == KeyPattern::kSequential ? sh->next_key.fetch_add(1) % o.key_space
                                                        : rng() % o.key_space;
    std::string key = KeyName(o.key_prefix, key_no);
    bool is_get = o.workload == Workload::kGet ||
                  (o.workload == Workload::kMixed &&
                   std::uniform_real_distribution<double>(0, 1)(rng) < o.read_fraction);
    Status st;
    uint64_t events = 0, bytes = 0;
    if (is_get) {
      auto r = c->Get(key);
      st = r.status();
      if (r.ok()) {
        events = 1;
        bytes = *r;
      }
    } else {
      st = c->Append(key, payload, o.batch);
      events = o.batch;
      bytes = o.batch * o.payload_bytes;
    }
    auto ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - intended).count());
    if (st.ok() || (is_get && st.code() == Code::kNotFound)) {
      local.requests++;
      local.events += st.ok() ? events : 0;
      local.bytes += st.ok() ? bytes : 0;
      local.latency_ns.Record(ns);
      (is_get ? local.get_ns : local.append_ns).Record(ns);
      if (!st.ok()) local.errors["NotFound (counted as served)"]++;
    } else {
      local.errors[std::string(CodeName(st.code())) + ": " + st.message().substr(0, 80)]++;
    }
  }
  std::lock_guard<std::mutex> lock(sh->mu);
  sh->total.requests += local.requests;
  sh->total.events += local.events;
  sh->total.bytes += local.bytes;
  sh->total.latency_ns.Merge(local.latency_ns);
  sh->total.append_ns.Merge(local.append_ns);
  sh->total.get_ns.Merge(local.get_ns);
  for (const auto& [k, v] : local.errors) sh->total.errors[k] += v;
}

Result<std::vector<std::unique_ptr<Conn>>> ConnectAll(const BenchOptions& o) {
  std::vector<std::unique_ptr<Conn>> clients;
  ConnOptions co;
  co.server = o.server;
  co.timeout_s = o.timeout_s;
  co.route_groups = o.route_groups;
  for (uint32_t i = 0; i < o.clients; i++) {
    co.index = i;
    RDB_ASSIGN_OR_RETURN(auto c, Connect(o.target, co));
    clients.push_back(std::move(c));
  }
  return clients;
}

}  // namespace

std::string RandomPayload(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

std::string KeyName(const std::string& prefix, uint64_t n) {
  char buf[32];
  int width = 16 - static_cast<int>(prefix.size());
  if (width < 1) width = 1;
  std::snprintf(buf, sizeof buf, "%0*llu", width, static_cast<unsigned long long>(n));
  return prefix + buf;
}

Status Preload(const BenchOptions& o) {
  RDB_ASSIGN_OR_RETURN(auto clients, ConnectAll(o));
  std::atomic<uint64_t> next{0};
  std::string payload = RandomPayload(o.payload_bytes, 7);
  std::mutex mu;
  Status first_error;
  std::vector<std::thread> threads;
  for (auto& c : clients) {
    threads.emplace_back([&, cl = c.get()] {
      for (uint64_t k; (k = next.fetch_add(1)) < o.key_space;) {
        Status st = cl->Append(KeyName(o.key_prefix, k), payload, 1);
        if (!st.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.ok()) first_error = st;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return first_error;
}

Result<BenchResult> RunBench(const BenchOptions& o) {
  RDB_ASSIGN_OR_RETURN(auto clients, ConnectAll(o));
  Shared sh;
  sh.o = &o;
  sh.start = Clock::now();
  sh.end = sh.start +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < o.clients; i++) {
    threads.emplace_back(ClientLoop, &sh, i, clients[i].get());
  }
  for (auto& t : threads) t.join();
  sh.total.seconds = std::chrono::duration<double>(Clock::now() - sh.start).count();
  return std::move(sh.total);
}

}  // namespace rdb::bench
