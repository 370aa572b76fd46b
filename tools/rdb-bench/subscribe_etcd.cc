// rdb-bench's subscribe workloads against etcd's watch (subscribe.h), through our own etcd client
// (src/etcd: Client for the puts, one Watcher per watch stream). An event here is one put of a key
// under --key-prefix; etcd numbers them by revision, which plays the part of our seq.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcd/client.h"
#include "etcd/watcher.h"
#include "tools/rdb-bench/subscribe_common.h"
#include "tools/rdb-bench/target.h"
#include "tools/rdb-bench/workload.h"

namespace rdb::bench::sub {

namespace {

Result<std::unique_ptr<etcd::Client>> ConnectEtcd(const SubscribeBenchOptions& o) {
  RDB_ASSIGN_OR_RETURN(auto endpoints, etcd::Client::ParseEndpoints(o.server));
  etcd::ClientOptions co;
  co.timeout_ms = static_cast<int64_t>(o.timeout_s * 1000);
  co.own_connection = true;
  RDB_ASSIGN_OR_RETURN(auto c, etcd::Client::Connect(endpoints, co));
  RDB_RETURN_IF_ERROR(c->Revision().status());  // connected, and etcd answers
  return c;
}

// Watch-stream connections: one client per streams_per_connection watchers.
Result<std::vector<std::unique_ptr<etcd::Client>>> ConnectWatchClients(
    const SubscribeBenchOptions& o) {
  std::vector<std::unique_ptr<etcd::Client>> clients;
  const uint32_t n = (o.subscribers + o.streams_per_connection - 1) / o.streams_per_connection;
  for (uint32_t i = 0; i < n; i++) {
    RDB_ASSIGN_OR_RETURN(auto c, ConnectEtcd(o));
    clients.push_back(std::move(c));
  }
  return clients;
}

int Fail(const Status& st) {
  std::fprintf(stderr, "rdb-bench: %s\n", st.ToString().c_str());
  return 1;
}

// N puts as Txns of preload_batch puts to <key>/000, <key>/001, ... over preload_clients clients.
Status Preload(const SubscribeBenchOptions& o, uint64_t* written, double* seconds) {
  if (o.preload_batch > kEtcdTxnOpsMax)
    return Status::InvalidArgument("etcd allows at most " + std::to_string(kEtcdTxnOpsMax) +
                                   " operations per transaction (--preload-batch)");
  std::vector<std::unique_ptr<etcd::Client>> clients;
  for (uint32_t i = 0; i < o.preload_clients; i++) {
    RDB_ASSIGN_OR_RETURN(auto c, ConnectEtcd(o));
    clients.push_back(std::move(c));
  }
  const uint64_t requests = (o.events + o.preload_batch - 1) / o.preload_batch;
  std::atomic<uint64_t> next{0}, done{0};
  std::mutex mu;
  Status first_error;
  const uint64_t start = NowNs();
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < o.preload_clients; t++) {
    threads.emplace_back([&, t] {
      const std::string payload = Payload(o.payload_bytes, t);
      char suffix[16];
      for (uint64_t r; (r = next.fetch_add(1)) < requests;) {
        const uint64_t n = std::min<uint64_t>(o.preload_batch, o.events - r * o.preload_batch);
        const std::string key = KeyName(o.key_prefix, r % o.key_space);
        etcd::Txn txn;
        txn.then.reserve(n);
        for (uint64_t i = 0; i < n; i++) {
          std::snprintf(suffix, sizeof suffix, "/%03u", static_cast<unsigned>(i));
          txn.then.push_back(etcd::TxnOp::MakePut(key + suffix, payload));
        }
        auto reply = clients[t]->Commit(txn);
        if (!reply.ok()) {
          std::lock_guard lock(mu);
          if (first_error.ok()) first_error = reply.status();
          return;
        }
        done.fetch_add(n);
      }
    });
  }
  for (auto& t : threads) t.join();
  *written = done.load();
  *seconds = Seconds(NowNs() - start);
  return first_error;
}

}  // namespace

