// rdb::etcd::Client: a synchronous etcd v3 client over gRPC (KV, Txn, Lease). Watch, lease
// keep-alive and election are built on it (watcher.h, lease_keeper.h, election.h).
//
// Endpoints and failover: the client holds one gRPC channel per endpoint and sends each call to the
// current one. When a call fails with UNAVAILABLE (the member is down, unreachable or has no
// leader) the same call is tried on the next endpoint, until one answers, every endpoint was tried
// once or the call's deadline passes; the one that answered becomes current. A write that failed
// with UNAVAILABLE after reaching etcd may have been applied, so a retried Put or Delete can apply
// twice (harmless: same key, same value) and a retried Txn re-evaluates its compares.
//
// Deadlines: every call carries one (Options::timeout_ms, over all its failover attempts).
//
// Errors (rdb::Status codes, messages "etcd <call> <endpoint>: <etcd's message>"):
//   kUnavailable        no endpoint answered (down, no leader, deadline exceeded)
//   kNotFound           a lease that does not exist (expired or revoked)
//   kInvalidArgument    etcd refused the request (empty key, duplicate key in a txn, too large,
//   ...) kFailedPrecondition a revision that is compacted or in the future, auth refused
//   kResourceExhausted  etcd's quota (database space) or rate limit
//   kIoError            anything else etcd reports (internal errors)
//
// Thread-safety: all methods may be called from many threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "etcd/types.h"

namespace rdb::etcd {

struct ClientOptions {
  int64_t timeout_ms = 5000;  // deadline of each call, failover included
  // A TCP connection of this client's own, not shared with other clients of the process (gRPC
  // otherwise shares one per target). The benchmark's clients each use one.
  bool own_connection = false;
  // gRPC reconnect backoff after a connection fails (gRPC's default grows to 2 minutes; an etcd
  // member that restarts should be found again within a second).
  int reconnect_backoff_min_ms = 100;
  int reconnect_backoff_max_ms = 1000;
  // How long one connection attempt (TCP connect + HTTP/2 handshake) may take. gRPC takes it from
  // its "min reconnect backoff" argument; tied to the 100 ms backoff above, an attempt on a loaded
  // machine against an etcd that has just restarted timed out again and again ("connection attempt
  // timed out before receiving SETTINGS frame") for over 10 s.
  int connect_timeout_ms = 2000;
};

struct Endpoint;  // one member: its address and channel (client.cc)

class Client {
 public:
  // endpoints: "host:port" each, at least one. Connects lazily: an unreachable etcd shows up as
  // kUnavailable from the first call, not here.
  static Result<std::unique_ptr<Client>> Connect(const std::vector<std::string>& endpoints,
                                                 const ClientOptions& options = {});
  // "host:port[,host:port...]", as --etcd and ETCD take it.
  static Result<std::vector<std::string>> ParseEndpoints(const std::string& list);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // KV.
  Result<PutResult> Put(const std::string& key, const std::string& value,
                        const PutOptions& options = {});
  Result<GetResult> Get(const std::string& key, const GetOptions& options = {});
  Result<GetResult> GetPrefix(const std::string& prefix, GetOptions options = {});
  Result<DeleteResult> Delete(const std::string& key, const DeleteOptions& options = {});
  Result<DeleteResult> DeletePrefix(const std::string& prefix);
  Result<TxnResult> Commit(const Txn& txn);
  // Discards the history before revision (reads and watches from earlier revisions then fail
  // with kFailedPrecondition). physical: wait until the space is reclaimed.
  Status Compact(int64_t revision, bool physical = false);

  // Lease. ttl_s is whole seconds (etcd's unit); id 0 lets etcd choose.
  Result<Lease> LeaseGrant(int64_t ttl_s, int64_t id = 0);
  // Revokes the lease and deletes every key attached to it. kNotFound if it is gone already.
  Status LeaseRevoke(int64_t id);
  // One keep-alive: renews the lease to its granted TTL and returns that TTL. kNotFound if the
  // lease has expired or was revoked (etcd answers TTL 0 then). timeout_ms 0 = the client's.
  Result<int64_t> LeaseKeepAliveOnce(int64_t id, int64_t timeout_ms = 0);
  // Remaining TTL (-1 when gone) and, with keys, the keys attached.
  Result<LeaseInfo> LeaseTimeToLive(int64_t id, bool keys = false);

  // The current store revision (a serializable-free, linearizable read of an empty range).
  Result<int64_t> Revision();

  const ClientOptions& options() const { return options_; }
  // Address of the endpoint calls currently go to.
  std::string current_endpoint() const;
  const std::vector<std::string>& endpoints() const { return addresses_; }

  // For watcher.cc and lease keep-alive streams: the endpoint calls go to now, its index, and a
  // way to move on to the next after a failure. Not part of the public contract.
  Endpoint& endpoint(size_t index) const;
  size_t current_index() const { return current_.load(std::memory_order_relaxed); }
  void FailedOver(size_t from_index);

 private:
  Client(std::vector<std::string> addresses, ClientOptions options);
  template <typename Fn>
  Status Call(const char* what, Fn&& fn, int64_t timeout_ms = 0);

  const std::vector<std::string> addresses_;
  const ClientOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<size_t> current_{0};
};

}  // namespace rdb::etcd
