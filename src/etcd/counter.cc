#include "etcd/counter.h"

#include <charconv>

namespace rdb::etcd {

Result<int64_t> ParseCounter(const std::string& key, const std::string& value) {
  int64_t n = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, n);
  if (value.empty() || ec != std::errc() || ptr != end || n < 0)
    return Status::Corruption("etcd counter " + key + " holds '" + value.substr(0, 40) +
                              "', not a non-negative decimal number");
  return n;
}

Result<CounterResult> IncrementCounter(Client* client, const std::string& key, int attempts_max) {
  CounterResult out;
  // The first read is a plain get; after a conflict the failed transaction's get branch already
  // returned the current value, so every retry costs one round trip.
  RDB_ASSIGN_OR_RETURN(GetResult current, client->Get(key));
  while (out.attempts < attempts_max) {
    out.attempts++;
    int64_t value = 0;
    int64_t mod_revision = 0;
    if (!current.kvs.empty()) {
      RDB_ASSIGN_OR_RETURN(value, ParseCounter(key, current.kvs[0].value));
      mod_revision = current.kvs[0].mod_revision;
    }
    Txn txn;
    // mod_revision 0 compares equal for an absent key.
    txn.compare.push_back(Compare::ModRevision(key, Compare::Op::kEqual, mod_revision));
    txn.then.push_back(TxnOp::MakePut(key, std::to_string(value + 1)));
    txn.otherwise.push_back(TxnOp::MakeGet(key));
    RDB_ASSIGN_OR_RETURN(TxnResult r, client->Commit(txn));
    if (r.succeeded) {
      out.value = value + 1;
      out.revision = r.revision;
      return out;
    }
    current = std::get<GetResult>(std::move(r.results.at(0)));
  }
  return Status::Aborted("etcd counter " + key + ": still contended after " +
                         std::to_string(attempts_max) + " attempts");
}

}  // namespace rdb::etcd
