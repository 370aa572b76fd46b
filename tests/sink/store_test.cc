// PgStore against a real PostgreSQL server (tests/support/postgres_process.h), with hand-made
// changes: table creation and shape checks, upserts and deletes, the position committed with them,
// value types, stopping at a change that does not fit, the audit table, reconnection.
#include "tools/rdb-sink-postgres/store.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "tests/sink/pg_test_base.h"
#include "tests/support/postgres_process.h"

namespace rdb::sink {
namespace {

using client::Change;
using client::ChangeOp;
using test::PostgresProcess;

class StoreTest : public PgTestBase {
 protected:
  StoreOptions Options(ValueType type = ValueType::kText, std::string audit = "") const {
    StoreOptions o;
    o.table = table_;
    o.sink_name = table_;
    o.value_type = type;
    o.audit_table = std::move(audit);
    return o;
  }
  std::unique_ptr<PgStore> Open(const StoreOptions& o) {
    auto store = PgStore::Open(pg->Dsn(), o);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
};

Change Put(uint64_t seq, std::string key, std::string value, uint64_t version = 1) {
  Change c;
  c.seq = seq;
  c.key = std::move(key);
  c.version = version;
  c.op = version == 1 ? ChangeOp::kCreate : ChangeOp::kUpdate;
  c.after = std::move(value);
  c.timestamp_ms = 1700000000000 + seq;
  return c;
}

Change Del(uint64_t seq, std::string key, uint64_t version) {
  Change c;
  c.seq = seq;
  c.key = std::move(key);
  c.version = version;
  c.op = ChangeOp::kDelete;
  c.timestamp_ms = 1700000000000 + seq;
  return c;
}

TEST(FitsTextTest, Utf8Rules) {
  EXPECT_TRUE(FitsText(""));
  EXPECT_TRUE(FitsText("plain ascii"));
  EXPECT_TRUE(FitsText("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(FitsText(std::string("nul\0inside", 10)));
  EXPECT_FALSE(FitsText("\xff"));
  EXPECT_FALSE(FitsText("\xc3"));              // truncated
  EXPECT_FALSE(FitsText("\xc0\xaf"));          // overlong
  EXPECT_FALSE(FitsText("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(FitsText("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(FitsText("\xe2\x82"));          // truncated 3-byte
}

TEST(ValueTypeTest, Parse) {
  EXPECT_EQ(ParseValueType("jsonb").value(), ValueType::kJsonb);
  EXPECT_EQ(ParseValueType("bytea").value(), ValueType::kBytea);
  EXPECT_EQ(ParseValueType("text").value(), ValueType::kText);
  EXPECT_FALSE(ParseValueType("json").ok());
}

TEST_F(StoreTest, CreatesTablesWithTheContractShape) {
  auto store = Open(Options(ValueType::kJsonb, table_ + "_audit"));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->position(), 0u);
  EXPECT_EQ(Sql("SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)"
                " FROM information_schema.columns WHERE table_name = '" +
                table_ + "'"),
            "key text, value jsonb, version bigint, seq bigint, updated_at timestamp with time "
            "zone");
  EXPECT_EQ(Sql("SELECT seq FROM rdeebee_sink_positions WHERE sink = '" + table_ + "'"), "0");
  EXPECT_EQ(Sql("SELECT count(*) FROM " + table_ + "_audit"), "0");
  // Opening again accepts what it created.
  EXPECT_NE(Open(Options(ValueType::kJsonb, table_ + "_audit")), nullptr);
}

TEST_F(StoreTest, RefusesATableOfTheWrongShape) {
  Sql("CREATE TABLE " + table_ +
      " (key text primary key, value integer, version bigint, seq bigint, updated_at "
      "timestamptz)");
  auto store = PgStore::Open(pg->Dsn(), Options());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("column value is integer, not text"), std::string::npos)
      << store.status().message();

  // The same table is right for no value type but integer; a missing column is named too.
  Sql("DROP TABLE " + table_ + "; CREATE TABLE " + table_ +
      " (key text primary key, value text, version bigint)");
  store = PgStore::Open(pg->Dsn(), Options());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("column seq is missing"), std::string::npos)
      << store.status().message();

  // Right columns, but key is not unique: ON CONFLICT (key) could not work.
  Sql("DROP TABLE " + table_ + "; CREATE TABLE " + table_ +
      " (key text, value text, version bigint, seq bigint, updated_at timestamptz)");
  store = PgStore::Open(pg->Dsn(), Options());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("key is not its primary key"), std::string::npos)
      << store.status().message();

  // Extra nullable columns are fine (e.g. a generated column for an index).
  Sql("DROP TABLE " + table_ + "; CREATE TABLE " + table_ +
      " (key text primary key, value text, version bigint, seq bigint, updated_at timestamptz, "
      "note text)");
  EXPECT_NE(Open(Options()), nullptr);
}

TEST_F(StoreTest, BadDsnAndUnreachableDatabaseAreClearErrors) {
  auto store = PgStore::Open("this is not a dsn", Options());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), Code::kUnavailable);
  EXPECT_NE(store.status().message().find("cannot connect to PostgreSQL"), std::string::npos);

