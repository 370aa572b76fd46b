// rdb-bench sequencer: the cluster's sequencers alone against one etcd (issue 6).
//
//   rdb-bench sequencer --etcd 127.0.0.1:2379 [--method batched|lock-get-put|both] [--clients N]
//                       [--batch B] [--duration S] [--json]
//
// batched: each client is leader 1 of a group of its own (a lease, a campaign, its own connection)
// and calls EtcdSequencer::Next(batch) in a loop: one etcd transaction per call. lock-get-put: each
// client calls LockGetPutSequencer::Next() in a loop (lock, get, put + 1, unlock per seq), all on
// one lock and counter, as the original project did. `both` runs them one after the other against
// the same etcd. Prints seqs/s and the per-call latency; checks every seq was unique.
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base/histogram.h"
#include "cluster/keys.h"
#include "cluster/sequencer.h"
#include "etcd/client.h"
#include "etcd/election.h"
#include "etcd/lease_keeper.h"

namespace rdb::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct SeqBenchOptions {
  std::vector<std::string> endpoints;
  uint32_t clients = 1;
  uint32_t batch = cluster::kSeqsPerRevision;
  double duration_s = 5;
  std::string dbname;
};

struct SeqBenchResult {
  std::string method;
  double seconds = 0;
  uint64_t calls = 0;
  uint64_t seqs = 0;
  uint64_t duplicates = 0;
  Histogram latency_ns;
  std::vector<std::string> errors;
};

Result<std::unique_ptr<etcd::Client>> OwnClient(const std::vector<std::string>& endpoints) {
  etcd::ClientOptions o;
  o.own_connection = true;
  o.timeout_ms = 10000;
  return etcd::Client::Connect(endpoints, o);
}

// One client of either method: set up, then call `next` until the deadline.
template <typename Setup>
SeqBenchResult Run(const std::string& method, const SeqBenchOptions& o, Setup setup) {
  SeqBenchResult res;
  res.method = method;
  std::mutex mu;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // every [first, last] issued
  std::atomic<uint32_t> ready{0};
  std::atomic<bool> go{false};
  Clock::time_point start, end;
  std::vector<std::thread> threads;
  for (uint32_t c = 0; c < o.clients; c++) {
    threads.emplace_back([&, c] {
      Histogram h;
      std::vector<std::pair<uint64_t, uint64_t>> mine;
      uint64_t calls = 0;
      std::string error;
      auto next = setup(c, &error);  // Result<std::pair<first, last>>() callable, or null
      ready++;
      while (!go.load()) std::this_thread::yield();
      if (next) {
        auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o.duration_s));
        while (true) {
          auto t0 = Clock::now();
          if (t0 >= deadline) break;
          auto r = next();
          auto t1 = Clock::now();
          if (!r.ok()) {
            error = r.status().ToString();
            break;
          }
          h.Record(static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
          mine.push_back(*r);
          calls++;
        }
      }
      std::lock_guard<std::mutex> g(mu);
      res.latency_ns.Merge(h);
      res.calls += calls;
      ranges.insert(ranges.end(), mine.begin(), mine.end());
      if (!error.empty()) res.errors.push_back(error);
    });
  }
  while (ready.load() < o.clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  start = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  end = Clock::now();
  res.seconds = std::chrono::duration<double>(end - start).count();
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 0; i < ranges.size(); i++) {
    res.seqs += ranges[i].second - ranges[i].first + 1;
    if (i > 0 && ranges[i].first <= ranges[i - 1].second) res.duplicates++;
  }
  return res;
}

