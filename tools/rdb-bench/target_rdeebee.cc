#include <vector>

#include "client/client.h"
#include "tools/rdb-bench/target.h"

namespace rdb::bench {

namespace {

class RdeebeeConn : public Conn {
 public:
  explicit RdeebeeConn(std::unique_ptr<client::Client> c) : c_(std::move(c)) {}

  Status Append(const std::string& key, const std::string& payload, uint32_t batch) override {
    if (batch_.size() != batch || (batch > 0 && batch_[0].payload != payload))
      batch_.assign(batch, client::EventInput{payload, ""});
    return c_->Append(key, batch_).status();
  }

  Result<size_t> Get(const std::string& key) override {
    RDB_ASSIGN_OR_RETURN(auto e, c_->Get(key));
    return e.payload.size();
  }

 private:
  std::unique_ptr<client::Client> c_;
  std::vector<client::EventInput> batch_;  // reused between requests
};

}  // namespace

Result<std::unique_ptr<Conn>> ConnectRdeebee(const ConnOptions& o) {
  client::ClientOptions co;
  co.timeout_seconds = o.timeout_s;
  co.own_connection = true;
  RDB_ASSIGN_OR_RETURN(auto c, client::Client::Connect(o.server, co));
  RDB_RETURN_IF_ERROR(c->WaitUntilReady(o.timeout_s));
  return std::unique_ptr<Conn>(new RdeebeeConn(std::move(c)));
}

}  // namespace rdb::bench
