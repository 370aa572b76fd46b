#include "tools/rdb-sink-postgres/store.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <stdexcept>
#include <utility>

namespace rdb::sink {
namespace {

constexpr char kPositionsTable[] = "rdeebee_sink_positions";

// "a.b" -> "\"a\".\"b\"": names are taken literally (case kept), never interpolated raw.
std::string QuoteName(std::string_view name) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view part = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!out.empty()) out += '.';
    out += '"';
    for (char c : part) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

// PostgreSQL's messages end in newlines and may span lines ("ERROR: ...\nDETAIL: ...").
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct Column {
  std::string name;
  std::string type;  // as format_type() prints it
};

// The position row no longer holds what this store committed last.
struct PositionMoved : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Keeps the value out of libpq's C-string parameters when it could not survive them.
pqxx::binarystring Binary(const std::string& s) { return pqxx::binarystring(s.data(), s.size()); }

}  // namespace

Result<ValueType> ParseValueType(std::string_view name) {
  if (name == "text") return ValueType::kText;
  if (name == "jsonb") return ValueType::kJsonb;
  if (name == "bytea") return ValueType::kBytea;
  return Status::InvalidArgument("value type must be text, jsonb or bytea, not '" +
                                 std::string(name) + "'");
}

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kText:
      return "text";
    case ValueType::kJsonb:
      return "jsonb";
    case ValueType::kBytea:
      return "bytea";
  }
  return "?";
}

std::string_view ValueTypeSqlName(ValueType type) { return ValueTypeName(type); }

bool FitsText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; k++) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

struct PgStore::Connection {
  explicit Connection(const std::string& dsn) : c(dsn) {}
  pqxx::connection c;
};

PgStore::PgStore(std::string dsn, StoreOptions options)
    : dsn_(std::move(dsn)), options_(std::move(options)) {
  table_sql_ = QuoteName(options_.table);
  if (!options_.audit_table.empty()) audit_sql_ = QuoteName(options_.audit_table);
}

PgStore::~PgStore() = default;

Result<std::unique_ptr<PgStore>> PgStore::Open(const std::string& dsn,
                                               const StoreOptions& options) {
  if (options.table.empty()) return Status::InvalidArgument("a table name is needed (--table)");
  if (options.sink_name.empty()) return Status::InvalidArgument("the sink's name is empty");
  std::unique_ptr<PgStore> store(new PgStore(dsn, options));
  RDB_RETURN_IF_ERROR(store->Connect());
  RDB_RETURN_IF_ERROR(store->EnsureSchema());
  RDB_RETURN_IF_ERROR(store->Prepare());
  RDB_ASSIGN_OR_RETURN(store->position_, store->LoadPosition());
  return store;
}

Status PgStore::Connect() {
  conn_.reset();
  try {
    auto conn = std::make_unique<Connection>(dsn_);
    conn->c.set_client_encoding("UTF8");
    conn_ = std::move(conn);
    return Status::OK();
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot connect to PostgreSQL: " + OneLine(e.what()));
  }
}

namespace {

// The columns of `relation` in order; empty if it does not exist.
std::vector<Column> Columns(pqxx::work& tx, const std::string& relation) {
  pqxx::result r = tx.exec_params(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
      "ORDER BY a.attnum",
      relation);
  std::vector<Column> cols;
  for (const auto& row : r) cols.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
  return cols;
}

// Columns that have no default and are NOT NULL: an insert that leaves them out fails.
std::vector<std::string> RequiredColumns(pqxx::work& tx, const std::string& relation) {
  pqxx::result r = tx.exec_params(
      "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 "
      "AND NOT a.attisdropped AND a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' "
      "AND a.attgenerated = ''",
      relation);
  std::vector<std::string> names;
  for (const auto& row : r) names.push_back(row[0].as<std::string>());
  return names;
}

// True if `column` alone carries a unique index (a primary key or a unique constraint), which
// ON CONFLICT (column) needs.
bool HasUniqueIndex(pqxx::work& tx, const std::string& relation, const std::string& column) {
  pqxx::result r = tx.exec_params(
      "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
      "AND a.attnum = i.indkey[0] WHERE i.indrelid = to_regclass($1) AND i.indisunique "
      "AND i.indnatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = $2",
      relation, column);
  return !r.empty();
}

// Refuses a table whose columns differ from `want` (missing, wrong type, or an extra column an
// insert could not leave out), or whose first column is not unique.
Status CheckShape(pqxx::work& tx, const std::string& display, const std::string& relation,
                  const std::vector<Column>& want) {
  std::vector<Column> have = Columns(tx, relation);
  std::string expected;
  for (const Column& w : want) expected += (expected.empty() ? "" : ", ") + w.name + " " + w.type;
  auto mismatch = [&](const std::string& what) {
    return Status::FailedPrecondition("table " + display + " has the wrong shape: " + what +
                                      " (expected " + expected +
                                      "; drop it, or point --table elsewhere)");
  };
  for (const Column& w : want) {
    auto it =
        std::find_if(have.begin(), have.end(), [&](const Column& h) { return h.name == w.name; });
    if (it == have.end()) return mismatch("column " + w.name + " is missing");
    if (it->type != w.type)
      return mismatch("column " + w.name + " is " + it->type + ", not " + w.type);
  }
  for (const std::string& name : RequiredColumns(tx, relation)) {
    bool known =
        std::any_of(want.begin(), want.end(), [&](const Column& w) { return w.name == name; });
    if (!known) return mismatch("extra column " + name + " is NOT NULL without a default");
  }
  if (!HasUniqueIndex(tx, relation, want[0].name))
    return mismatch("column " + want[0].name + " is not its primary key");
  return Status::OK();
}

}  // namespace

