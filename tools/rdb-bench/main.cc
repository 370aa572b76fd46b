// rdb-bench: load generator for rdb-server, in the spirit of etcd's `benchmark` and Kafka's
// producer-perf-test. Prints the settings, throughput and latency percentiles (p50/p90/p99/p999/
// max) from an HDR-style histogram; --json prints one object instead. `--target etcd` drives an
// etcd with the same workloads through our own etcd client (the benchmark's etcd peer).
//
//   rdb-bench --workload append --clients 64 --duration 10
//   rdb-bench --workload append --clients 64 --api stream --duration 10
//   rdb-bench --workload append --batch 100 --clients 16 --ops 10000
//   rdb-bench --server 127.0.0.1:4110,127.0.0.1:4113 --route-groups --clients 64   (cluster)
//   rdb-bench --workload get --clients 16 --rate 20000 --duration 10
//   rdb-bench --target etcd --server 127.0.0.1:2379 --workload append --clients 16
//   rdb-bench --workload subscribe-catchup --events 1000000
//   rdb-bench --workload subscribe-live --subscribers 100 --clients 64 --rate 10000
//   rdb-bench --target etcd --server 127.0.0.1:2379 --workload subscribe-live --subscribers 100
//   rdb-bench --server L0,L1 --route-groups --subscribe-server F --workload subscribe-live
//     (cluster: writers to each key's leader 1, the subscribers on node F's merged feed)
//   rdb-bench sequencer --etcd 127.0.0.1:2379 --method both --clients 4 (sequencer.cc)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "client/client.h"
#include "tools/rdb-bench/report.h"
#include "tools/rdb-bench/subscribe.h"
#include "tools/rdb-bench/workload.h"