int RunEtcdCatchup(const SubscribeBenchOptions& o, bool json) {
  auto control = ConnectEtcd(o);
  if (!control.ok()) return Fail(control.status());
  auto rev0 = (*control)->Revision();
  if (!rev0.ok()) return Fail(rev0.status());
  CatchupReport r;
  r.target = "etcd";
  r.server = o.server;
  r.fsync = "etcd-wal";
  if (o.preload) {
    if (!json) {
      std::printf("preloading %llu puts (%u per txn, %u clients)...\n",
                  static_cast<unsigned long long>(o.events), o.preload_batch, o.preload_clients);
      std::fflush(stdout);
    }
    Status st = Preload(o, &r.preload_events, &r.preload_seconds);
    if (!st.ok()) return Fail(Status(st.code(), "preload failed: " + st.message()));
  }
  auto last = (*control)->Revision();
  if (!last.ok()) return Fail(last.status());
  r.log_last = static_cast<uint64_t>(*last);
  // From the first preload revision (without a preload: from the oldest revision etcd keeps).
  const int64_t from = o.preload ? *rev0 + 1 : 1;
  if (*last < from) return Fail(Status::InvalidArgument("etcd holds nothing to catch up on"));

  auto clients = ConnectWatchClients(o);
  if (!clients.ok()) return Fail(clients.status());
  struct Sub {
    uint64_t changes = 0, bytes = 0, messages = 0;
    uint64_t t0 = 0, first_ns = 0, last_ns = 0;  // since the watch call
    std::atomic<bool> done{false};
    std::mutex mu;
    std::string error;
    std::unique_ptr<etcd::Watcher> watcher;
  };
  std::vector<std::unique_ptr<Sub>> subs;
  CpuWindow cpu(o.server_pid);
  cpu.Begin();
  const uint64_t start = NowNs();
  for (uint32_t i = 0; i < o.subscribers; i++) {
    subs.push_back(std::make_unique<Sub>());
    Sub* s = subs.back().get();
    s->t0 = NowNs();
    auto on_events = [s, last = *last](const std::vector<etcd::WatchEvent>& events) {
      const uint64_t now = NowNs() - s->t0;
      if (s->done.load()) return;
      s->messages++;
      for (const etcd::WatchEvent& e : events) s->bytes += e.kv.key.size() + e.kv.value.size();
      if (s->changes == 0) s->first_ns = now;
      s->changes += events.size();
      s->last_ns = now;
      if (events.back().kv.mod_revision >= last) s->done.store(true);
    };
    auto on_end = [s](const Status& why) {
      std::lock_guard lock(s->mu);
      s->error = ErrorText(why);
      s->done.store(true);
    };
    auto w =
        etcd::Watcher::Start((*clients)[i / o.streams_per_connection].get(),
                             etcd::WatchOptions::Prefix(o.key_prefix, from), on_events, on_end);
    if (!w.ok()) {
      std::lock_guard lock(s->mu);
      s->error = ErrorText(w.status());
      s->done.store(true);
      continue;
    }
    s->watcher = std::move(w).value();
  }
  const uint64_t deadline = NowNs() + static_cast<uint64_t>(o.drain_timeout_s * 10 * 1e9);
  for (auto& s : subs) {
    while (!s->done.load() && NowNs() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const double wall = Seconds(NowNs() - start);
  cpu.End();
  uint64_t slowest_ns = 0;
  for (auto& s : subs) {
    if (s->watcher) s->watcher->Cancel();
    std::lock_guard lock(s->mu);
    if (!s->done.load()) s->error = "the watcher did not reach the last revision in time";
    if (!s->error.empty()) r.errors[s->error]++;
    r.changes += s->changes;
    r.bytes += s->bytes;
    r.messages += s->messages;
    slowest_ns = std::max(slowest_ns, s->last_ns);
  }
  r.seconds = Seconds(std::max<uint64_t>(slowest_ns, 1));
  r.first_change_ms = subs.empty() ? 0.0 : static_cast<double>(subs[0]->first_ns) / 1e6;
  r.server_cpu = cpu.Server(wall);
  r.bench_cpu = cpu.Self(wall);
  return PrintCatchup(o, r, json);
}

int RunEtcdLive(const SubscribeBenchOptions& o, bool json) {
  auto control = ConnectEtcd(o);
  if (!control.ok()) return Fail(control.status());
  auto rev = (*control)->Revision();
  if (!rev.ok()) return Fail(rev.status());
  const uint64_t base = static_cast<uint64_t>(*rev);
  AckTimes acks(base), sends(base);
  if (!acks.ok() || !sends.ok())
    return Fail(Status::ResourceExhausted("cannot reserve the ack-time table"));

  // Watchers on the prefix from the revision after `base`, confirmed before any write. Each
  // delivers on its own thread (etcd::Watcher), one response at a time.
  auto clients = ConnectWatchClients(o);
  if (!clients.ok()) return Fail(clients.status());
  struct Sub {
    LiveTally tally;
    std::atomic<uint64_t> seen{0};  // the last revision delivered
    std::mutex mu;
    std::string error;
    std::unique_ptr<etcd::Watcher> watcher;
  };
  std::vector<std::unique_ptr<Sub>> subs;
  auto cancel_all = [&] {
    for (auto& s : subs)
      if (s->watcher) s->watcher->Cancel();
  };
  for (uint32_t i = 0; i < o.subscribers; i++) {
    subs.push_back(std::make_unique<Sub>());
    Sub* s = subs.back().get();
    auto on_events = [s, base, &acks, &sends](const std::vector<etcd::WatchEvent>& events) {
      const uint64_t now = NowNs();
      uint64_t last = 0;
      for (const etcd::WatchEvent& e : events) {
        const auto rev = static_cast<uint64_t>(e.kv.mod_revision);
        if (rev > base) s->tally.Receive(acks, sends, rev, now);
        last = rev;
      }
      if (last > base) s->tally.messages++;
      s->seen.store(std::max(s->seen.load(), last));
    };
    auto on_end = [s](const Status& why) {
      std::lock_guard lock(s->mu);
      s->error = ErrorText(why);
    };
    auto w =
        etcd::Watcher::Start((*clients)[i / o.streams_per_connection].get(),
                             etcd::WatchOptions::Prefix(o.key_prefix, *rev + 1), on_events, on_end);
    if (!w.ok()) {
      cancel_all();
      return Fail(w.status());
    }
    s->watcher = std::move(w).value();
  }

  std::vector<std::unique_ptr<etcd::Client>> writers;
  for (uint32_t i = 0; i < o.writers; i++) {
    auto c = ConnectEtcd(o);
    if (!c.ok()) {
      cancel_all();
      return Fail(c.status());
    }
    writers.push_back(std::move(c).value());
  }
  CpuWindow cpu(o.server_pid);
  LiveReport r;
  r.target = "etcd";
  r.server = o.server;
  r.fsync = "etcd-wal";
  r.subscriber_connections = clients->size();
  const uint64_t target = RunWriters(
      o, &acks, &sends, &cpu, &r,
      [&](uint32_t w, const std::string& key, const std::string& payload) -> Result<Written> {
        RDB_ASSIGN_OR_RETURN(auto put, writers[w]->Put(key, payload));
        const auto rev = static_cast<uint64_t>(put.revision);
        return Written{rev, rev};
      });
  // Drain: every watcher reaches the last acknowledged revision, or the timeout.
  const uint64_t drain_start = NowNs();
  const uint64_t drain_deadline = drain_start + static_cast<uint64_t>(o.drain_timeout_s * 1e9);
  bool drained = true;
  auto error_of = [](Sub& s) {
    std::lock_guard lock(s.mu);
    return s.error;
  };
  for (auto& s : subs) {
    while (s->seen.load() < target && error_of(*s).empty() && NowNs() < drain_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (s->seen.load() < target) drained = false;
  }
  r.drain_seconds = Seconds(NowNs() - drain_start);
  cancel_all();
  std::vector<LiveTally*> tallies;
  for (auto& s : subs) {
    tallies.push_back(&s->tally);
    if (std::string e = error_of(*s); !e.empty()) r.errors["watcher: " + e]++;
  }
  if (!drained) r.errors["watcher did not reach the last acknowledged revision in time"]++;
  MergeTallies(acks, sends, tallies, &r);
  return PrintLive(o, r, json);
}

}  // namespace rdb::bench::sub
