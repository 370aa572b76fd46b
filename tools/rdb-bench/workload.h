// rdb-bench's load generator: N client threads, each with its own connection, running a workload
// for a duration or an operation count, closed-loop (as fast as answers come) or at a fixed rate.
//
// Fixed-rate mode measures each request's latency from its intended send time, not from when it
// was actually sent, so a stalled server shows up in the percentiles instead of silently slowing
// the load (no coordinated omission).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "base/histogram.h"
#include "base/status.h"
#include "tools/rdb-bench/target.h"

namespace rdb::bench {

enum class Workload : uint8_t { kAppend, kGet, kMixed };
// How appends travel: one unary Append call each, or over AppendStream (one stream per client,
// one append in flight on each, acknowledged on its own).
enum class Api : uint8_t { kUnary, kStream };
enum class KeyPattern : uint8_t { kRandom, kSequential };

struct BenchOptions {
  Target target = Target::kRdeebee;
  std::string server;
  Workload workload = Workload::kAppend;
  KeyPattern keys = KeyPattern::kRandom;
  uint64_t key_space = 100000;  // distinct keys
  std::string key_prefix = "b";
  size_t payload_bytes = 100;
  uint32_t batch = 1;          // events per append request (one key)
  double read_fraction = 0.5;  // mixed: share of gets
  uint32_t clients = 16;
  double rate = 0;         // requests/s over all clients; 0 = closed loop
  double duration_s = 10;  // used when ops == 0
  uint64_t ops = 0;        // total requests; 0 = run for duration_s
  double timeout_s = 10;
  bool preload = true;        // get/mixed: write every key once first
  bool route_groups = false;  // see ConnOptions::route_groups
  Api api = Api::kUnary;
  uint32_t connections =
      0;  // --api stream: TCP connections the clients' streams share (0: 1 per 16)
};

struct BenchResult {
  uint64_t requests = 0;  // successful requests
  uint64_t events = 0;    // events appended or read
  uint64_t bytes = 0;     // payload bytes appended or read
  double seconds = 0;
  Histogram latency_ns;  // successful requests only
  Histogram append_ns, get_ns;
  std::map<std::string, uint64_t> errors;  // by code name
};

Result<BenchResult> RunBench(const BenchOptions& options);
// The append workload over AppendStream (tools/rdb-bench/stream.cc).
Result<BenchResult> RunStreamBench(const BenchOptions& options);
// The TCP connections --api stream opens: --connections, or one per 16 clients; 1..clients.
inline uint32_t StreamConnections(const BenchOptions& o) {
  const uint32_t n = o.connections > 0 ? o.connections : (o.clients + 15) / 16;
  return std::max<uint32_t>(1, std::min(o.clients, n));
}

// Writes key_space keys once (get/mixed workloads need something to read).
Status Preload(const BenchOptions& options);

// Key number n as a 16-byte key: prefix + zero-padded number.
std::string KeyName(const std::string& prefix, uint64_t n);
// n random lowercase letters, the same for the same seed.
std::string RandomPayload(size_t n, uint64_t seed);

}  // namespace rdb::bench