  store = PgStore::Open(
      "postgresql://postgres@127.0.0.1:" + std::to_string(test::FreePort()) + "/postgres",
      Options());
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("cannot connect to PostgreSQL"), std::string::npos);
  EXPECT_NE(store.status().message().find("127.0.0.1"), std::string::npos)
      << store.status().message();
}

TEST_F(StoreTest, AppliesUpsertsDeletesAndThePositionTogether) {
  auto store = Open(Options(ValueType::kText, table_ + "_audit"));
  ASSERT_NE(store, nullptr);
  Batch b;
  b.changes = {Put(1, "a", "a1"), Put(2, "b", "b1"), Put(3, "a", "a2", 2), Del(4, "b", 2),
               Put(5, "c", "")};
  b.position = 9;  // a checkpoint past the last change
  ASSERT_TRUE(store->Apply(b).ok());
  EXPECT_EQ(store->position(), 9u);
  EXPECT_EQ(Sql("SELECT key, value, version, seq, (extract(epoch from updated_at) * 1000)::bigint"
                " FROM " +
                table_ + " ORDER BY key"),
            "a|a2|2|3|1700000000003\nc||1|5|1700000000005");
  EXPECT_EQ(Sql("SELECT seq FROM rdeebee_sink_positions WHERE sink = '" + table_ + "'"), "9");
  EXPECT_EQ(Sql("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM " + table_ + "_audit"),
            "1,2,3,4,5");

  // Applying the same batch again changes nothing: everything is at or before the position.
  ASSERT_TRUE(store->Apply(b).ok());
  EXPECT_EQ(Sql("SELECT count(*) FROM " + table_ + "_audit"), "5");

  // A batch overlapping the position applies only what is new; a re-create after a delete works.
  Batch b2;
  b2.changes = {Put(5, "c", ""), Put(10, "b", "b3", 3), Put(11, "c", "c2", 2)};
  b2.position = 11;
  ASSERT_TRUE(store->Apply(b2).ok());
  EXPECT_EQ(
      Sql("SELECT string_agg(key || '=' || value || '@' || seq, ' ' ORDER BY key) FROM " + table_),
      "a=a2@3 b=b3@10 c=c2@11");
  EXPECT_EQ(Sql("SELECT count(*) FROM " + table_ + "_audit"), "7");

  // A position-only batch (a checkpoint while a filter matches nothing) is recorded.
  Batch cp;
  cp.position = 20;
  ASSERT_TRUE(store->Apply(cp).ok());
  EXPECT_EQ(store->position(), 20u);

  // A reopened store resumes from the stored position.
  auto again = Open(Options(ValueType::kText, table_ + "_audit"));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->position(), 20u);
}

TEST_F(StoreTest, UpsertsOnlyMoveForward) {
  auto store = Open(Options());
  ASSERT_NE(store, nullptr);
  Sql("INSERT INTO " + table_ + " VALUES ('k', 'newer', 7, 100, now())");
  Batch b;
  b.changes = {Put(50, "k", "older", 3), Del(51, "k", 4)};
  b.position = 51;
  ASSERT_TRUE(store->Apply(b).ok());
  EXPECT_EQ(Sql("SELECT value || '@' || seq FROM " + table_), "newer@100");
}

