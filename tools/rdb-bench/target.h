// The systems rdb-bench drives, behind one small interface: RDeeBee's rdb-server (through the C++
// client library) and etcd (through our own etcd client, src/etcd), so both run the same workload
// loop, options and measurements. Each Conn is one client with its own connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace rdb::bench {

enum class Target : uint8_t { kRdeebee, kEtcd };

// etcd refuses more operations than this in one transaction (its --max-txn-ops default).
inline constexpr uint32_t kEtcdTxnOpsMax = 128;

class Conn {
 public:
  virtual ~Conn() = default;
  // Appends `batch` events with this payload in one request. RDeeBee: one atomic batch on the key.
  // etcd: batch 1 is one Put of the key; a batch is one Txn of `batch` Puts to <key>/<i> (etcd
  // refuses two writes to one key in a transaction).
  virtual Status Append(const std::string& key, const std::string& payload, uint32_t batch) = 0;
  // Reads the key's latest payload; returns its size, or kNotFound.
  virtual Result<size_t> Get(const std::string& key) = 0;
};

struct ConnOptions {
  std::string server;  // HOST:PORT (etcd: HOST:PORT[,HOST:PORT...])
  double timeout_s = 10;
};

Result<std::unique_ptr<Conn>> ConnectRdeebee(const ConnOptions& options);
Result<std::unique_ptr<Conn>> ConnectEtcd(const ConnOptions& options);

inline Result<std::unique_ptr<Conn>> Connect(Target target, const ConnOptions& options) {
  return target == Target::kEtcd ? ConnectEtcd(options) : ConnectRdeebee(options);
}

}  // namespace rdb::bench