namespace rdb::bench {
int SequencerMain(int argc, char** argv);  // tools/rdb-bench/sequencer.cc
namespace {

int Main(int argc, char** argv) {
  BenchOptions o;
  std::string workload = "append", keys = "random", target = "rdeebee";
  bool json = false;
  CLI::App app{"rdb-bench: load generator for rdb-server (throughput and latency percentiles).",
               "rdb-bench"};
  app.add_option("--target", target,
                 "rdeebee | etcd (etcd: a put per event; a batch is one txn of puts to "
                 "<key>/<i>, at most 128)")
      ->check(CLI::IsMember({"rdeebee", "etcd"}))
      ->capture_default_str();
  app.add_option("--server", o.server,
                 "HOST:PORT[,HOST:PORT...] (default: SERVER_IP/SERVER_PORT, 127.0.0.1:2048; "
                 "several: client i uses address i mod N, or see --route-groups; etcd: the "
                 "client's endpoints, default 127.0.0.1:2379)");
  app.add_flag("--route-groups", o.route_groups,
               "Cluster: the --server addresses are leader 1 of groups 0..N-1; every client "
               "connects to all and sends each request to its key's group (no forwarding)");
  app.add_option("--workload", workload,
                 "append | get | mixed | subscribe-catchup | subscribe-live (CDC, tools/rdb-bench/"
                 "subscribe.h: --clients are the writers, --key-space defaults to 4096)")
      ->check(CLI::IsMember({"append", "get", "mixed", "subscribe-catchup", "subscribe-live"}))
      ->capture_default_str();
  app.add_option("--keys", keys, "Key choice: random | sequential")
      ->check(CLI::IsMember({"random", "sequential"}))
      ->capture_default_str();
  app.add_option("--key-space", o.key_space, "Distinct keys")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--key-prefix", o.key_prefix, "Key prefix (keys are 16 bytes)")
      ->capture_default_str();
  app.add_option("--payload-bytes", o.payload_bytes, "Payload size")->capture_default_str();
  app.add_option("--batch", o.batch,
                 "Events per append request (one key, atomic); subscribe-live: --rate stays in "
                 "events/s")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  app.add_option("--read-fraction", o.read_fraction, "mixed: share of gets")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  std::string api = "unary";
  app.add_option("--api", api,
                 "append: unary (one Append call per request) | stream (AppendStream: one stream "
                 "per client, one append in flight on each, acknowledged on its own)")
      ->check(CLI::IsMember({"unary", "stream"}))
      ->capture_default_str();
  app.add_option("--connections", o.connections,
                 "--api stream: TCP connections the clients' streams share (0 = one per 16 "
                 "clients)")
      ->capture_default_str();
  app.add_option("--clients", o.clients,
                 "Concurrent clients, each with its own connection (--api stream: its own stream)")
      ->check(CLI::Range(1u, 4096u))
      ->capture_default_str();
  app.add_option("--rate", o.rate,
                 "Fixed rate, requests/s over all clients; latency from intended send time "
                 "(0 = as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "Seconds to run (when --ops is 0)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--ops", o.ops, "Total requests (0 = run for --duration)")->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "Per-request deadline, seconds")->capture_default_str();
  app.add_flag("!--no-preload", o.preload, "get/mixed: do not write every key first");
  app.add_flag("--json", json, "Print one JSON object");
  SubscribeBenchOptions so;
  app.add_option("--subscribers", so.subscribers, "subscribe-*: concurrent subscribers")
      ->check(CLI::Range(0u, 1024u))
      ->capture_default_str();
  app.add_option("--streams-per-connection", so.streams_per_connection,
                 "subscribe-*: subscriber streams per gRPC connection")
      ->check(CLI::Range(1u, 100u))
      ->capture_default_str();
  app.add_option("--events", so.events, "subscribe-catchup: events to preload")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--preload-batch", so.preload_batch,
                 "subscribe-catchup: events per preload request")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  app.add_option("--preload-clients", so.preload_clients, "subscribe-catchup: preload connections")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  app.add_option("--subscribe-server", so.subscribe_server,
                 "subscribe-*, cluster: HOST:PORT of the node the subscribers attach to (the "
                 "writers and the preload use --server, with --route-groups if given)");
  app.add_option("--only-group", so.only_group,
                 "subscribe-live with --route-groups: writers use keys of this group only")
      ->check(CLI::Range(0, 1023));
  app.add_option("--server-pid", so.server_pid,
                 "subscribe-*: report this process's CPU (from /proc/PID/stat) in cores");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  o.workload = workload == "get"     ? Workload::kGet
               : workload == "mixed" ? Workload::kMixed
                                     : Workload::kAppend;
  o.keys = keys == "sequential" ? KeyPattern::kSequential : KeyPattern::kRandom;
  o.target = target == "etcd" ? Target::kEtcd : Target::kRdeebee;
  o.api = api == "stream" ? Api::kStream : Api::kUnary;
  std::string fsync = "?";
  if (o.target == Target::kEtcd) {
    if (o.server.empty()) o.server = "127.0.0.1:2379";
    if (o.batch > kEtcdTxnOpsMax) {
      std::fprintf(stderr,
                   "rdb-bench: --target etcd allows --batch up to %u (etcd's --max-txn-ops)\n",
                   kEtcdTxnOpsMax);
      return 2;
    }
    fsync = "etcd-wal";  // etcd fsyncs its WAL before it acknowledges a write
  } else {
    if (o.server.empty()) o.server = client::DefaultServerAddress();
    const std::string status_server = so.subscribe_server.empty() ? o.server : so.subscribe_server;
    if (auto c = client::Client::Connect(status_server.substr(0, status_server.find(',')));
        c.ok()) {
      if (auto s = (*c)->GetStatus(); s.ok()) fsync = s->fsync;
    }
  }
  if (workload.rfind("subscribe-", 0) == 0) {
    so.etcd = o.target == Target::kEtcd;
    so.live = workload == "subscribe-live";
    if (!so.live && so.subscribers == 0) so.subscribers = 1;
    so.server = o.server;
    so.route_groups = o.route_groups;
    if (so.only_group >= 0 &&
        (!so.route_groups ||
         static_cast<size_t>(so.only_group) >=
             static_cast<size_t>(std::count(o.server.begin(), o.server.end(), ',')) + 1)) {
      std::fprintf(stderr,
                   "rdb-bench: --only-group G needs --route-groups and G < the number of "
                   "--server addresses\n");
      return 2;
    }
    so.writers = o.clients;
    so.rate = o.rate;  // events/s for subscribe-live, whatever the batch
    so.batch = o.batch;
    if (so.etcd && so.batch > 1) {
      std::fprintf(stderr, "rdb-bench: subscribe-* with --target etcd takes --batch 1 only\n");
      return 2;
    }
    so.duration_s = o.duration_s;
    so.preload = o.preload;
    so.payload_bytes = o.payload_bytes;
    if (app.count("--key-space") > 0) so.key_space = o.key_space;
    so.key_prefix = o.key_prefix;
    so.timeout_s = o.timeout_s;
    return RunSubscribeBench(so, json, fsync);
  }
  if (o.workload != Workload::kAppend && o.preload) {
    if (!json)
      std::printf("preloading %llu keys...\n", static_cast<unsigned long long>(o.key_space));
    Status st = Preload(o);
    if (!st.ok()) {
      std::fprintf(stderr, "rdb-bench: preload failed: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  auto r = o.api == Api::kStream ? RunStreamBench(o) : RunBench(o);
  if (!r.ok()) {
    std::fprintf(stderr, "rdb-bench: %s\n", r.status().ToString().c_str());
    return 1;
  }
  const BenchResult& res = *r;
  double rps = res.requests / res.seconds;
  double eps = res.events / res.seconds;
  uint64_t error_count = 0;
  for (const auto& [k, v] : res.errors)
    if (k.rfind("NotFound", 0) != 0) error_count += v;
  if (json) {
    nlohmann::ordered_json j;
    j["target"] = target;
    j["server"] = o.server;
    j["server_fsync"] = fsync;
    j["workload"] = workload;
    j["keys"] = keys;
    j["key_space"] = o.key_space;
    j["payload_bytes"] = o.payload_bytes;
    j["batch"] = o.batch;
    j["clients"] = o.clients;
    j["rate"] = o.rate;
    j["route_groups"] = o.route_groups;
    j["api"] = api;
    if (o.api == Api::kStream) j["connections"] = StreamConnections(o);
    j["seconds"] = res.seconds;
    j["requests"] = res.requests;
    j["events"] = res.events;
    j["requests_per_sec"] = rps;
    j["events_per_sec"] = eps;
    j["mb_per_sec"] = res.bytes / res.seconds / 1e6;
    j["latency_us"] = LatencyJson(res.latency_ns);
    if (o.workload == Workload::kMixed) {
      j["append_latency_us"] = LatencyJson(res.append_ns);
      j["get_latency_us"] = LatencyJson(res.get_ns);
    }
    j["errors"] = res.errors;
    std::cout << j.dump() << "\n";
  } else {
    char rate_buf[32];
    std::snprintf(rate_buf, sizeof rate_buf, "%.0f/s", o.rate);
    std::string rate_text = o.rate > 0 ? rate_buf : "max";
    std::printf(
        "rdb-bench: %s %s (fsync %s), workload %s, keys %s/%llu, payload %zu B, "
        "batch %u, clients %u, rate %s, api %s\n",
        target.c_str(), o.server.c_str(), fsync.c_str(), workload.c_str(), keys.c_str(),
        static_cast<unsigned long long>(o.key_space), o.payload_bytes, o.batch, o.clients,
        rate_text.c_str(), api.c_str());
    std::printf("%llu requests, %llu events in %.2f s: %.0f requests/s, %.0f events/s, %.2f MB/s\n",
                static_cast<unsigned long long>(res.requests),
                static_cast<unsigned long long>(res.events), res.seconds, rps, eps,
                res.bytes / res.seconds / 1e6);
    PrintLatency("all", res.latency_ns);
    if (o.workload == Workload::kMixed) {
      PrintLatency("append", res.append_ns);
      PrintLatency("get", res.get_ns);
    }
    for (const auto& [k, v] : res.errors)
      std::printf("error x%llu: %s\n", static_cast<unsigned long long>(v), k.c_str());
  }
  return error_count == 0 ? 0 : 1;
}

}  // namespace
}  // namespace rdb::bench

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "sequencer")
    return rdb::bench::SequencerMain(argc - 1, argv + 1);
  return rdb::bench::Main(argc, argv);
}