Status PgStore::EnsureSchema() {
  const std::string value_type(ValueTypeSqlName(options_.value_type));
  try {
    pqxx::work tx(conn_->c);
    // Concurrent sinks may race to create the same table: IF NOT EXISTS, then check the shape.
    tx.exec("CREATE TABLE IF NOT EXISTS " + table_sql_ + " (key text PRIMARY KEY, value " +
            value_type + ", version bigint, seq bigint, updated_at timestamptz)");
    tx.exec(std::string("CREATE TABLE IF NOT EXISTS ") + kPositionsTable +
            " (sink text PRIMARY KEY, seq bigint NOT NULL)");
    if (!audit_sql_.empty())
      tx.exec("CREATE TABLE IF NOT EXISTS " + audit_sql_ + " (seq bigint PRIMARY KEY, key text)");
    RDB_RETURN_IF_ERROR(CheckShape(tx, options_.table, table_sql_,
                                   {{"key", "text"},
                                    {"value", value_type},
                                    {"version", "bigint"},
                                    {"seq", "bigint"},
                                    {"updated_at", "timestamp with time zone"}}));
    RDB_RETURN_IF_ERROR(
        CheckShape(tx, kPositionsTable, kPositionsTable, {{"sink", "text"}, {"seq", "bigint"}}));
    if (!audit_sql_.empty())
      RDB_RETURN_IF_ERROR(
          CheckShape(tx, options_.audit_table, audit_sql_, {{"seq", "bigint"}, {"key", "text"}}));
    tx.exec_params(std::string("INSERT INTO ") + kPositionsTable +
                       " (sink, seq) VALUES ($1, 0) ON CONFLICT (sink) DO NOTHING",
                   options_.sink_name);
    tx.commit();
    return Status::OK();
  } catch (const pqxx::broken_connection& e) {
    return Status::Unavailable("PostgreSQL connection lost: " + OneLine(e.what()));
  } catch (const std::exception& e) {
    return Status::FailedPrecondition("cannot set up table " + options_.table + ": " +
                                      OneLine(e.what()));
  }
}

Status PgStore::Prepare() {
  std::string cast = "::" + std::string(ValueTypeSqlName(options_.value_type));
  try {
    conn_->c.prepare(
        "rdb_upsert",
        "INSERT INTO " + table_sql_ +
            " AS cur (key, value, version, seq, updated_at) VALUES ($1, $2" + cast +
            ", $3, $4, to_timestamp($5::bigint / 1000.0)) ON CONFLICT (key) DO UPDATE "
            "SET value = EXCLUDED.value, version = EXCLUDED.version, seq = EXCLUDED.seq, "
            "updated_at = EXCLUDED.updated_at WHERE cur.seq < EXCLUDED.seq");
    conn_->c.prepare("rdb_delete", "DELETE FROM " + table_sql_ + " WHERE key = $1 AND seq < $2");
    // Compare-and-set: a second sink with the same name would move the row under us.
    conn_->c.prepare("rdb_position", std::string("UPDATE ") + kPositionsTable +
                                         " SET seq = $3 WHERE sink = $1 AND seq = $2");
    if (!audit_sql_.empty())
      conn_->c.prepare("rdb_audit", "INSERT INTO " + audit_sql_ + " (seq, key) VALUES ($1, $2)");
    return Status::OK();
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot prepare statements: " + OneLine(e.what()));
  }
}

Result<uint64_t> PgStore::LoadPosition() {
  try {
    pqxx::work tx(conn_->c);
    pqxx::result r = tx.exec_params(
        std::string("SELECT seq FROM ") + kPositionsTable + " WHERE sink = $1", options_.sink_name);
    tx.commit();
    if (r.empty()) return uint64_t{0};
    return r[0][0].as<uint64_t>();
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot read the position of sink " + options_.sink_name + ": " +
                               OneLine(e.what()));
  }
}