SeqBenchResult RunBatched(const SeqBenchOptions& o) {
  struct Group {
    std::unique_ptr<etcd::Client> client;
    std::unique_ptr<etcd::LeaseKeeper> keeper;
    std::unique_ptr<etcd::Election> election;
    std::unique_ptr<cluster::EtcdSequencer> seq;
    int64_t lease = 0;
  };
  std::vector<Group> groups(o.clients);
  auto res = Run("batched", o, [&](uint32_t c, std::string* error) {
    std::function<Result<std::pair<uint64_t, uint64_t>>()> next;
    Group& g = groups[c];
    auto fail = [&](const Status& st) { *error = "setup: " + st.ToString(); };
    auto client = OwnClient(o.endpoints);
    if (!client.ok()) return fail(client.status()), next;
    g.client = std::move(client).value();
    auto lease = g.client->LeaseGrant(30);
    if (!lease.ok()) return fail(lease.status()), next;
    g.lease = lease->id;
    auto keeper = etcd::LeaseKeeper::Start(g.client.get(), *lease, 5000);
    if (!keeper.ok()) return fail(keeper.status()), next;
    g.keeper = std::move(keeper).value();
    g.election = std::make_unique<etcd::Election>(g.client.get(),
                                                  cluster::KeyLayout(o.dbname).ElectionPrefix(c));
    auto me = g.election->Campaign(lease->id, "rdb-bench");
    if (!me.ok()) return fail(me.status()), next;
    cluster::EtcdSequencerOptions so;
    so.dbname = o.dbname;
    so.group = c;
    so.election_key = me->key;
    so.epoch = me->create_revision;
    g.seq = std::make_unique<cluster::EtcdSequencer>(g.client.get(), so);
    next = [&g, batch = o.batch]() -> Result<std::pair<uint64_t, uint64_t>> {
      RDB_ASSIGN_OR_RETURN(cluster::SeqRange r, g.seq->Next(batch));
      return std::make_pair(r.first, r.last);
    };
    return next;
  });
  for (auto& g : groups) {
    if (g.keeper) g.keeper->Stop();
    if (g.client && g.lease != 0) (void)g.client->LeaseRevoke(g.lease);
  }
  return res;
}

SeqBenchResult RunLockGetPut(const SeqBenchOptions& o) {
  struct One {
    std::unique_ptr<etcd::Client> client;
    std::unique_ptr<cluster::LockGetPutSequencer> seq;
  };
  std::vector<One> ones(o.clients);
  cluster::LockGetPutOptions lo;
  lo.lock_key = cluster::KeyLayout(o.dbname).Root() + "sequencer-lock";
  lo.counter_key = cluster::KeyLayout(o.dbname).Root() + "sequencer-counter";
  auto res = Run("lock-get-put", o, [&](uint32_t c, std::string* error) {
    std::function<Result<std::pair<uint64_t, uint64_t>>()> next;
    One& one = ones[c];
    auto client = OwnClient(o.endpoints);
    if (!client.ok()) return *error = "setup: " + client.status().ToString(), next;
    one.client = std::move(client).value();
    auto s = cluster::LockGetPutSequencer::Start(one.client.get(), lo);
    if (!s.ok()) return *error = "setup: " + s.status().ToString(), next;
    one.seq = std::move(s).value();
    next = [&one]() -> Result<std::pair<uint64_t, uint64_t>> {
      RDB_ASSIGN_OR_RETURN(uint64_t seq, one.seq->Next());
      return std::make_pair(seq, seq);
    };
    return next;
  });
  for (auto& one : ones) one.seq.reset();
  return res;
}

nlohmann::ordered_json ToJson(const SeqBenchResult& r) {
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  nlohmann::ordered_json j;
  j["method"] = r.method;
  j["seconds"] = r.seconds;
  j["calls"] = r.calls;
  j["seqs"] = r.seqs;
  j["seqs_per_sec"] = r.seqs / r.seconds;
  j["calls_per_sec"] = r.calls / r.seconds;
  j["latency_us"] = {{"p50", us(r.latency_ns.Percentile(50))},
                     {"p99", us(r.latency_ns.Percentile(99))},
                     {"max", us(r.latency_ns.max())},
                     {"mean", r.latency_ns.mean() / 1000.0}};
  j["duplicates"] = r.duplicates;
  j["errors"] = r.errors;
  return j;
}

