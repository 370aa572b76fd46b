// rdb-client end to end: the README tour exactly as docs/cli.md shows it, options before/after the
// verb, JSON output, exit codes and error messages, against a real rdb-server process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/server_process.h"
#include "tests/support/subprocess.h"

namespace rdb::test {
namespace {

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>();
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "server log:\n" << server_->log();
    EXPECT_EQ(server_->Stop(), 0);  // SIGTERM -> exit 0
  }

  // rdb-client with SERVER_IP/SERVER_PORT pointing at the test server.
  ProcessResult Cli(std::vector<std::string> args, const std::string& stdin_data = "") {
    args.insert(args.begin(), ClientBinary());
    return RunProcess(args,
                      {{"SERVER_IP", "127.0.0.1"},
                       {"SERVER_PORT", std::to_string(server_->port())},
                       {"TRACE_LEVEL", ""}},
                      stdin_data, 30000);
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(CliTest, ReadmeTour) {
  ProcessResult r = Cli({"-k", "Deep", "-p", "First write", "write"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "seq=1 version=1\n");

  r = Cli({"-k", "Deep", "read"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "First write");  // exact bytes: stdout is not a terminal

  r = Cli({"-k", "Deep", "delete"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "seq=2 version=2\n");

  r = Cli({"-k", "Deep", "read"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("rdb-client: "), std::string::npos) << r.err;

  r = Cli({"-k", "Deep", "history"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1 Deep v1 PUT First write\n2 Deep v2 DELETE\n");
}

TEST_F(CliTest, OptionsBeforeOrAfterTheVerbAndServerFlag) {
  ProcessResult r = RunProcess(
      {ClientBinary(), "write", "-k", "a", "--payload", "x", "--server", server_->address()},
      {{"SERVER_PORT", "1"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"--key", "a", "read", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["payload"], "x");
  r = Cli({"--limit", "1", "-k", "a", "history"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"-k", "a", "history", "--limit", "1", "--backward", "--from-version", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 2), "1 ");
}

TEST_F(CliTest, JsonLinesAndEncodings) {
  ProcessResult r = Cli({"-k", "bin", "-f", "-", "--type", "Blob", "--json", "write"},
                        std::string("\xff\x00\x01", 3));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto w = nlohmann::json::parse(r.out);
  EXPECT_EQ(w["seq"], 1);
  EXPECT_EQ(w["version"], 1);
  r = Cli({"-k", "bin", "-p", "text again", "write"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = Cli({"-k", "bin", "read"});
  EXPECT_EQ(r.out, "text again");
  r = Cli({"-k", "bin", "history", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> events;
  while (std::getline(lines, line)) events.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["payload"], "/wAB");
  EXPECT_EQ(events[0]["payload_encoding"], "base64");
  EXPECT_EQ(events[0]["event_type"], "Blob");
  EXPECT_EQ(events[0]["kind"], "PUT");
  EXPECT_EQ(events[0]["key"], "bin");
  EXPECT_EQ(events[0]["key_encoding"], "utf8");
  EXPECT_GT(events[0]["timestamp_ms"].get<uint64_t>(), 0u);
  EXPECT_EQ(events[1]["payload"], "text again");
  EXPECT_EQ(events[1]["payload_encoding"], "utf8");
  EXPECT_EQ(events[1]["version"], 2);

  r = Cli({"-k", "bin", "delete", "--json"});
  EXPECT_EQ(nlohmann::json::parse(r.out)["version"], 3);
  r = Cli({"status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["last_seq"], 3);
}

TEST_F(CliTest, ExpectedVersionConflictExitsOneWithTheActualVersion) {
  EXPECT_EQ(Cli({"-k", "o", "-p", "1", "--expected-version", "none", "write"}).exit_code, 0);
  ProcessResult r = Cli({"-k", "o", "-p", "2", "--expected-version", "none", "write"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("actual version 1"), std::string::npos) << r.err;
  r = Cli({"-k", "o", "-p", "2", "--expected-version", "5", "write"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("1"), std::string::npos) << r.err;
  r = Cli({"-k", "o", "-p", "2", "--expected-version", "1", "write"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "seq=2 version=2\n");
  EXPECT_EQ(Cli({"-k", "o", "--expected-version", "1", "delete"}).exit_code, 1);
}

TEST_F(CliTest, IdempotentRetryReturnsTheSameSeq) {
  ProcessResult a = Cli({"-k", "i", "-p", "first", "--id", "req-1", "write"});
  ProcessResult other = Cli({"-k", "j", "-p", "x", "write"});
  ProcessResult b = Cli({"-k", "i", "-p", "different", "--id", "req-1", "write"});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, "seq=1 version=1\n");
  EXPECT_EQ(b.out, a.out);
  EXPECT_EQ(Cli({"-k", "i", "read"}).out, "first");
}

TEST_F(CliTest, ScanFromAndLimit) {
  for (int i = 1; i <= 5; i++)
    ASSERT_EQ(Cli({"-k", "s" + std::to_string(i), "-p", "v", "write"}).exit_code, 0);
  ProcessResult r = Cli({"scan", "--from", "2", "--limit", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "2 s2 v1 PUT v\n3 s3 v1 PUT v\n4 s4 v1 PUT v\n");
  r = Cli({"scan"});
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5);
}

TEST_F(CliTest, ExitCodes) {
  // 1: not found.
  EXPECT_EQ(Cli({"-k", "absent", "read"}).exit_code, 1);
  EXPECT_EQ(Cli({"-k", "absent", "delete"}).exit_code, 1);
  EXPECT_EQ(Cli({"-k", "absent", "history"}).exit_code, 1);
  // 2: usage errors.
  EXPECT_EQ(Cli({}).exit_code, 2);
  EXPECT_EQ(Cli({"read"}).exit_code, 2);  // no key
  EXPECT_EQ(Cli({"-k", "a", "-p", "x", "-f", "y", "write"}).exit_code, 2);
  EXPECT_EQ(Cli({"-k", "a", "write"}).exit_code, 2);  // no payload
  EXPECT_EQ(Cli({"-k", "a", "-p", "x", "--expected-version", "soon", "write"}).exit_code, 2);
  EXPECT_EQ(Cli({"scan", "--limit", "10001"}).exit_code, 2);
  EXPECT_EQ(Cli({"-k", "a", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(Cli({"-k", "a", "read", "--backward"}).exit_code, 2);
  // 2: server errors (bad input) with the server's message.
  ProcessResult r = Cli({"-k", "", "-p", "x", "write"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("key is empty"), std::string::npos) << r.err;
  // 2: no server there.
  r = RunProcess({ClientBinary(), "--server", "127.0.0.1:" + std::to_string(FreePort()),
                  "--timeout", "2", "status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unavailable"), std::string::npos) << r.err;
  // 0: --help everywhere.
  EXPECT_EQ(Cli({"--help"}).exit_code, 0);
  r = Cli({"history", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--backward"), std::string::npos);
}

TEST_F(CliTest, EmptyPayloadIsAValue) {
  EXPECT_EQ(Cli({"-k", "e", "-p", "", "write"}).exit_code, 0);
  ProcessResult r = Cli({"-k", "e", "read"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
}

// scan --json | import into a second server: the same keys, versions, kinds, types and payload
// bytes (a non-UTF-8 payload travels as base64, a DELETE as a Delete), one result line per input
// line in order; a refused line is reported and the rest goes on; a malformed line stops there.
TEST_F(CliTest, ImportTakesWhatScanJsonPrints) {
  for (int i = 0; i < 30; i++) {
    ASSERT_EQ(Cli({"-k", "k" + std::to_string(i % 4), "-p", "v" + std::to_string(i), "--type",
                   "T" + std::to_string(i % 3), "write"})
                  .exit_code,
              0);
  }
  ASSERT_EQ(Cli({"-k", "bin", "-f", "-", "write"}, std::string("\x00\xff\x80\x01", 4)).exit_code,
            0);
  ASSERT_EQ(Cli({"-k", "k1", "delete"}).exit_code, 0);
  ASSERT_EQ(Cli({"-k", "k1", "-p", "after delete", "write"}).exit_code, 0);
  ProcessResult dump = Cli({"scan", "--json"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;

  ServerProcess other;
  ASSERT_TRUE(other.Start().ok()) << other.log();
  auto to_other = [&](std::vector<std::string> args, const std::string& in) {
    args.insert(args.begin(), ClientBinary());
    args.push_back("--server");
    args.push_back(other.address());
    return RunProcess(args, {{"TRACE_LEVEL", ""}}, in, 30000);
  };
  ProcessResult imported = to_other({"import"}, dump.out);
  EXPECT_EQ(imported.exit_code, 0) << imported.err;
  std::istringstream lines(imported.out);
  std::string line;
  std::set<uint64_t> seqs;
  while (std::getline(lines, line)) {
    unsigned long long seq = 0, version = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "seq=%llu version=%llu", &seq, &version), 2) << line;
    EXPECT_TRUE(seqs.insert(seq).second) << line;
  }
  EXPECT_EQ(seqs.size(), 33u) << imported.out;

  // The copy scans the same, field by field (seqs and timestamps are the new server's own).
  ProcessResult copy = to_other({"scan", "--json"}, "");
  ASSERT_EQ(copy.exit_code, 0) << copy.err;
  auto events = [](const std::string& out) {
    std::vector<std::string> v;
    std::istringstream in(out);
    std::string l;
    while (std::getline(in, l)) {
      auto j = nlohmann::json::parse(l);
      j.erase("seq");
      j.erase("timestamp_ms");
      v.push_back(j.dump());
    }
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(events(copy.out), events(dump.out));
  ProcessResult bin = to_other({"-k", "bin", "read"}, "");
  EXPECT_EQ(bin.out, std::string("\x00\xff\x80\x01", 4));

  // A conflict is that line's error (exit 1); the lines after it still go in, in order.
  ProcessResult partial =
      to_other({"import", "--json"},
               "{\"key\": \"k0\", \"payload\": \"x\", \"expected_version\": 1}\n"
               "\n"
               "{\"key\": \"n\", \"payload\": \"y\", \"expected_version\": "
               "\"none\"}\n");
  EXPECT_EQ(partial.exit_code, 1) << partial.err;
  EXPECT_NE(partial.err.find("line 1: "), std::string::npos) << partial.err;
  EXPECT_NE(partial.err.find("actual version"), std::string::npos) << partial.err;
  EXPECT_NE(partial.out.find("\"version\": 1}"), std::string::npos) << partial.out;

  // A malformed line stops the import there: what came before it is in, nothing after.
  ProcessResult bad = to_other({"import"},
                               "{\"key\": \"m1\", \"payload\": \"a\"}\n"
                               "{\"key\": \"m2\"}\n"
                               "{\"key\": \"m3\", \"payload\": \"c\"}\n");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("line 2: \"payload\""), std::string::npos) << bad.err;
  EXPECT_EQ(to_other({"-k", "m1", "read"}, "").exit_code, 0);
  EXPECT_EQ(to_other({"-k", "m3", "read"}, "").exit_code, 1);
  EXPECT_EQ(other.Stop(), 0);
}

}  // namespace
}  // namespace rdb::test
