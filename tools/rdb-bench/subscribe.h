// rdb-bench's change data capture workloads (docs/benchmarks.md, "Change data capture"):
//
//   subscribe-catchup  preloads N events (batched appends over several connections), then measures
//                      how fast ONE subscriber from EARLIEST receives all of them (time from the
//                      Subscribe call to the last event): events/s and MB/s.
//   subscribe-live     S subscribers from LATEST (spread over ceil(S/50) connections) while writers
//                      append at a fixed rate of events/s (open loop, from the intended send
//                      time) or as fast as they can: single events, or with --batch B requests
//                      of B events to one key (the same events/s in B times fewer requests).
//                      Latency per event per subscriber = receipt time - the acknowledgement time
//                      of the event's append request, both taken with steady_clock in this
//                      process: writers store the ack time by seq, subscribers look it up.
//                      The streams are read with gRPC's callback API (a ClientReadReactor each),
//                      so rdb-bench's CPU does not grow with a thread per subscriber.
//
// --target etcd runs the same workloads against etcd's watch (subscribe_etcd.cc): catch-up = N
// puts preloaded as Txns of preload_batch puts (keys <key>/000...), then ONE watcher on the key
// prefix from the first preload revision counts events until it has all N; live = S watchers on the
// prefix from the current revision while writers Put single keys; latency matched by revision
// (each Put's acknowledgement carries its revision, each watch event its mod_revision).
//
// With --server-pid, the server's CPU (utime + stime from /proc/PID/stat) over the measured window
// is reported in cores, beside rdb-bench's own.
#pragma once

#include <cstdint>
#include <string>

namespace rdb::bench {

struct SubscribeBenchOptions {
  bool etcd = false;  // the etcd target: puts and watches instead of appends and subscriptions
  std::string server;
  // Cluster: subscribers (and the status read) attach to this node; empty = `server`. Writers and
  // the preload use `server`, with route_groups as rdb-bench's --route-groups (address g = leader 1
  // of group g, each request to its key's group). only_group >= 0: writers use keys of that group
  // only (of the --server addresses' count). Seqs are then treated as sparse (AckTimes).
  std::string subscribe_server;
  bool route_groups = false;
  int only_group = -1;
  bool live = false;  // subscribe-live; else subscribe-catchup
  uint32_t subscribers = 1;
  uint32_t streams_per_connection = 50;
  // live
  uint32_t writers = 16;
  double rate = 0;     // events/s over all writers; 0 = as fast as they can
  uint32_t batch = 1;  // events per append request (one key); RDeeBee only
  double duration_s = 10;
  // catch-up
  uint64_t events = 1000000;
  uint32_t preload_batch = 100;
  uint32_t preload_clients = 4;
  bool preload = true;  // false: read what the log holds now
  // both
  size_t payload_bytes = 100;
  uint64_t key_space = 4096;
  std::string key_prefix = "b";
  double timeout_s = 10;
  int server_pid = 0;  // 0 = do not measure the server's CPU
  double drain_timeout_s = 30;
};

// Runs the workload and prints the result (text, or one JSON object). Returns the exit code.
int RunSubscribeBench(const SubscribeBenchOptions& options, bool json, const std::string& fsync);

}  // namespace rdb::bench
