// PgStore: the PostgreSQL side of rdb-sink-postgres (docs/sink-postgres.md).
//
// Owns one libpqxx connection. Open() creates the sink's tables if missing and checks the shape of
// existing ones; Apply() writes one batch of changes and the sink's new position in ONE
// transaction, which is what makes a crash at any moment apply every change exactly once: the
// position and the rows it covers commit together or not at all, and a restarted sink resumes after
// the position.
//
// Tables (names quoted as identifiers; "schema.table" is accepted):
//   <table>(key text primary key, value <text|jsonb|bytea>, version bigint, seq bigint,
//           updated_at timestamptz)
//   rdeebee_sink_positions(sink text primary key, seq bigint)
//   <audit table>(seq bigint primary key, key text)          (only with an audit table)
//
// Errors are Status values; no libpqxx exception leaves this file. Codes:
//   kUnavailable        the connection broke or the database is unreachable: Reconnect() and retry
//   kInvalidArgument    a change does not fit (see ApplyError), or a bad DSN / option
//   kFailedPrecondition wrong table shape, the position moved under us (a second sink with the same
//                       name), or the audit table caught a change applied twice
//
// Thread-safety: none; one thread uses a PgStore.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "client/client.h"

namespace rdb::sink {

enum class ValueType : uint8_t { kText, kJsonb, kBytea };

// "text", "jsonb" or "bytea".
Result<ValueType> ParseValueType(std::string_view name);
std::string_view ValueTypeName(ValueType type);

// The PostgreSQL name of a column type as format_type() prints it ("text", "jsonb", "bytea",
// "bigint", "timestamp with time zone").
std::string_view ValueTypeSqlName(ValueType type);

struct StoreOptions {
  std::string table;      // required
  std::string sink_name;  // the row in rdeebee_sink_positions; required
  ValueType value_type = ValueType::kText;
  std::string audit_table;  // empty = none
};

// A batch: changes in strictly increasing seq order, and the position to record once they are
// applied (>= the last change's seq; a checkpoint may move it further).
struct Batch {
  std::vector<client::Change> changes;
  uint64_t position = 0;
};

// Why a batch stopped at a change (kInvalidArgument from Apply). The changes before `seq` were
// committed and the position stands just before it.
struct ApplyError {
  uint64_t seq = 0;
  std::string key;
};

// True if s is well-formed UTF-8 without NUL bytes (PostgreSQL text can hold neither).
bool FitsText(std::string_view s);

class PgStore {
 public:
  // Connects to `dsn` (libpq keyword or URI form), creates missing tables and checks the shape of
  // existing ones. kUnavailable: cannot connect (bad DSN included — libpq does not tell them apart
  // reliably; the message says which); kFailedPrecondition: a table has the wrong shape.
  static Result<std::unique_ptr<PgStore>> Open(const std::string& dsn, const StoreOptions& options);
  ~PgStore();
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  // The last committed position: every change with seq <= position() is applied (0 = none).
  uint64_t position() const { return position_; }

  // Drops the connection, connects again and reloads position() from the database (a commit whose
  // acknowledgement was lost shows up here).
  Status Reconnect();

  // Applies the changes of `batch` with seq > position() and records batch.position, in one
  // transaction. OK: committed, position() == max(position(), batch.position). On a change that
  // does not fit the value type (or a key that is not valid text), the changes before it are
  // committed on their own, *error (if given) names it and the result is kInvalidArgument.
  Status Apply(const Batch& batch, ApplyError* error = nullptr);

  // Reads the stored position of `sink_name` (0 if none), for tests and tools.
  Result<uint64_t> LoadPosition();

 private:
  PgStore(std::string dsn, StoreOptions options);
  Status Connect();
  Status EnsureSchema();
  Status Prepare();
  // One transaction over changes[0, end) recording `position`; throws libpqxx exceptions.
  // *failed gets the index of a change PostgreSQL refused as data (SQLSTATE class 22).
  void ApplyRange(const Batch& batch, size_t begin, size_t end, uint64_t position, size_t* failed);

  std::string dsn_;
  StoreOptions options_;
  std::string table_sql_;  // quoted identifiers
  std::string audit_sql_;
  struct Connection;  // the libpqxx connection, kept out of this header
  std::unique_ptr<Connection> conn_;
  uint64_t position_ = 0;
};

}  // namespace rdb::sink