TEST_F(StoreTest, PayloadNotFittingJsonbStopsAtItsSeq) {
  auto store = Open(Options(ValueType::kJsonb));
  ASSERT_NE(store, nullptr);
  Batch b;
  b.changes = {Put(1, "a", R"({"n": 1})"), Put(2, "b", "[1, 2]"), Put(3, "c", "{not json"),
               Put(4, "d", "{}")};
  b.position = 4;
  ApplyError err;
  Status s = store->Apply(b, &err);
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_EQ(err.seq, 3u);
  EXPECT_EQ(err.key, "c");
  EXPECT_NE(s.message().find("seq 3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("jsonb"), std::string::npos) << s.message();
  // Everything before it is committed; nothing at or after it.
  EXPECT_EQ(store->position(), 2u);
  EXPECT_EQ(Sql("SELECT seq FROM rdeebee_sink_positions WHERE sink = '" + table_ + "'"), "2");
  EXPECT_EQ(Sql("SELECT string_agg(key || '=' || value::text, ' ' ORDER BY key) FROM " + table_),
            "a={\"n\": 1} b=[1, 2]");
  // Never skipped: trying again stops at the same change.
  s = store->Apply(b, &err);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(err.seq, 3u);
  EXPECT_EQ(store->position(), 2u);

  // An empty payload is not JSON either, even first in a batch.
  Batch e;
  e.changes = {Put(3, "c", "")};
  e.position = 3;
  EXPECT_EQ(store->Apply(e, &err).code(), Code::kInvalidArgument);
  EXPECT_EQ(store->position(), 2u);
}

TEST_F(StoreTest, TextRefusesInvalidUtf8PayloadsAndKeys) {
  auto store = Open(Options());
  ASSERT_NE(store, nullptr);
  Batch b;
  b.changes = {Put(1, "a", "ok"), Put(2, "b", std::string("nul\0byte", 8))};
  b.position = 2;
  ApplyError err;
  Status s = store->Apply(b, &err);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(err.seq, 2u);
  EXPECT_NE(s.message().find("payload"), std::string::npos) << s.message();
  EXPECT_EQ(store->position(), 1u);

  Batch k;
  k.changes = {Put(2, "\xff\xfe", "fine")};
  k.position = 2;
  s = store->Apply(k, &err);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("key is not valid UTF-8"), std::string::npos) << s.message();
  EXPECT_EQ(store->position(), 1u);
}

TEST_F(StoreTest, ByteaHoldsAnyBytesButKeysStayText) {
  auto store = Open(Options(ValueType::kBytea));
  ASSERT_NE(store, nullptr);
  Batch b;
  b.changes = {Put(1, "bin", std::string("\x00\xff\x01", 3)), Put(2, "empty", "")};
  b.position = 2;
  ASSERT_TRUE(store->Apply(b).ok());
  EXPECT_EQ(
      Sql("SELECT string_agg(key || '=' || encode(value, 'hex'), ' ' ORDER BY key) FROM " + table_),
      "bin=00ff01 empty=");
  Batch k;
  k.changes = {Put(3, std::string("k\0", 2), "x")};
  k.position = 3;
  EXPECT_EQ(store->Apply(k).code(), Code::kInvalidArgument);
  EXPECT_EQ(store->position(), 2u);
}

TEST_F(StoreTest, AuditTableCatchesAChangeAppliedTwice) {
  std::string audit = table_ + "_audit";
  auto first = Open(Options(ValueType::kText, audit));
  ASSERT_NE(first, nullptr);
  Batch b;
  b.changes = {Put(1, "a", "x"), Put(2, "b", "y")};
  b.position = 2;
  ASSERT_TRUE(first->Apply(b).ok());
  // A second sink (another name, so its own position) writing into the same audit table.
  StoreOptions o = Options(ValueType::kText, audit);
  o.sink_name = table_ + "_other";
  auto second = Open(o);
  ASSERT_NE(second, nullptr);
  Status s = second->Apply(b);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("applied twice"), std::string::npos) << s.message();
  EXPECT_EQ(second->position(), 0u);
}

TEST_F(StoreTest, RefusesWhenThePositionMovesUnderIt) {
  auto a = Open(Options());
  auto b = Open(Options());  // the same --name
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Batch batch;
  batch.changes = {Put(1, "a", "x")};
  batch.position = 1;
  ASSERT_TRUE(a->Apply(batch).ok());
  Status s = b->Apply(batch);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("another sink"), std::string::npos) << s.message();
}

TEST_F(StoreTest, ReconnectsAndReloadsThePosition) {
  auto store = Open(Options());
  ASSERT_NE(store, nullptr);
  Batch b;
  b.changes = {Put(1, "a", "x")};
  b.position = 1;
  ASSERT_TRUE(store->Apply(b).ok());
  // The server drops every connection but psql's own.
  Sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'client "
      "backend' AND pid <> pg_backend_pid()");
  Batch b2;
  b2.changes = {Put(1, "a", "x"), Put(2, "b", "y")};
  b2.position = 2;
  Status s = store->Apply(b2);
  ASSERT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  ASSERT_TRUE(store->Reconnect().ok());
  EXPECT_EQ(store->position(), 1u);
  ASSERT_TRUE(store->Apply(b2).ok());
  EXPECT_EQ(Sql("SELECT string_agg(key, ',' ORDER BY key) FROM " + table_), "a,b");
}

}  // namespace
}  // namespace rdb::sink