void Print(const SeqBenchResult& r) {
  auto ms = [](uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  std::printf(
      "%-13s %llu seqs in %llu calls, %.2f s: %.0f seqs/s, %.0f calls/s; per call ms: p50 %.3f  "
      "p99 %.3f  max %.3f\n",
      r.method.c_str(), static_cast<unsigned long long>(r.seqs),
      static_cast<unsigned long long>(r.calls), r.seconds, r.seqs / r.seconds, r.calls / r.seconds,
      ms(r.latency_ns.Percentile(50)), ms(r.latency_ns.Percentile(99)), ms(r.latency_ns.max()));
  if (r.duplicates > 0)
    std::printf("  DUPLICATE seqs: %llu overlapping ranges\n",
                static_cast<unsigned long long>(r.duplicates));
  for (const auto& e : r.errors) std::printf("  error: %s\n", e.c_str());
}

}  // namespace

// `rdb-bench sequencer ...` (argv[0] is "sequencer").
int SequencerMain(int argc, char** argv) {
  SeqBenchOptions o;
  std::string method = "both", etcd = "127.0.0.1:2379";
  bool json = false;
  CLI::App app{"rdb-bench sequencer: the batched etcd sequencer vs the original lock-get-put.",
               "rdb-bench sequencer"};
  app.add_option("--method", method, "batched | lock-get-put | both (one after the other)")
      ->check(CLI::IsMember({"batched", "lock-get-put", "both"}))
      ->capture_default_str();
  app.add_option("--etcd", etcd, "HOST:PORT[,HOST:PORT...]")->capture_default_str();
  app.add_option("--clients", o.clients,
                 "Concurrent callers, each with its own connection (batched: each its own group)")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_option("--batch", o.batch, "batched: seqs per call (one etcd transaction)")
      ->check(CLI::Range(uint32_t{1}, static_cast<uint32_t>(cluster::kSeqsPerRevision)))
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "Seconds per method")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--json", json, "Print one JSON object");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  auto endpoints = etcd::Client::ParseEndpoints(etcd);
  if (!endpoints.ok()) {
    std::fprintf(stderr, "rdb-bench: --etcd: %s\n", endpoints.status().ToString().c_str());
    return 2;
  }
  o.endpoints = *endpoints;
  o.dbname = "rdb-bench-seq-" + std::to_string(getpid()) + "-" +
             std::to_string(std::chrono::system_clock::now().time_since_epoch().count());

  std::vector<SeqBenchResult> results;
  if (method != "lock-get-put") results.push_back(RunBatched(o));
  if (method != "batched") results.push_back(RunLockGetPut(o));

  // Remove the run's keys.
  if (auto c = OwnClient(o.endpoints); c.ok())
    (void)(*c)->DeletePrefix(cluster::KeyLayout(o.dbname).Root());

  bool failed = false;
  for (const auto& r : results) failed = failed || r.duplicates > 0 || !r.errors.empty();
  double ratio =
      results.size() == 2 && results[1].seqs > 0
          ? (results[0].seqs / results[0].seconds) / (results[1].seqs / results[1].seconds)
          : 0;
  if (json) {
    nlohmann::ordered_json j;
    j["etcd"] = etcd;
    j["clients"] = o.clients;
    j["batch"] = o.batch;
    j["duration"] = o.duration_s;
    j["results"] = nlohmann::ordered_json::array();
    for (const auto& r : results) j["results"].push_back(ToJson(r));
    if (ratio > 0) j["batched_over_lock_get_put"] = ratio;
    std::cout << j.dump() << "\n";
  } else {
    std::printf("rdb-bench sequencer: etcd %s, clients %u, batch %u, %.1f s per method\n",
                etcd.c_str(), o.clients, o.batch, o.duration_s);
    for (const auto& r : results) Print(r);
    if (ratio > 0) std::printf("batched / lock-get-put: %.0fx\n", ratio);
  }
  return failed ? 1 : 0;
}

}  // namespace rdb::bench
