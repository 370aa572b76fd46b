#include <cstdio>

#include "etcd/client.h"
#include "tools/rdb-bench/target.h"

namespace rdb::bench {

namespace {

class EtcdConn : public Conn {
 public:
  explicit EtcdConn(std::unique_ptr<etcd::Client> c) : c_(std::move(c)) {}

  Status Append(const std::string& key, const std::string& payload, uint32_t batch) override {
    if (batch <= 1) return c_->Put(key, payload).status();
    if (batch > kEtcdTxnOpsMax)
      return Status::InvalidArgument("etcd allows at most " + std::to_string(kEtcdTxnOpsMax) +
                                     " operations per transaction");
    etcd::Txn txn;
    txn.then.reserve(batch);
    char suffix[16];
    for (uint32_t i = 0; i < batch; i++) {
      std::snprintf(suffix, sizeof suffix, "/%03u", i);
      txn.then.push_back(etcd::TxnOp::MakePut(key + suffix, payload));
    }
    return c_->Commit(txn).status();
  }

  Result<size_t> Get(const std::string& key) override {
    RDB_ASSIGN_OR_RETURN(etcd::GetResult r, c_->Get(key));
    if (r.kvs.empty()) return Status::NotFound("key " + key + " not found");
    return r.kvs[0].value.size();
  }

 private:
  std::unique_ptr<etcd::Client> c_;
};

}  // namespace

Result<std::unique_ptr<Conn>> ConnectEtcd(const ConnOptions& o) {
  RDB_ASSIGN_OR_RETURN(auto endpoints, etcd::Client::ParseEndpoints(o.server));
  etcd::ClientOptions co;
  co.timeout_ms = static_cast<int64_t>(o.timeout_s * 1000);
  co.own_connection = true;
  RDB_ASSIGN_OR_RETURN(auto c, etcd::Client::Connect(endpoints, co));
  // Connect now, so the first measured request does not pay for it (and a down etcd fails here).
  RDB_RETURN_IF_ERROR(c->Revision().status());
  return std::unique_ptr<Conn>(new EtcdConn(std::move(c)));
}

}  // namespace rdb::bench
