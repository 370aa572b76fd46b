#include <vector>

#include "client/client.h"
#include "cluster/routing.h"
#include "tools/rdb-bench/target.h"

namespace rdb::bench {

namespace {

// One client: one connection, or (route_groups) one per group's leader 1, each request sent to
// the connection of its key's group.
class RdeebeeConn : public Conn {
 public:
  explicit RdeebeeConn(std::vector<std::unique_ptr<client::Client>> c) : c_(std::move(c)) {}

  Status Append(const std::string& key, const std::string& payload, uint32_t batch) override {
    if (batch_.size() != batch || (batch > 0 && batch_[0].payload != payload))
      batch_.assign(batch, client::EventInput{payload, ""});
    return For(key)->Append(key, batch_).status();
  }

  Result<size_t> Get(const std::string& key) override {
    RDB_ASSIGN_OR_RETURN(auto e, For(key)->Get(key));
    return e.payload.size();
  }

 private:
  client::Client* For(const std::string& key) {
    if (c_.size() == 1) return c_[0].get();
    return c_[cluster::GroupOfKey(key, static_cast<uint32_t>(c_.size()))].get();
  }

  std::vector<std::unique_ptr<client::Client>> c_;
  std::vector<client::EventInput> batch_;  // reused between requests
};

std::vector<std::string> SplitAddresses(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Conn>> ConnectRdeebee(const ConnOptions& o) {
  client::ClientOptions co;
  co.timeout_seconds = o.timeout_s;
  co.own_connection = true;
  std::vector<std::string> addresses = SplitAddresses(o.server);
  if (addresses.empty()) return Status::InvalidArgument("no server address");
  if (!o.route_groups) addresses = {addresses[o.index % addresses.size()]};
  std::vector<std::unique_ptr<client::Client>> clients;
  for (const auto& a : addresses) {
    RDB_ASSIGN_OR_RETURN(auto c, client::Client::Connect(a, co));
    RDB_RETURN_IF_ERROR(c->WaitUntilReady(o.timeout_s));
    clients.push_back(std::move(c));
  }
  return std::unique_ptr<Conn>(new RdeebeeConn(std::move(clients)));
}

}  // namespace rdb::bench
