#include "server/config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <vector>

#include "engine/engine.h"
#include "log/record.h"

namespace rdb::server {

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

Result<uint64_t> ParseUint(const std::string& text, uint64_t min, uint64_t max) {
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("expected an integer in " + std::to_string(min) + ".." +
                                   std::to_string(max));
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno != 0 || v < min || v > max)
    return Status::InvalidArgument("expected an integer in " + std::to_string(min) + ".." +
                                   std::to_string(max));
  return static_cast<uint64_t>(v);
}

Result<double> ParseSeconds(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v <= 0 || v > 3600)
    return Status::InvalidArgument("expected seconds, a number in (0, 3600], fractions allowed");
  return v;
}

std::string ShowBytes(uint64_t v) {
  if (v != 0 && v % (1ull << 30) == 0) return std::to_string(v >> 30) + "GiB";
  if (v != 0 && v % (1ull << 20) == 0) return std::to_string(v >> 20) + "MiB";
  if (v != 0 && v % (1ull << 10) == 0) return std::to_string(v >> 10) + "KiB";
  return std::to_string(v);
}

std::string ShowDouble(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

using Parser = std::function<Status(const std::string&, ServerConfig*)>;
using Shower = std::function<std::string(const ServerConfig&)>;

struct Setting {
  std::string name;  // snake_case: the YAML key
  std::string flag;  // "" = YAML only
  std::string env;   // "" = none
  std::string help;
  std::string group;
  Shower show;
  Parser parse;
};

template <typename T>
Parser UintInto(T ServerConfig::*field, uint64_t min, uint64_t max) {
  return [=](const std::string& v, ServerConfig* c) {
    RDB_ASSIGN_OR_RETURN(uint64_t n, ParseUint(v, min, max));
    c->*field = static_cast<T>(n);
    return Status::OK();
  };
}
template <typename T>
Shower ShowUint(T ServerConfig::*field) {
  return [=](const ServerConfig& c) { return std::to_string(c.*field); };
}
Parser BytesInto(uint64_t ServerConfig::*field, uint64_t min, uint64_t max) {
  return [=](const std::string& v, ServerConfig* c) {
    RDB_ASSIGN_OR_RETURN(uint64_t n, ParseBytes(v));
    if (n < min || n > max)
      return Status::InvalidArgument("expected a size in " + ShowBytes(min) + ".." +
                                     ShowBytes(max));
    c->*field = n;
    return Status::OK();
  };
}
Shower ShowBytesOf(uint64_t ServerConfig::*field) {
  return [=](const ServerConfig& c) { return ShowBytes(c.*field); };
}
Parser StringInto(std::string ServerConfig::*field, bool allow_empty = true) {
  return [=](const std::string& v, ServerConfig* c) {
    if (!allow_empty && v.empty()) return Status::InvalidArgument("must not be empty");
    c->*field = v;
    return Status::OK();
  };
}
Shower ShowString(std::string ServerConfig::*field) {
  return [=](const ServerConfig& c) { return (c.*field).empty() ? "\"\"" : c.*field; };
}
Parser SecondsInto(double ServerConfig::*field) {
  return [=](const std::string& v, ServerConfig* c) {
    RDB_ASSIGN_OR_RETURN(double d, ParseSeconds(v));
    c->*field = d;
    return Status::OK();
  };
}

Status ParseHostPort(const std::string& v) {
  auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return Status::InvalidArgument("expected HOST:PORT");
  return ParseUint(v.substr(colon + 1), 1, 65535).status();
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> kSettings = {
      {"data_dir", "--data-dir", "", "Data directory (created if missing)", "Server",
       ShowString(&ServerConfig::data_dir), StringInto(&ServerConfig::data_dir, false)},
      {"listen", "--listen", "", "Address to listen on (127.0.0.1 = this machine only)", "Server",
       ShowString(&ServerConfig::listen), StringInto(&ServerConfig::listen, false)},
      {"port", "--port", "", "gRPC port", "Server", ShowUint(&ServerConfig::port),
       UintInto(&ServerConfig::port, 1, 65535)},
      {"fsync", "--fsync", "", "always | interval | never: when an append is acknowledged",
       "Server", [](const ServerConfig& c) { return std::string(FsyncName(c.fsync)); },
       [](const std::string& v, ServerConfig* c) {
         std::string l = Lower(v);
         if (l == "always")
           c->fsync = FsyncPolicy::kAlways;
         else if (l == "interval")
           c->fsync = FsyncPolicy::kInterval;
         else if (l == "never")
           c->fsync = FsyncPolicy::kNever;
         else
           return Status::InvalidArgument("expected always, interval or never");
         return Status::OK();
       }},
      {"fsync_interval_ms", "--fsync-interval-ms", "", "Sync period for --fsync interval", "Server",
       ShowUint(&ServerConfig::fsync_interval_ms),
       UintInto(&ServerConfig::fsync_interval_ms, 1, 60000)},
      {"metrics_port", "--metrics-port", "", "Prometheus text metrics at /metrics (0 = off)",
       "Server", ShowUint(&ServerConfig::metrics_port),
       UintInto(&ServerConfig::metrics_port, 0, 65535)},
      {"trace_level", "--trace-level", "TRACE_LEVEL",
       "Log level: trace, debug, info, warn, error, off (any case)", "Server",
       ShowString(&ServerConfig::trace_level),
       [](const std::string& v, ServerConfig* c) {
         std::string l = Lower(v);
         if (l == "warning") l = "warn";
         static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
         if (std::find(std::begin(kLevels), std::end(kLevels), l) == std::end(kLevels))
           return Status::InvalidArgument("expected trace, debug, info, warn, error or off");
         c->trace_level = l;
         return Status::OK();
       }},
      // Limits.
      {"payload_bytes_max", "--payload-bytes-max", "", "Largest payload of one event", "Limits",
       ShowBytesOf(&ServerConfig::payload_bytes_max),
       BytesInto(&ServerConfig::payload_bytes_max, 1, kBatchBytesMax)},
      {"requests_in_flight_max", "--requests-in-flight-max", "",
       "Requests served at once; more get RESOURCE_EXHAUSTED", "Limits",
       ShowUint(&ServerConfig::requests_in_flight_max),
       UintInto(&ServerConfig::requests_in_flight_max, 1, 100000)},
      {"append_stream_in_flight_max", "--append-stream-in-flight-max", "",
       "Unacknowledged requests one AppendStream may have; then its reads pause", "Limits",
       ShowUint(&ServerConfig::append_stream_in_flight_max),
       UintInto(&ServerConfig::append_stream_in_flight_max, 1, 100000)},
      {"streams_per_connection_max", "--streams-per-connection-max", "",
       "Concurrent HTTP/2 streams per client connection", "Limits",
       ShowUint(&ServerConfig::streams_per_connection_max),
       UintInto(&ServerConfig::streams_per_connection_max, 1, 100000)},
      {"shutdown_grace_ms", "--shutdown-grace-ms", "",
       "On SIGTERM, in-flight requests get this long to finish", "Limits",
       ShowUint(&ServerConfig::shutdown_grace_ms),
       UintInto(&ServerConfig::shutdown_grace_ms, 0, 600000)},
      {"commit_queue_max", "--commit-queue-max", "",
       "Appends waiting for a group commit; more get RESOURCE_EXHAUSTED", "Limits",
       ShowUint(&ServerConfig::commit_queue_max),
       UintInto(&ServerConfig::commit_queue_max, 1, 10000000)},
      {"memtable_bytes", "--memtable-bytes", "", "Index memtable budget", "Limits",
       ShowBytesOf(&ServerConfig::memtable_bytes),
       BytesInto(&ServerConfig::memtable_bytes, 1ull << 20, 16ull << 30)},
      {"block_cache_bytes", "--block-cache-bytes", "", "Index block cache budget", "Limits",
       ShowBytesOf(&ServerConfig::block_cache_bytes),
       BytesInto(&ServerConfig::block_cache_bytes, 0, 256ull << 30)},
      {"segment_bytes_max", "--segment-bytes-max", "", "Event log segment size", "Limits",
       ShowBytesOf(&ServerConfig::segment_bytes_max),
       BytesInto(&ServerConfig::segment_bytes_max, 1ull << 20, 16ull << 30)},
      {"compression", "--compression", "", "Index block compression: none | zstd | lz4", "Limits",
       [](const ServerConfig& c) {
         return std::string(c.compression == Compression::kZstd  ? "zstd"
                            : c.compression == Compression::kLz4 ? "lz4"
                                                                 : "none");
       },
       [](const std::string& v, ServerConfig* c) {
         std::string l = Lower(v);
         if (l == "none")
           c->compression = Compression::kNone;
         else if (l == "zstd")
           c->compression = Compression::kZstd;
         else if (l == "lz4")
           c->compression = Compression::kLz4;
         else
           return Status::InvalidArgument("expected none, zstd or lz4");
         return Status::OK();
       }},
      // Cluster (cluster/membership.h).
      {"etcd", "--etcd", "ETCD", "etcd endpoints, comma-separated host:port (cluster mode)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       ShowString(&ServerConfig::etcd),
       [](const std::string& v, ServerConfig* c) {
         size_t start = 0;
         while (start <= v.size()) {
           size_t comma = v.find(',', start);
           std::string ep =
               v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
           if (!ep.empty()) RDB_RETURN_IF_ERROR(ParseHostPort(ep));
           if (comma == std::string::npos) break;
           start = comma + 1;
         }
         c->etcd = v;
         return Status::OK();
       }},
      {"node", "--node", "NODE", "This node's name (cluster mode)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       ShowString(&ServerConfig::node), StringInto(&ServerConfig::node)},
      {"address", "--address", "ADDRESS",
       "host:port listened on and advertised (overrides --listen/--port)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       ShowString(&ServerConfig::address),
       [](const std::string& v, ServerConfig* c) {
         if (!v.empty()) RDB_RETURN_IF_ERROR(ParseHostPort(v));
         c->address = v;
         return Status::OK();
       }},
      {"lease_ttl", "--lease-ttl", "LEASE_TTL", "Membership lease TTL, seconds (cluster mode)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       [](const ServerConfig& c) { return ShowDouble(c.lease_ttl_s); },
       SecondsInto(&ServerConfig::lease_ttl_s)},
      {"refresh_interval", "--refresh-interval", "REFRESH_INTERVAL",
       "Lease keep-alive period, seconds (cluster mode)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       [](const ServerConfig& c) { return ShowDouble(c.refresh_interval_s); },
       SecondsInto(&ServerConfig::refresh_interval_s)},
      {"dbname", "", "", "Database name (cluster shape)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       ShowString(&ServerConfig::dbname), StringInto(&ServerConfig::dbname, false)},
      {"groups", "", "", "Number of groups (cluster shape)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       ShowUint(&ServerConfig::groups), UintInto(&ServerConfig::groups, 1, 4096)},
      {"group_size", "", "", "Members per group (cluster shape)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       ShowUint(&ServerConfig::group_size), UintInto(&ServerConfig::group_size, 1, 15)},
      {"reads", "", "", "Read quorum R (cluster shape)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       ShowUint(&ServerConfig::reads), UintInto(&ServerConfig::reads, 1, 15)},
      {"writes", "", "", "Write quorum W (cluster shape)",
       "Cluster (used when --etcd is given; see docs/design/cluster.md)",
       ShowUint(&ServerConfig::writes), UintInto(&ServerConfig::writes, 1, 15)},
  };
  return kSettings;
}

Status CrossCheck(const ServerConfig& c) {
  if (c.refresh_interval_s >= c.lease_ttl_s)
    return Status::InvalidArgument("refresh_interval (" + ShowDouble(c.refresh_interval_s) +
                                   ") must be below lease_ttl (" + ShowDouble(c.lease_ttl_s) + ")");
  if (c.writes > c.group_size || c.reads > c.group_size)
    return Status::InvalidArgument("reads and writes must be at most group_size");
  if (c.reads + c.writes <= c.group_size)
    return Status::InvalidArgument("reads + writes must be above group_size (R + W > N)");
  return Status::OK();
}

// YAML scalars as strings; a sequence (etcd endpoints) is joined with commas.
Result<std::map<std::string, std::string>> LoadYaml(const std::string& path) {
  std::map<std::string, std::string> out;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return Status::InvalidArgument("--config: cannot read " + path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("--config " + path + ": not valid YAML: " + e.what());
  }
  if (root.IsNull()) return out;
  if (!root.IsMap())
    return Status::InvalidArgument("--config " + path + ": expected a mapping of setting: value");
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    const auto& s = Settings();
    auto it = std::find_if(s.begin(), s.end(), [&](const Setting& x) { return x.name == key; });
    if (it == s.end())
      return Status::InvalidArgument("--config " + path + ": unknown setting '" + key +
                                     "' (settings are the flags in snake_case, e.g. data_dir)");
    const YAML::Node& v = kv.second;
    if (v.IsScalar()) {
      out[key] = v.Scalar();
    } else if (v.IsSequence()) {
      std::string joined;
      for (const auto& item : v) {
        if (!item.IsScalar())
          return Status::InvalidArgument("--config " + path + ": setting '" + key +
                                         "': expected a value or a list of values");
        if (!joined.empty()) joined += ",";
        joined += item.Scalar();
      }
      out[key] = joined;
    } else {
      return Status::InvalidArgument("--config " + path + ": setting '" + key +
                                     "': expected a value");
    }
  }
  return out;
}

std::string TypeName(const std::string& name) {
  static const std::map<std::string, std::string> kTypes = {
      {"data_dir", "DIR"},      {"listen", "HOST"},        {"port", "PORT"},
      {"fsync", "POLICY"},      {"metrics_port", "PORT"},  {"trace_level", "LEVEL"},
      {"compression", "NAME"},  {"etcd", "HOST:PORT,..."}, {"node", "NAME"},
      {"address", "HOST:PORT"}, {"lease_ttl", "SECONDS"},  {"refresh_interval", "SECONDS"},
  };
  auto it = kTypes.find(name);
  if (it != kTypes.end()) return it->second;
  if (name.find("bytes") != std::string::npos) return "SIZE";
  return "N";
}

std::string LimitsFooter(const ServerConfig& c) {
  std::string s = "Fixed limits (CONTRACT.md):\n";
  s += "  key_bytes_max              " + std::to_string(kKeyBytesMax) + "\n";
  s += "  event_type_bytes_max       " + std::to_string(kEventTypeBytesMax) + "\n";
  s += "  idempotency_id_bytes_max   " + std::to_string(kIdempotencyIdBytesMax) + "\n";
  s += "  batch_events_max           " + std::to_string(kBatchEventsMax) + "\n";
  s += "  batch_bytes_max            " + ShowBytes(kBatchBytesMax) + "\n";
  s += "  read_limit_default         " + std::to_string(kReadLimitDefault) + " events\n";
  s += "  read_limit_max             " + std::to_string(kReadLimitMax) + " events\n";
  s += "  read_page_bytes_max        " + ShowBytes(kReadBytesMax) + "\n";
  s += "  grpc_receive_bytes_max     " + ShowBytes(c.grpc_receive_bytes_max()) +
       " (batch_bytes_max or payload_bytes_max, whichever is larger, + 1MiB)\n";
  s +=
      "Precedence: flag > environment > YAML file (--config; keys are the settings in snake_case,\n"
      "plus the cluster shape: dbname, groups, group_size, reads, writes) > default.\n";
  return s;
}

}  // namespace

const char* FsyncName(FsyncPolicy p) {
  switch (p) {
    case FsyncPolicy::kAlways:
      return "always";
    case FsyncPolicy::kInterval:
      return "interval";
    case FsyncPolicy::kNever:
      return "never";
  }
  return "?";
}

std::string ServerConfig::ListenAddress() const {
  if (!address.empty()) return address;
  return listen + ":" + std::to_string(port);
}

uint64_t ServerConfig::grpc_receive_bytes_max() const {
  return std::max<uint64_t>(kBatchBytesMax, payload_bytes_max) + (1ull << 20);
}

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

Result<uint64_t> ParseBytes(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) digits++;
  if (digits == 0 || digits > 19)
    return Status::InvalidArgument("expected a size in bytes, e.g. 4194304 or 4MiB");
  uint64_t n = std::stoull(text.substr(0, digits));
  std::string unit = Lower(text.substr(digits));
  uint64_t mult = 1;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "k" || unit == "kib" || unit == "kb")
    mult = 1ull << 10;
  else if (unit == "m" || unit == "mib" || unit == "mb")
    mult = 1ull << 20;
  else if (unit == "g" || unit == "gib" || unit == "gb")
    mult = 1ull << 30;
  else
    return Status::InvalidArgument("unknown size unit '" + unit + "' (use KiB, MiB or GiB)");
  if (n > (UINT64_MAX >> 31)) return Status::InvalidArgument("size too large");
  return n * mult;
}

ParseOutcome ParseServerConfig(int argc, const char* const* argv, ServerConfig* config,
                               const EnvLookup& env) {
  const ServerConfig defaults;
  CLI::App app{"rdb-server: RDeeBee, an event database with built-in change data capture.",
               "rdb-server"};
  app.set_version_flag("--version", "rdb-server 0.1.0");
  app.footer(LimitsFooter(defaults));
  app.get_formatter()->column_width(36);
  std::map<std::string, std::string> raw;
  std::map<std::string, CLI::Option*> opts;
  for (const Setting& s : Settings()) {
    if (s.flag.empty()) continue;
    std::string help = s.help + " (default: " + s.show(defaults) + ")";
    if (!s.env.empty()) help += " [env " + s.env + "]";
    opts[s.name] =
        app.add_option(s.flag, raw[s.name], help)->group(s.group)->type_name(TypeName(s.name));
  }
  app.add_option("--config", config->config_file,
                 "YAML file with any of these settings in snake_case, and the cluster shape")
      ->group("Server")
      ->type_name("FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return {true, code == 0 ? 0 : 2};
  }

  std::map<std::string, std::string> yaml;
  if (!config->config_file.empty()) {
    auto loaded = LoadYaml(config->config_file);
    if (!loaded.ok()) {
      std::cerr << "rdb-server: " << loaded.status().message() << "\n";
      return {true, 2};
    }
    yaml = std::move(loaded).value();
  }
  for (const Setting& s : Settings()) {
    std::string value, source;
    auto opt = opts.find(s.name);
    std::optional<std::string> from_env = s.env.empty() ? std::nullopt : env(s.env);
    if (opt != opts.end() && opt->second->count() > 0) {
      value = raw[s.name];
      source = s.flag;
    } else if (from_env) {
      value = *from_env;
      source = "environment variable " + s.env;
    } else if (auto y = yaml.find(s.name); y != yaml.end()) {
      value = y->second;
      source = "setting '" + s.name + "' in " + config->config_file;
    } else {
      continue;
    }
    Status st = s.parse(value, config);
    if (!st.ok()) {
      std::cerr << "rdb-server: invalid value '" << value << "' for " << source << ": "
                << st.message() << "\n";
      return {true, 2};
    }
  }
  Status st = CrossCheck(*config);
  if (!st.ok()) {
    std::cerr << "rdb-server: invalid configuration: " << st.message() << "\n";
    return {true, 2};
  }
  return {};
}

}  // namespace rdb::server
