// ServerConfig: every setting of rdb-server, with its name, flag, environment twin, default and
// parser in one table (config.cc), so `rdb-server --help`, the YAML file and docs/operations.md
// agree.
//
// Precedence: command-line flag > environment variable > YAML file (--config) > default. An unknown
// YAML key or an invalid value from any source fails, naming the setting and where it came from.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/status.h"
#include "log/event_log.h"
#include "lsm/lsm_tree.h"

namespace rdb::server {

struct ServerConfig {
  // --- single node ---
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1";
  uint16_t port = 2048;
  FsyncPolicy fsync = FsyncPolicy::kAlways;
  uint32_t fsync_interval_ms = 10;
  uint16_t metrics_port = 0;  // 0 = off
  std::string trace_level = "info";
  std::string config_file;

  // --- limits (named maxima; printed by --help) ---
  uint64_t payload_bytes_max = 4ull << 20;
  uint32_t requests_in_flight_max = 256;       // more get RESOURCE_EXHAUSTED
  uint32_t append_stream_in_flight_max = 256;  // read-ahead of one AppendStream
  // HTTP/2 concurrent streams per connection (each open subscription holds one).
  uint32_t streams_per_connection_max = 1024;
  uint32_t shutdown_grace_ms = 10000;  // in-flight requests get this long on SIGTERM
  uint64_t commit_queue_max = 100000;  // appends waiting for the group commit
  uint64_t memtable_bytes = 64ull << 20;
  uint64_t block_cache_bytes = 512ull << 20;
  uint64_t segment_bytes_max = 64ull << 20;
  Compression compression = Compression::kNone;

  // --- cluster (used when etcd is set: cluster/membership.h) ---
  std::string etcd;     // comma-separated host:port
  std::string node;     // this node's name
  std::string address;  // host:port listened on and advertised; overrides --listen/--port
  double lease_ttl_s = 5;
  double refresh_interval_s = 1;
  std::string dbname = "rdeebee";
  uint32_t groups = 1;
  uint32_t group_size = 1;
  uint32_t reads = 1;
  uint32_t writes = 1;

  // The address the gRPC server listens on: `address` if set, else listen:port.
  std::string ListenAddress() const;
  // The gRPC receive limit: above the largest legal request, so our own checks refuse oversized
  // payloads and batches with a message naming the limit.
  uint64_t grpc_receive_bytes_max() const;
};

// What ParseServerConfig decided.
struct ParseOutcome {
  bool exit_now = false;  // --help / --version was printed
  int exit_code = 0;      // for exit_now, or a usage error (non-zero)
};

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
// The process environment (std::getenv); unset or empty variables are nullopt.
std::optional<std::string> ProcessEnv(const std::string& name);

// Parses flags, environment and the YAML file into *config. --help prints the settings and limits
// to stdout (exit_now, code 0). A usage or config error prints a message naming the setting to
// stderr and returns exit_now with code 2.
ParseOutcome ParseServerConfig(int argc, const char* const* argv, ServerConfig* config,
                               const EnvLookup& env = ProcessEnv);

// Parses a byte size: "4194304", "4MiB", "64KiB", "1GiB" (also K/M/G, binary multiples).
Result<uint64_t> ParseBytes(const std::string& text);

const char* FsyncName(FsyncPolicy p);

}  // namespace rdb::server
