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
  // HOST:PORT[,HOST:PORT...]. etcd: the client's endpoints. RDeeBee: one address, or several —
  // client `index` then connects to address index mod N, unless route_groups.
  std::string server;
  double timeout_s = 10;
  uint32_t index = 0;  // this client's number (0 .. clients - 1)
  // RDeeBee, several addresses: address g is leader 1 of cluster group g (of N groups); the client
  // connects to all of them and sends each request to its key's group (cluster::GroupOfKey), as a
  // routing client would, so no node has to forward.
  bool route_groups = false;
};

Result<std::unique_ptr<Conn>> ConnectRdeebee(const ConnOptions& options);
Result<std::unique_ptr<Conn>> ConnectEtcd(const ConnOptions& options);

inline Result<std::unique_ptr<Conn>> Connect(Target target, const ConnOptions& options) {
  return target == Target::kEtcd ? ConnectEtcd(options) : ConnectRdeebee(options);
}

}  // namespace rdb::bench
