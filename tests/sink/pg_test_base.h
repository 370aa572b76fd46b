// The fixture the sink's tests share: one real PostgreSQL server per test binary
// (tests/support/postgres_process.h), a table named after each test, and psql for checks.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "tests/support/postgres_process.h"

namespace rdb::sink {

class PgTestBase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // scripts/install-deps.sh installs PostgreSQL 15; without it these tests fail, never skip.
    if (!test::PostgresProcess::Available()) return;
    pg = new test::PostgresProcess({"fsync=off"});
    Status s = pg->Start();
    if (!s.ok()) {
      ADD_FAILURE() << s.ToString();
      delete pg;
      pg = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete pg;
    pg = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(test::PostgresProcess::Available())
        << "PostgreSQL 15 binaries not installed (run scripts/install-deps.sh)";
    ASSERT_NE(pg, nullptr);
    // A table of its own per test.
    table_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : table_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  // Runs SQL through psql; returns its output without trailing newlines.
  std::string Sql(const std::string& sql) {
    test::ProcessResult r = pg->Psql(sql);
    EXPECT_EQ(r.exit_code, 0) << sql << ": " << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }

  static inline test::PostgresProcess* pg = nullptr;
  std::string table_;
};

}  // namespace rdb::sink
