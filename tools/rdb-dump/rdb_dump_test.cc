// rdb-dump against a real database: builds one through rdb::Engine (with a small memtable so the
// index has SSTables), runs the rdb-dump binary on it and checks what it prints; then corrupts a
// log segment (FaultEnv::FlipBit) and checks that the bad frame is reported with its offset.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <thread>

#include "engine/engine.h"
#include "io/fault_env.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

test::ProcessResult Dump(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {RDB_DUMP_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  test::ProcessResult r = test::RunProcess(argv);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.signal, 0) << "rdb-dump crashed\n" << r.out << r.err;
  return r;
}

AppendRequest Put(std::string key, std::string type, std::string payload, std::string id = "") {
  AppendRequest req;
  req.key = std::move(key);
  req.events.push_back({EventKind::kPut, std::move(type), std::move(payload)});
  req.idempotency_id = std::move(id);
  return req;
}

class RdbDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.File("data");
    EngineOptions o;
    o.data_dir = data_;
    o.fsync = FsyncPolicy::kNever;
    o.memtable_bytes = 16 << 10;  // the minimum: flushes after a few hundred appends
    auto engine = Engine::Open(o);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    Engine& e = **engine;

    auto a = e.Append(Put("alpha", "Created", "hello-alpha", "req-1"));
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_EQ(a->first_seq, 1u);
    AppendRequest batch;
    batch.key = "beta";
    for (int i = 0; i < 3; i++) {
      batch.events.push_back({EventKind::kPut, "Step", "beta-" + std::to_string(i)});
    }
    auto b = e.Append(batch);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    ASSERT_EQ(b->first_seq, 2u);
    ASSERT_EQ(b->last_seq, 4u);
    auto d = e.Delete("alpha", ExpectedVersion::Exact(1));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ASSERT_EQ(d->first_seq, 5u);
    // Filler until the index has flushed at least one table (in the background).
    for (int i = 0; i < 5000 && e.stats().index.table_count == 0; i++) {
      auto f = e.Append(Put("filler-" + std::to_string(i), "", std::string(100, 'x')));
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      if (i > 200) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ASSERT_GT(e.stats().index.table_count, 0u);
    last_seq_ = e.last_seq();
    ASSERT_TRUE(e.Close().ok());
    segment_ = data_ + "/log/0000000000000001.log";
  }

  std::vector<std::string> TableFiles() {
    std::vector<std::string> out;
    auto names = Env::Posix()->GetChildren(data_ + "/index");
    EXPECT_TRUE(names.ok());
    for (const std::string& n : *names) {
      if (n.ends_with(".sst")) out.push_back(data_ + "/index/" + n);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The offset of the record whose line mentions `needle` in `rdb-dump log --records` output.
  uint64_t RecordOffset(const std::string& needle) {
    test::ProcessResult r = Dump({"log", segment_, "--records"});
    std::regex line("@([0-9]+) [^\n]*" + needle);
    std::smatch m;
    EXPECT_TRUE(std::regex_search(r.out, m, line)) << r.out;
    return m.empty() ? 0 : std::stoull(m[1].str());
  }

  test::TempDir dir_;
  std::string data_;
  std::string segment_;
  uint64_t last_seq_ = 0;
};

TEST_F(RdbDumpTest, DirSummary) {
  test::ProcessResult r = Dump({"dir", data_});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("FORMAT: \"rdeebee data directory, format 1\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SEQUENCER: version 1, reserved "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0000000000000001.log"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seqs 1.." + std::to_string(last_seq_)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CURRENT names MANIFEST-"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("L[0-9]: [0-9]+ tables"))) << r.out;
  EXPECT_NE(r.out.find("status: ok"), std::string::npos) << r.out;
}

TEST_F(RdbDumpTest, LogRecordsAndPayloads) {
  test::ProcessResult r = Dump({"log", segment_, "--payloads"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("header: magic \"RDBLOG\\x00\\x01\" version 1 segment 1 base_seq 1 crc ok"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("@32 frame="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seq=1 v=1 key=\"alpha\" id=\"req-1\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PUT \"Created\" 11B"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("payload(11B)=\"hello-alpha\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seq=2..4 v=1..3 key=\"beta\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seq=5 v=2 key=\"alpha\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("events=[DELETE 0B]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seqs 1.." + std::to_string(last_seq_)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("status: ok"), std::string::npos) << r.out;

  // --from-offset starts at a record boundary.
  const uint64_t beta = RecordOffset("key=\"beta\"");
  r = Dump({"log", segment_, "--records", "--from-offset", std::to_string(beta)});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out.find("key=\"alpha\" id="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("@" + std::to_string(beta) + " "), std::string::npos) << r.out;
}

TEST_F(RdbDumpTest, TablesDecodeThroughTheIndexLayout) {
  std::string all;
  for (const std::string& t : TableFiles()) {
    test::ProcessResult r = Dump({"sst", t, "--entries"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("footer: magic \"RDBTABLE\" version 1 crc ok"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("crc=ok"), std::string::npos) << r.out;
    all += r.out;
  }
  EXPECT_NE(all.find("= latest \"alpha\""), std::string::npos) << all;
  EXPECT_NE(all.find("version=2 DELETE seq=5"), std::string::npos) << all;
  EXPECT_NE(all.find("= stream \"alpha\" v1"), std::string::npos) << all;
  EXPECT_NE(all.find("= stream \"beta\" v3"), std::string::npos) << all;
  EXPECT_NE(all.find("seq=4 log=1:"), std::string::npos) << all;
  EXPECT_NE(all.find("= idem \"alpha\" id \"req-1\""), std::string::npos) << all;
  EXPECT_NE(all.find("first_seq=1 first_version=1 count=1"), std::string::npos) << all;
}

TEST_F(RdbDumpTest, ManifestEditsAndLiveSet) {
  test::ProcessResult r = Dump({"manifest", data_});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("edit @16 ("), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\\+ L0 #[0-9]+ \\([0-9]+\\.sst\\)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("live set: next_file=[0-9]+ last_sequence=[0-9]+ "
                                                  "flushed_seq=[1-9][0-9]*")))
      << r.out;
  EXPECT_NE(r.out.find(".sst "), std::string::npos) << r.out;  // a live table with its key range
  EXPECT_NE(r.out.find("status: ok"), std::string::npos) << r.out;
}

TEST_F(RdbDumpTest, FlippedBitMidLogIsReportedWithItsOffset) {
  const uint64_t beta = RecordOffset("key=\"beta\"");
  ASSERT_GT(beta, 32u);
  FaultEnv fault(Env::Posix());
  ASSERT_TRUE(fault.FlipBit(segment_, beta + 12, 3).ok());

  test::ProcessResult r = Dump({"log", segment_, "--records"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("BAD frame at offset " + std::to_string(beta) + ": checksum mismatch"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("last good seq before it: 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("a valid record follows at offset"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(seq 5): mid-log corruption"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--records --from-offset "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("truncate -s " + std::to_string(beta) + " " + segment_), std::string::npos)
      << r.out;

  r = Dump({"dir", data_});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("BAD: frame at offset " + std::to_string(beta)), std::string::npos) << r.out;
}

TEST_F(RdbDumpTest, FlippedBitInTheLastRecordIsATornTail) {
  test::ProcessResult ok = Dump({"log", segment_, "--records"});
  std::regex line("@([0-9]+) [^\n]*\n(summary)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(ok.out, m, line)) << ok.out;
  const uint64_t last = std::stoull(m[1].str());
  FaultEnv fault(Env::Posix());
  ASSERT_TRUE(fault.FlipBit(segment_, last + 9, 0).ok());

  test::ProcessResult r = Dump({"log", segment_});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("BAD frame at offset " + std::to_string(last)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no valid record follows: a torn tail"), std::string::npos) << r.out;
  // In the last segment the next start repairs it: the directory summary is not damaged.
  r = Dump({"dir", data_});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("torn tail at offset " + std::to_string(last)), std::string::npos) << r.out;
}

// The worked example of docs/formats/log.md, followed by a preallocated zero-filled tail.
TEST_F(RdbDumpTest, DocumentedExampleWithAZeroTail) {
  const std::string hex = std::string("5244424c4f470001") + "01000000" + "0100000000000000" +
                          "0100000000000000" + "9c88f3bd" +                      // header
                          "cbfbe209" + "20000000" + "01" + "01" + "01" + "00" +  // frame
                          "80d095ffbc31" + "026b31" + "00" + "01" + "01" +       // body
                          "0743726561746564" + "077b2261223a317d";
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  ASSERT_EQ(bytes.size(), 72u);
  bytes.append(4096, '\0');
  const std::string path = dir_.File("0000000000000001.log");
  ASSERT_TRUE(WriteFileAtomic(Env::Posix(), path, bytes).ok());
  test::ProcessResult r = Dump({"log", path, "--payloads"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("@32 frame=40B crc=ok epoch=0 seq=1 v=1 key=\"k1\" "
                       "ts=2023-11-14T22:13:20.000Z events=[PUT \"Created\" 7B]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("payload(7B)=\"{\\\"a\\\":1}\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("zero-filled tail: 4096 bytes from offset 72"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("status: ok"), std::string::npos) << r.out;
}

TEST_F(RdbDumpTest, GarbageNeverCrashes) {
  std::string junk;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 5000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    junk.push_back(static_cast<char>(x));
  }
  const std::string path = dir_.File("junk");
  ASSERT_TRUE(WriteFileAtomic(Env::Posix(), path, junk).ok());
  for (const char* verb : {"log", "sst", "manifest"}) {
    test::ProcessResult r = Dump({verb, path});
    EXPECT_EQ(r.exit_code, 1) << verb << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("BAD"), std::string::npos) << verb << "\n" << r.out;
  }
  test::ProcessResult r = Dump({"log", dir_.File("no-such-file")});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  r = Dump({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  r = Dump({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("manifest"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rdb