Status PgStore::Reconnect() {
  RDB_RETURN_IF_ERROR(Connect());
  RDB_RETURN_IF_ERROR(Prepare());
  RDB_ASSIGN_OR_RETURN(position_, LoadPosition());
  return Status::OK();
}

void PgStore::ApplyRange(const Batch& batch, size_t begin, size_t end, uint64_t position,
                         size_t* failed) {
  pqxx::work tx(conn_->c);
  // First, so that the position row is locked for the whole transaction.
  pqxx::result moved = tx.exec_prepared("rdb_position", options_.sink_name, position_, position);
  if (moved.affected_rows() != 1)
    throw PositionMoved("the position of sink " + options_.sink_name + " is no longer " +
                        std::to_string(position_) +
                        ": is another sink running with the same --name?");
  for (size_t i = begin; i < end; i++) {
    const client::Change& c = batch.changes[i];
    try {
      if (c.op == client::ChangeOp::kDelete) {
        tx.exec_prepared("rdb_delete", c.key, c.seq);
      } else if (options_.value_type == ValueType::kBytea) {
        tx.exec_prepared("rdb_upsert", c.key, Binary(c.after.value_or("")), c.version, c.seq,
                         c.timestamp_ms);
      } else {
        tx.exec_prepared("rdb_upsert", c.key, c.after.value_or(""), c.version, c.seq,
                         c.timestamp_ms);
      }
    } catch (const pqxx::data_exception&) {
      *failed = i;
      throw;
    }
    if (!audit_sql_.empty()) tx.exec_prepared("rdb_audit", c.seq, c.key);
  }
  tx.commit();
}

Status PgStore::Apply(const Batch& batch, ApplyError* error) {
  const auto& changes = batch.changes;
  const size_t n = changes.size();
  size_t begin = 0;
  while (begin < n && changes[begin].seq <= position_) begin++;
  // Text columns cannot hold invalid UTF-8 or NUL (and libpq would cut a parameter at a NUL).
  size_t bad = n;
  for (size_t i = begin; i < n && bad == n; i++) {
    const client::Change& c = changes[i];
    bool fits = FitsText(c.key);
    if (fits && c.op != client::ChangeOp::kDelete && options_.value_type != ValueType::kBytea)
      fits = FitsText(c.after.value_or(""));
    if (!fits) bad = i;
  }
  std::string why;
  try {
    if (bad == n) {
      uint64_t target = std::max(position_, batch.position);
      if (begin == n && target == position_) return Status::OK();
      size_t failed = n;
      try {
        ApplyRange(batch, begin, n, target, &failed);
        position_ = target;
        return Status::OK();
      } catch (const pqxx::data_exception& e) {
        if (failed == n) throw;
        bad = failed;
        why = OneLine(e.what());
      }
    } else {
      why = FitsText(changes[bad].key) ? "payload is not valid UTF-8 text (or holds a NUL byte)"
                                       : "key is not valid UTF-8 text (or holds a NUL byte)";
    }
    // Stop at `bad`: commit everything before it on its own, so the position stands just before.
    if (bad > begin) {
      size_t failed = n;
      ApplyRange(batch, begin, bad, changes[bad - 1].seq, &failed);
      position_ = changes[bad - 1].seq;
    }
  } catch (const pqxx::broken_connection& e) {
    return Status::Unavailable("PostgreSQL connection lost: " + OneLine(e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    return Status::Unavailable("commit outcome unknown: " + OneLine(e.what()));
  } catch (const pqxx::unique_violation& e) {
    return Status::FailedPrecondition("audit table " + options_.audit_table +
                                      " refused a change: applied twice? " + OneLine(e.what()));
  } catch (const pqxx::syntax_error& e) {  // SQLSTATE class 42: a dropped table, no privilege
    return Status::FailedPrecondition(OneLine(e.what()));
  } catch (const pqxx::insufficient_privilege& e) {
    return Status::FailedPrecondition(OneLine(e.what()));
  } catch (const pqxx::sql_error& e) {
    // Anything else the server says (shutting down, disk full, a deadlock) may pass: retry.
    return Status::Unavailable(OneLine(e.what()));
  } catch (const PositionMoved& e) {
    return Status::FailedPrecondition(e.what());
  } catch (const std::exception& e) {
    return Status::Unavailable(OneLine(e.what()));
  }
  const client::Change& c = changes[bad];
  if (error) *error = {c.seq, c.key};
  std::string key = FitsText(c.key) ? c.key : "(not UTF-8)";
  return Status::InvalidArgument(
      "change seq " + std::to_string(c.seq) + " (key " + key + ") does not fit " +
      std::string(ValueTypeName(options_.value_type)) + " in table " + options_.table + ": " + why +
      "; stopped before it (position " + std::to_string(position_) + ")");
}

}  // namespace rdb::sink
