// The etcd v3 data model in RDeeBee's own types: key-values, ranges, transactions, leases and
// watch events. Plain values, no gRPC or protobuf in sight; etcd/client.h speaks them.
//
// Revisions are etcd's: one counter for the whole store, bumped by every write (a transaction with
// writes bumps it once). A key's create_revision is the revision of the write that created it
// (since its last delete), mod_revision that of its last write, version the number of writes since
// it was created (0 = absent). See https://etcd.io/docs/v3.4/learning/data_model/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace rdb::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;  // 0 = no lease
};

// The smallest key greater than every key that starts with prefix: the range_end of a prefix
// range. "\0" (etcd's "to the end of the keyspace") for an empty prefix or one of all 0xff bytes.
std::string PrefixRangeEnd(const std::string& prefix);

// Which keys a Get or Delete touches. Default: exactly `key`.
struct RangeOptions {
  // Non-empty: the half-open range [key, range_end). "\0" = every key >= key.
  std::string range_end;
  static RangeOptions Prefix(const std::string& prefix) { return {PrefixRangeEnd(prefix)}; }
};

enum class SortOrder : uint8_t { kNone, kAscend, kDescend };
enum class SortTarget : uint8_t { kKey, kVersion, kCreateRevision, kModRevision, kValue };

struct GetOptions {
  std::string range_end;  // see RangeOptions; empty = the single key
  int64_t revision = 0;   // read the store as of this revision; 0 = the newest
  int64_t limit = 0;      // 0 = no limit; `more` says whether keys were left out
  SortOrder sort_order = SortOrder::kNone;
  SortTarget sort_target = SortTarget::kKey;
  bool keys_only = false;
  bool count_only = false;
  bool serializable = false;  // read from the member's local state (may be stale), no quorum

  static GetOptions Prefix(const std::string& prefix) {
    GetOptions o;
    o.range_end = PrefixRangeEnd(prefix);
    return o;
  }
};

struct GetResult {
  int64_t revision = 0;  // the store's revision the read saw
  std::vector<KeyValue> kvs;
  int64_t count = 0;  // keys in the range (ignores limit)
  bool more = false;  // limit left some out
};

struct PutOptions {
  int64_t lease = 0;  // attach to this lease; 0 = none
  bool prev_kv = false;
};

struct PutResult {
  int64_t revision = 0;  // the revision of this write
  std::optional<KeyValue> prev_kv;
};

struct DeleteOptions {
  std::string range_end;  // see RangeOptions; empty = the single key
  bool prev_kv = false;
};

struct DeleteResult {
  int64_t revision = 0;
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

// One comparison of a transaction's guard. A key that does not exist compares as version 0,
// create_revision 0, mod_revision 0, lease 0; a value comparison on an absent key is false.
struct Compare {
  enum class Target : uint8_t { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Op : uint8_t { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  std::string range_end;  // empty = the single key; else every key in the range must satisfy it
  Target target = Target::kVersion;
  Op op = Op::kEqual;
  int64_t number = 0;  // version, revision or lease
  std::string value;   // Target::kValue

  static Compare Version(std::string key, Op op, int64_t v) {
    return {std::move(key), "", Target::kVersion, op, v, ""};
  }
  static Compare CreateRevision(std::string key, Op op, int64_t rev) {
    return {std::move(key), "", Target::kCreateRevision, op, rev, ""};
  }
  static Compare ModRevision(std::string key, Op op, int64_t rev) {
    return {std::move(key), "", Target::kModRevision, op, rev, ""};
  }
  static Compare Value(std::string key, Op op, std::string value) {
    return {std::move(key), "", Target::kValue, op, 0, std::move(value)};
  }
  static Compare Lease(std::string key, Op op, int64_t lease) {
    return {std::move(key), "", Target::kLease, op, lease, ""};
  }
  // The key does not exist (create_revision == 0).
  static Compare Absent(std::string key) { return CreateRevision(std::move(key), Op::kEqual, 0); }
};

// One operation of a transaction branch.
struct TxnOp {
  struct Put {
    std::string key, value;
    PutOptions options;
  };
  struct Get {
    std::string key;
    GetOptions options;
  };
  struct Delete {
    std::string key;
    DeleteOptions options;
  };
  std::variant<Put, Get, Delete> op;

  static TxnOp MakePut(std::string key, std::string value, PutOptions o = {}) {
    return {Put{std::move(key), std::move(value), o}};
  }
  static TxnOp MakeGet(std::string key, GetOptions o = {}) {
    return {Get{std::move(key), std::move(o)}};
  }
  static TxnOp MakeDelete(std::string key, DeleteOptions o = {}) {
    return {Delete{std::move(key), std::move(o)}};
  }
};

// If every comparison holds, `then` runs, else `otherwise`; atomically, at one revision. etcd
// refuses two writes to the same key in one transaction, and more than --max-txn-ops (default 128)
// operations per branch.
struct Txn {
  std::vector<Compare> compare;
  std::vector<TxnOp> then;
  std::vector<TxnOp> otherwise;
};

using TxnOpResult = std::variant<PutResult, GetResult, DeleteResult>;

struct TxnResult {
  bool succeeded = false;            // the compares held: `then` ran
  int64_t revision = 0;              // the store's revision after the transaction
  std::vector<TxnOpResult> results;  // one per operation of the branch that ran, in order
};

struct Lease {
  int64_t id = 0;
  int64_t ttl_s = 0;  // granted TTL (etcd raises a TTL below its minimum, ~2 s by default)
};

struct LeaseInfo {
  int64_t id = 0;
  int64_t ttl_s = 0;          // remaining seconds; -1 if the lease expired or never existed
  int64_t granted_ttl_s = 0;  // TTL at grant or last keep-alive
  std::vector<std::string> keys;
};

struct WatchEvent {
  enum class Type : uint8_t { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;                      // for a delete: the key and the delete's mod_revision, no value
  std::optional<KeyValue> prev_kv;  // when WatchOptions::prev_kv is set and etcd still has it
};

}  // namespace rdb::etcd
