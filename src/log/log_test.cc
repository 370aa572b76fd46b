#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "base/coding.h"
#include "base/crc32c.h"
#include "io/fault_env.h"
#include "log/event_log.h"
#include "log/record.h"
#include "log/segment.h"
#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

using log_internal::kSegmentHeaderBytes;

// ---- record codec ----

LogRecord SampleRecord(uint64_t first_seq, size_t events, std::string_view payload) {
  LogRecord r;
  r.epoch = 3;
  r.first_seq = first_seq;
  r.first_version = 7;
  r.timestamp_ms = 1'700'000'000'123;
  r.key = "user-42";
  r.idempotency_id = "req-1";
  for (size_t i = 0; i < events; i++) {
    // Alternating PUT / DELETE: each PUT after a DELETE creates the key again.
    const bool put = i % 2 == 0;
    r.events.push_back(
        {put ? EventKind::kPut : EventKind::kDelete, put && i > 0, "Changed", payload});
  }
  return r;
}

void ExpectSame(const LogRecord& a, const LogRecord& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.first_seq, b.first_seq);
  EXPECT_EQ(a.first_version, b.first_version);
  EXPECT_EQ(a.timestamp_ms, b.timestamp_ms);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.idempotency_id, b.idempotency_id);
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); i++) {
    EXPECT_EQ(a.events[i].kind, b.events[i].kind);
    EXPECT_EQ(a.events[i].creates, b.events[i].creates);
    EXPECT_EQ(a.events[i].event_type, b.events[i].event_type);
    EXPECT_EQ(a.events[i].payload, b.events[i].payload);
  }
}

TEST(RecordCodec, RoundTripSingleBatchAndEmpty) {
  for (size_t n : {size_t{1}, size_t{3}, kBatchEventsMax}) {
    for (std::string_view payload : {std::string_view("{\"a\":1}"), std::string_view()}) {
      LogRecord in = SampleRecord(100, n, payload);
      std::string body;
      EncodeRecordBody(in, &body);
      LogRecord out;
      ASSERT_TRUE(DecodeRecordBody(body, &out).ok());
      ExpectSame(in, out);
      EXPECT_EQ(out.last_seq(), 100 + n - 1);
    }
  }
  LogRecord bare;  // empty key, id, event type and payload
  bare.first_seq = 1;
  bare.events.push_back({EventKind::kPut, false, "", ""});
  std::string body;
  EncodeRecordBody(bare, &body);
  LogRecord out;
  ASSERT_TRUE(DecodeRecordBody(body, &out).ok());
  ExpectSame(bare, out);
}

TEST(RecordCodec, RejectsEveryTruncationAndTrailingBytes) {
  std::string body;
  EncodeRecordBody(SampleRecord(5, 4, "payload"), &body);
  LogRecord out;
  for (size_t n = 0; n < body.size(); n++) {
    EXPECT_TRUE(DecodeRecordBody(std::string_view(body).substr(0, n), &out).IsCorruption()) << n;
  }
  EXPECT_TRUE(DecodeRecordBody(body + "x", &out).IsCorruption());
}

std::string BodyWith(uint8_t type, uint64_t count, size_t key_bytes, uint8_t kind) {
  std::string b(1, static_cast<char>(type));
  for (int i = 0; i < 4; i++) PutVarint64(&b, 1);
  PutLengthPrefixed(&b, std::string(key_bytes, 'k'));
  PutLengthPrefixed(&b, "");
  PutVarint64(&b, count);
  b.push_back(static_cast<char>(kind));
  PutLengthPrefixed(&b, "t");
  PutLengthPrefixed(&b, "p");
  return b;
}

TEST(RecordCodec, EnforcesLimits) {
  LogRecord out;
  EXPECT_TRUE(DecodeRecordBody(BodyWith(1, 1, 10, 1), &out).ok());
  EXPECT_TRUE(DecodeRecordBody(BodyWith(2, 1, 10, 1), &out).IsCorruption());  // record type
  EXPECT_TRUE(DecodeRecordBody(BodyWith(1, 0, 10, 1), &out).IsCorruption());  // no events
  EXPECT_TRUE(DecodeRecordBody(BodyWith(1, 1001, 10, 1), &out).IsCorruption());
  EXPECT_TRUE(DecodeRecordBody(BodyWith(1, 900, 10, 1), &out).IsCorruption());  // > body
  EXPECT_TRUE(DecodeRecordBody(BodyWith(1, 1, kKeyBytesMax + 1, 1), &out).IsCorruption());
  EXPECT_TRUE(DecodeRecordBody(BodyWith(1, 1, 10, 3), &out).IsCorruption());  // event kind
  ASSERT_TRUE(DecodeRecordBody(BodyWith(1, 1, 10, 0x81), &out).ok());         // a PUT that creates
  EXPECT_TRUE(out.events[0].creates);
  EXPECT_TRUE(DecodeRecordBody(BodyWith(1, 1, 10, 0x82), &out).IsCorruption());  // DELETE + flag
  std::string overflow(1, 1);
  PutVarint64(&overflow, UINT64_MAX);  // first seq: a 2-event batch would wrap
  for (int i = 0; i < 3; i++) PutVarint64(&overflow, 1);
  overflow += std::string("\0\0\x02\x01\0\0\x01\0\0", 9);
  EXPECT_TRUE(DecodeRecordBody(overflow, &out).IsCorruption());
}

TEST(RecordCodec, RandomGarbageNeverCrashes) {
  std::mt19937_64 rng(42);
  std::string valid;
  EncodeRecordBody(SampleRecord(9, 5, "some payload bytes"), &valid);
  LogRecord out;
  for (int i = 0; i < 20000; i++) {
    std::string b = valid;
    if (i % 2) {
      b.resize(rng() % 64);
      for (char& c : b) c = static_cast<char>(rng());
    } else {
      for (int k = 0; k < 3; k++) b[rng() % b.size()] = static_cast<char>(rng());
    }
    Status s = DecodeRecordBody(b, &out);
    EXPECT_TRUE(s.ok() || s.IsCorruption());
  }
}

TEST(Framing, LayoutIsCrcThenLengthThenBody) {
  std::string frame;
  FrameRecord("hello", &frame);
  ASSERT_EQ(frame.size(), 13u);
  EXPECT_EQ(DecodeFixed32(frame.data() + 4), 5u);
  EXPECT_EQ(crc32c::Unmask(DecodeFixed32(frame.data())), crc32c::Value(frame.data() + 4, 9));
  EXPECT_EQ(frame.substr(8), "hello");
}

// ---- event log ----

class EventLogTest : public testing::Test {
 protected:
  std::string Dir() const { return tmp_.path() + "/log"; }
  std::string SegPath(uint64_t n) const { return JoinPath(Dir(), EventLog::SegmentFileName(n)); }

  LogOptions Options(uint64_t segment_bytes_max = 1 << 20,
                     FsyncPolicy fsync = FsyncPolicy::kAlways) {
    LogOptions o;
    o.env = &env_;
    o.segment_bytes_max = segment_bytes_max;
    o.fsync = fsync;
    return o;
  }

  std::unique_ptr<EventLog> OpenLog(const LogOptions& o, LogRecoveryInfo* info = nullptr) {
    auto log = EventLog::Open(o, Dir(), info);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }

  // Appends `records` records of `batch` events each (seqs continue from last_seq()) in calls of
  // `per_call` records, publishing after each call.
  Status Append(EventLog* log, int records, int batch = 1, int per_call = 1,
                size_t payload_bytes = 100, bool sync = true, bool publish = true) {
    std::string payload(payload_bytes, 'p');
    uint64_t seq = log->last_seq() + 1;
    for (int done = 0; done < records;) {
      std::vector<std::string> bodies;
      std::vector<uint64_t> firsts, lasts;
      for (int i = 0; i < per_call && done < records; i++, done++) {
        LogRecord r = SampleRecord(seq, batch, payload);
        bodies.emplace_back();
        EncodeRecordBody(r, &bodies.back());
        firsts.push_back(seq);
        lasts.push_back(r.last_seq());
        seq = r.last_seq() + 1;
      }
      RDB_RETURN_IF_ERROR(log->Append(bodies, firsts, lasts, &positions_));
      if (sync) RDB_RETURN_IF_ERROR(log->SyncForCommit());
      if (publish) log->Publish(lasts.back());
      all_positions_.insert(all_positions_.end(), positions_.begin(), positions_.end());
    }
    return Status::OK();
  }

  // First seqs of every record a new reader from `from` delivers.
  std::vector<uint64_t> ReadFirstSeqs(EventLog* log, uint64_t from, Status* status = nullptr) {
    std::vector<uint64_t> seqs;
    auto reader = log->NewReader(from);
    EXPECT_TRUE(reader.ok());
    ReadRecord rec;
    while (true) {
      Result<bool> more = (*reader)->Next(&rec);
      if (!more.ok()) {
        if (status) *status = more.status();
        break;
      }
      if (!*more) break;
      seqs.push_back(rec.record.first_seq);
    }
    return seqs;
  }

  // One past the last non-zero byte of the file at path.
  uint64_t DataEndOf(const std::string& path) {
    std::string data;
    EXPECT_TRUE(ReadFileToString(Env::Posix(), path, &data).ok());
    while (!data.empty() && data.back() == '\0') data.pop_back();
    return data.size();
  }

  // The end of the last record appended to segment n (per all_positions_), read back from disk.
  uint64_t LogicalEnd(uint64_t n) {
    auto opened = Env::Posix()->NewRandomAccessFile(SegPath(n));
    EXPECT_TRUE(opened.ok());
    std::unique_ptr<RandomAccessFile> file = std::move(opened).value();
    std::optional<LogPosition> last;
    for (const LogPosition& p : all_positions_) {
      if (p.segment == n) last = p;
    }
    if (!last) return kSegmentHeaderBytes;
    char len[4];
    EXPECT_TRUE(file->Read(last->offset + 4, 4, len).ok());
    return last->offset + log_internal::kFrameHeaderBytes + DecodeFixed32(len);
  }

  // Writes bytes at offset of segment n behind the log's back.
  void Scribble(uint64_t n, uint64_t offset, std::string_view bytes) {
    auto f = Env::Posix()->ReopenPositionalFile(SegPath(n));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(offset, bytes).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }

  static std::string Frame(uint64_t seq) {
    std::string body, frame;
    EncodeRecordBody(SampleRecord(seq, 1, "late"), &body);
    FrameRecord(body, &frame);
    return frame;
  }

  static std::vector<uint64_t> Range(uint64_t from, uint64_t to, uint64_t step = 1) {
    std::vector<uint64_t> v;
    for (uint64_t s = from; s <= to; s += step) v.push_back(s);
    return v;
  }

  test::TempDir tmp_;
  FaultEnv env_{Env::Posix()};
  std::vector<LogPosition> positions_;
  std::vector<LogPosition> all_positions_;
};

TEST_F(EventLogTest, AppendReadAtAndReadAcrossRotations) {
  auto log = OpenLog(Options(4096, FsyncPolicy::kNever));
  ASSERT_EQ(log->first_seq(), 0u);
  ASSERT_TRUE(Append(log.get(), 300, 1, 3).ok());
  EXPECT_EQ(log->last_seq(), 300u);
  EXPECT_EQ(log->first_seq(), 1u);
  EXPECT_GT(log->stats().segments, 5u);
  EXPECT_GT(log->stats().bytes_written, 300u * 100);
  ReadRecord rec;
  for (size_t i = 0; i < all_positions_.size(); i++) {
    ASSERT_TRUE(log->ReadAt(all_positions_[i], &rec).ok()) << i;
    EXPECT_EQ(rec.record.first_seq, i + 1);
    EXPECT_EQ(rec.record.events[0].payload, std::string(100, 'p'));
  }
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 300));
  EXPECT_EQ(ReadFirstSeqs(log.get(), 0), Range(1, 300));
  // A record's frame never straddles segments and positions name the right one.
  EXPECT_GT(all_positions_.back().segment, all_positions_.front().segment);
}

TEST_F(EventLogTest, RejectsBadAppends) {
  auto log = OpenLog(Options());
  ASSERT_TRUE(Append(log.get(), 2).ok());
  std::string body;
  EncodeRecordBody(SampleRecord(2, 1, "x"), &body);
  std::vector<std::string> bodies{body};
  std::vector<uint64_t> two{2}, five{5};
  EXPECT_EQ(log->Append(bodies, two, two, &positions_).code(), Code::kInvalidArgument);
  EXPECT_EQ(log->Append(bodies, five, five, &positions_).code(), Code::kInvalidArgument);
  EXPECT_EQ(log->last_seq(), 2u);
}

TEST_F(EventLogTest, ReaderSeeksToMiddleAndIntoBatch) {
  auto log = OpenLog(Options(64 << 10, FsyncPolicy::kNever));
  ASSERT_TRUE(Append(log.get(), 2000, 1, 10, 200).ok());  // seqs 1..2000
  ASSERT_TRUE(Append(log.get(), 10, 10, 1).ok());         // batches 2001..2100
  std::vector<uint64_t> expect = Range(1234, 2000);
  for (uint64_t s = 2001; s <= 2091; s += 10) expect.push_back(s);
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1234), expect);
  EXPECT_EQ(ReadFirstSeqs(log.get(), 2055), Range(2051, 2091, 10));  // starts inside a batch
  EXPECT_EQ(ReadFirstSeqs(log.get(), 2100), Range(2091, 2091));
  EXPECT_TRUE(ReadFirstSeqs(log.get(), 2101).empty());
}

TEST_F(EventLogTest, ReaderTailsPublishedEndAcrossRotation) {
  auto log = OpenLog(Options(2048, FsyncPolicy::kNever));
  auto reader = log->NewReader(1);
  ASSERT_TRUE(reader.ok());
  ReadRecord rec;
  Result<bool> more = (*reader)->Next(&rec);  // empty log
  ASSERT_TRUE(more.ok() && !*more);

  std::string body;
  EncodeRecordBody(SampleRecord(1, 1, std::string(500, 'x')), &body);
  std::vector<std::string> bodies{body};
  std::vector<uint64_t> one{1};
  ASSERT_TRUE(log->Append(bodies, one, one, &positions_).ok());
  more = (*reader)->Next(&rec);  // appended but not published
  ASSERT_TRUE(more.ok() && !*more);
  log->Publish(1);
  uint64_t expect = 1;
  for (int round = 0; round < 20; round++) {  // several rotations
    while (true) {
      more = (*reader)->Next(&rec);
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      if (!*more) break;
      EXPECT_EQ(rec.record.first_seq, expect++);
    }
    ASSERT_TRUE(Append(log.get(), 3, 1, 1, 500).ok());
  }
  while (*(more = (*reader)->Next(&rec))) EXPECT_EQ(rec.record.first_seq, expect++);
  EXPECT_EQ(expect, log->last_seq() + 1);
  EXPECT_GT(log->stats().segments, 5u);
}

TEST_F(EventLogTest, ReopenKeepsEverything) {
  {
    auto log = OpenLog(Options(8192, FsyncPolicy::kNever));
    ASSERT_TRUE(Append(log.get(), 200, 2, 4).ok());
    ASSERT_TRUE(log->Close().ok());
    EXPECT_EQ(log->Append({}, {}, {}, &positions_).code(), Code::kUnavailable);
  }
  LogRecoveryInfo info;
  auto log = OpenLog(Options(8192, FsyncPolicy::kNever), &info);
  EXPECT_EQ(info.last_seq, 400u);
  EXPECT_EQ(info.truncated_tail_bytes, 0u);
  EXPECT_TRUE(info.truncated_tail_file.empty());
  EXPECT_GT(info.segments, 3u);
  EXPECT_EQ(log->last_seq(), 400u);
  EXPECT_EQ(log->published_seq(), 400u);
  EXPECT_EQ(log->first_seq(), 1u);
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 399, 2));
  ASSERT_TRUE(Append(log.get(), 5).ok());
  EXPECT_EQ(ReadFirstSeqs(log.get(), 395),
            (std::vector<uint64_t>{395, 397, 399, 401, 402, 403, 404, 405}));
}

TEST_F(EventLogTest, DropUnsyncedKeepsEverySyncedCommit) {
  auto log = OpenLog(Options(4096));
  ASSERT_TRUE(Append(log.get(), 100, 1, 2).ok());                      // kAlways: every call synced
  ASSERT_TRUE(Append(log.get(), 40, 1, 1, 100, /*sync=*/false).ok());  // rotates, never synced
  env_.DropUnsyncedData();                                             // power cut
  log.reset();
  auto reopened = OpenLog(Options(4096));
  EXPECT_GE(reopened->last_seq(), 100u);  // rotation syncs the sealed segment, so maybe more
  EXPECT_EQ(ReadFirstSeqs(reopened.get(), 1), Range(1, reopened->last_seq()));
}

TEST_F(EventLogTest, SyncedRotationSurvivesPowerCut) {
  auto log = OpenLog(Options(4096));
  ASSERT_TRUE(Append(log.get(), 120, 1, 1).ok());
  env_.DropUnsyncedData();  // every append was synced, the new segments' directory entries too
  log.reset();
  auto reopened = OpenLog(Options(4096));
  EXPECT_EQ(reopened->last_seq(), 120u);
  EXPECT_EQ(ReadFirstSeqs(reopened.get(), 1), Range(1, 120));
}

TEST_F(EventLogTest, TornTailIsRepairedAndReported) {
  int repaired = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    SCOPED_TRACE(seed);
    test::TempDir tmp;
    const std::string seg1 = JoinPath(tmp.path(), EventLog::SegmentFileName(1));
    {
      auto log = EventLog::Open(Options(), tmp.path(), nullptr);
      ASSERT_TRUE(log.ok());
      ASSERT_TRUE(Append(log->get(), 20).ok());
      ASSERT_TRUE(Append(log->get(), 5, 1, 5, 3000, /*sync=*/false).ok());
      env_.TearUnsyncedData(seed);  // a random prefix of the unsynced bytes survives
    }
    LogRecoveryInfo info;
    auto log = EventLog::Open(Options(), tmp.path(), &info);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    const uint64_t last = (*log)->last_seq();
    EXPECT_GE(last, 20u);
    EXPECT_LT(last, 25u);
    if (info.truncated_tail_bytes > 0) {
      repaired++;
      EXPECT_EQ(info.truncated_tail_file, seg1);
    }
    Status st;
    EXPECT_EQ(ReadFirstSeqs(log->get(), 1, &st), Range(1, last));
    EXPECT_TRUE(st.ok()) << st.ToString();
    ASSERT_TRUE(Append(log->get(), 1).ok());
  }
  EXPECT_GT(repaired, 0);
}

TEST_F(EventLogTest, HandTruncatedLastFrameIsRepaired) {
  {
    auto log = OpenLog(Options());
    ASSERT_TRUE(Append(log.get(), 10).ok());
  }
  const uint64_t size = LogicalEnd(1);  // the file is longer: its zero-filled tail
  ASSERT_GT(*env_.GetFileSize(SegPath(1)), size);
  const uint64_t last_frame = size - all_positions_.back().offset;
  ASSERT_TRUE(env_.TruncateFile(SegPath(1), size - 3).ok());
  LogRecoveryInfo info;
  auto log = OpenLog(Options(), &info);
  EXPECT_EQ(info.truncated_tail_bytes, last_frame - 3);
  EXPECT_EQ(info.truncated_tail_file, SegPath(1));
  EXPECT_EQ(log->last_seq(), 9u);
  EXPECT_EQ(*env_.GetFileSize(SegPath(1)), all_positions_.back().offset);
  ASSERT_TRUE(Append(log.get(), 2).ok());  // seq 10 again, then 11
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 11));
}

TEST_F(EventLogTest, TornOrEmptyLastSegmentIsRemoved) {
  {
    auto log = OpenLog(Options());
    ASSERT_TRUE(Append(log.get(), 10).ok());
  }
  // Segment 2 torn inside its header, then a header-only segment, then a zero-length one.
  for (uint64_t len : {uint64_t{17}, uint64_t{kSegmentHeaderBytes}, uint64_t{0}}) {
    SCOPED_TRACE(len);
    std::string header;
    log_internal::EncodeSegmentHeader({1, 2, 11}, &header);
    auto f = env_.NewWritableFile(SegPath(2));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(std::string_view(header).substr(0, len)).ok());
    ASSERT_TRUE((*f)->Close().ok());
    LogRecoveryInfo info;
    auto log = OpenLog(Options(), &info);
    EXPECT_EQ(info.truncated_tail_file, SegPath(2));
    EXPECT_EQ(info.truncated_tail_bytes, len);
    EXPECT_FALSE(env_.FileExists(SegPath(2)));
    EXPECT_EQ(log->last_seq(), 10u);
    EXPECT_EQ(info.segments, 1u);
  }
}

TEST_F(EventLogTest, FlippedBitInSealedSegmentIsReportedByReader) {
  {
    auto log = OpenLog(Options(4096));
    ASSERT_TRUE(Append(log.get(), 100).ok());
  }
  const LogPosition victim = all_positions_[5];
  ASSERT_EQ(victim.segment, 1u);
  ASSERT_TRUE(env_.FlipBit(SegPath(1), victim.offset + 20, 3).ok());
  auto log = OpenLog(Options(4096));  // only the last segment is scanned at open
  Status st;
  std::vector<uint64_t> seqs = ReadFirstSeqs(log.get(), 1, &st);
  EXPECT_EQ(seqs, Range(1, 5));
  ASSERT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find(SegPath(1)), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("offset " + std::to_string(victim.offset)), std::string::npos)
      << st.message();
  ReadRecord rec;
  Status at = log->ReadAt(victim, &rec);
  EXPECT_TRUE(at.IsCorruption());
  EXPECT_NE(at.message().find("offset " + std::to_string(victim.offset)), std::string::npos);
  EXPECT_EQ(ReadFirstSeqs(log.get(), 50).front(), 50u);  // past the damage: still readable
}

TEST_F(EventLogTest, FlippedBitMidLastSegmentFailsOpen) {
  {
    auto log = OpenLog(Options());
    ASSERT_TRUE(Append(log.get(), 50).ok());
  }
  const LogPosition victim = all_positions_[20];
  const uint64_t size = *env_.GetFileSize(SegPath(1));
  ASSERT_TRUE(env_.FlipBit(SegPath(1), victim.offset + 30, 0).ok());
  auto log = EventLog::Open(Options(), Dir(), nullptr);
  ASSERT_FALSE(log.ok());
  const Status& st = log.status();
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find(SegPath(1)), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("offset " + std::to_string(victim.offset)), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("offset " + std::to_string(all_positions_[21].offset)),
            std::string::npos)
      << st.message();
  EXPECT_EQ(*env_.GetFileSize(SegPath(1)), size);  // nothing was truncated
}

TEST_F(EventLogTest, NoSpaceFailsCleanlyAndRecovers) {
  auto log = OpenLog(Options(8192));
  ASSERT_TRUE(Append(log.get(), 30).ok());
  for (uint64_t room : {uint64_t{0}, uint64_t{50}, uint64_t{5000}}) {
    SCOPED_TRACE(room);
    const uint64_t last = log->last_seq();
    env_.SetNoSpaceAfter(room);
    Status s;
    for (int i = 0; i < 10 && s.ok(); i++) s = Append(log.get(), 1, 1, 1, 1000);
    EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
    EXPECT_TRUE(log->Sync().ok());
    EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, log->last_seq()));
    EXPECT_GE(log->last_seq(), last);
    // Nothing of the failed appends is left: past the last record there are only zeros (if any).
    const uint64_t active = log->stats().segments;
    ASSERT_EQ(all_positions_.back().segment, active);
    EXPECT_EQ(DataEndOf(SegPath(active)), LogicalEnd(active));
    env_.ClearNoSpace();
    ASSERT_TRUE(Append(log.get(), 3, 1, 1, 1000).ok());
  }
  const uint64_t last = log->last_seq();
  log.reset();
  LogRecoveryInfo info;
  auto reopened = OpenLog(Options(8192), &info);
  EXPECT_EQ(info.truncated_tail_bytes, 0u);
  EXPECT_EQ(ReadFirstSeqs(reopened.get(), 1), Range(1, last));
}

TEST_F(EventLogTest, SyncErrorIsReturnedAndMakesLogReadOnly) {
  auto log = OpenLog(Options());
  ASSERT_TRUE(Append(log.get(), 3).ok());
  env_.InjectError(FaultEnv::Op::kSync, Status::IoError("fdatasync: Input/output error"));
  Status s = Append(log.get(), 1);
  EXPECT_EQ(s.code(), Code::kIoError) << s.ToString();
  EXPECT_EQ(Append(log.get(), 1).code(), Code::kAborted);
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 3));  // reads still work
  log.reset();
  auto reopened = OpenLog(Options());
  EXPECT_EQ(reopened->last_seq(), 4u);  // the record was written, only its sync failed
  ASSERT_TRUE(Append(reopened.get(), 1).ok());
}

// ---- preallocation: zero-filled tails ----

TEST_F(EventLogTest, PreallocatedSegmentsReadBackAcrossRotations) {
  LogOptions o = Options(64 << 10, FsyncPolicy::kNever);
  o.preallocate_bytes = 16 << 10;
  auto log = OpenLog(o);
  ASSERT_TRUE(Append(log.get(), 1500, 1, 3, 200).ok());
  const uint64_t segments = log->stats().segments;
  ASSERT_GT(segments, 4u);
  for (uint64_t n = 1; n < segments; n++) {
    // Sealed: cut to the last record, no zero tail.
    EXPECT_EQ(*env_.GetFileSize(SegPath(n)), LogicalEnd(n)) << n;
    EXPECT_EQ(DataEndOf(SegPath(n)), LogicalEnd(n)) << n;
  }
  const uint64_t active_size = *env_.GetFileSize(SegPath(segments));
  EXPECT_GT(active_size, LogicalEnd(segments));  // zero-filled ahead...
  EXPECT_LE(active_size, o.segment_bytes_max);   // ...never past the segment limit
  EXPECT_EQ(DataEndOf(SegPath(segments)), LogicalEnd(segments));
  ReadRecord rec;
  for (size_t i = 0; i < all_positions_.size(); i++) {
    ASSERT_TRUE(log->ReadAt(all_positions_[i], &rec).ok()) << i;
    EXPECT_EQ(rec.record.first_seq, i + 1);
  }
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 1500));
  // Past the logical end (inside the zero tail) there is no record.
  EXPECT_TRUE(log->ReadAt({segments, LogicalEnd(segments)}, &rec).IsNotFound());
}

TEST_F(EventLogTest, ReopenContinuesAtTheLogicalEnd) {
  LogOptions o = Options(1 << 20);
  o.preallocate_bytes = 64 << 10;
  {
    auto log = OpenLog(o);
    ASSERT_TRUE(Append(log.get(), 10).ok());
  }
  const uint64_t physical = *env_.GetFileSize(SegPath(1));
  ASSERT_GT(physical, LogicalEnd(1));  // Close keeps the zero tail
  LogRecoveryInfo info;
  auto log = OpenLog(o, &info);
  EXPECT_EQ(info.truncated_tail_bytes, 0u);  // a zero tail is not a torn tail
  EXPECT_EQ(log->last_seq(), 10u);
  const uint64_t end = LogicalEnd(1);
  ASSERT_TRUE(Append(log.get(), 5).ok());
  EXPECT_EQ(all_positions_[10], (LogPosition{1, end}));  // right after record 10
  EXPECT_EQ(*env_.GetFileSize(SegPath(1)), physical);    // written into the zero tail
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 15));
  log.reset();
  auto again = OpenLog(o, &info);
  EXPECT_EQ(info.truncated_tail_bytes, 0u);
  EXPECT_EQ(ReadFirstSeqs(again.get(), 1), Range(1, 15));
}

TEST_F(EventLogTest, PowerCutInsidePreallocatedSpaceKeepsOnlySyncedRecords) {
  LogOptions o = Options(1 << 20);
  o.preallocate_bytes = 256 << 10;
  auto log = OpenLog(o);
  ASSERT_TRUE(Append(log.get(), 20).ok());                             // synced
  ASSERT_TRUE(Append(log.get(), 30, 1, 3, 100, /*sync=*/false).ok());  // overwrite zeros, unsynced
  env_.DropUnsyncedData();                                             // the zeros come back
  EXPECT_EQ(DataEndOf(SegPath(1)), all_positions_[20].offset);
  log.reset();
  LogRecoveryInfo info;
  auto reopened = OpenLog(o, &info);
  EXPECT_EQ(info.truncated_tail_bytes, 0u);
  EXPECT_EQ(reopened->last_seq(), 20u);
  EXPECT_EQ(ReadFirstSeqs(reopened.get(), 1), Range(1, 20));
  ASSERT_TRUE(Append(reopened.get(), 2).ok());
  EXPECT_EQ(ReadFirstSeqs(reopened.get(), 1), Range(1, 22));
}

TEST_F(EventLogTest, TornWritesInsidePreallocatedSpaceAreRepairedNothingInvented) {
  int repaired = 0, clean = 0;
  for (uint64_t seed = 1; seed <= 16; seed++) {
    SCOPED_TRACE(seed);
    test::TempDir tmp;
    LogOptions o = Options(1 << 20, seed % 2 ? FsyncPolicy::kAlways : FsyncPolicy::kNever);
    o.preallocate_bytes = 8 << 10;  // small: the unsynced writes include zero-fills
    {
      auto log = EventLog::Open(o, tmp.path(), nullptr);
      ASSERT_TRUE(log.ok());
      ASSERT_TRUE(Append(log->get(), 20).ok());
      ASSERT_TRUE((*log)->Sync().ok());
      for (int i = 0; i < 6; i++) {
        ASSERT_TRUE(Append(log->get(), 3, 1, 3, 1500, /*sync=*/false).ok());
      }
      env_.TearUnsyncedData(seed);  // a prefix of the unsynced writes, in order, survives
    }
    LogRecoveryInfo info;
    auto log = EventLog::Open(o, tmp.path(), &info);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    const uint64_t last = (*log)->last_seq();
    EXPECT_GE(last, 20u);
    EXPECT_LE(last, 38u);
    (info.truncated_tail_bytes > 0 ? repaired : clean)++;
    // Every record there is one that was written, in order, with its payload.
    auto reader = (*log)->NewReader(1);
    ASSERT_TRUE(reader.ok());
    ReadRecord rec;
    uint64_t expect = 1;
    while (true) {
      Result<bool> more = (*reader)->Next(&rec);
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      if (!*more) break;
      ASSERT_EQ(rec.record.first_seq, expect++);
      ASSERT_EQ(rec.record.events[0].payload.size(), rec.record.first_seq > 20 ? 1500u : 100u);
    }
    EXPECT_EQ(expect, last + 1);
    ASSERT_TRUE(Append(log->get(), 2).ok());
    log->reset();
    auto again = EventLog::Open(o, tmp.path(), &info);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(info.truncated_tail_bytes, 0u);
    EXPECT_EQ((*again)->last_seq(), last + 2);
  }
  EXPECT_GT(repaired, 0);
  EXPECT_GT(clean, 0);
}

TEST_F(EventLogTest, TornNewSegmentWithZeroFillIsRemovedOrRepaired) {
  for (uint64_t seed = 1; seed <= 12; seed++) {
    SCOPED_TRACE(seed);
    test::TempDir tmp;
    LogOptions o = Options(4096, FsyncPolicy::kNever);
    {
      auto log = EventLog::Open(o, tmp.path(), nullptr);
      ASSERT_TRUE(log.ok());
      ASSERT_TRUE(Append(log->get(), 30, 1, 1, 300).ok());  // rotations seal (sync) segments
      ASSERT_GT((*log)->stats().segments, 1u);
      env_.TearUnsyncedData(seed);
    }
    auto log = EventLog::Open(o, tmp.path(), nullptr);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_EQ(ReadFirstSeqs(log->get(), 1), Range(1, (*log)->last_seq()));
  }
}

TEST_F(EventLogTest, GarbageInTheZeroTail) {
  LogOptions o = Options(1 << 20);
  o.preallocate_bytes = 64 << 10;
  {
    auto log = OpenLog(o);
    ASSERT_TRUE(Append(log.get(), 20).ok());
  }
  const uint64_t end = LogicalEnd(1);
  const std::string garbage = "\xff\xfe\xfd\xfc\xfb";
  const std::string good = Frame(21);
  {
    SCOPED_TRACE("garbage, then a valid frame: mid-log corruption");
    Scribble(1, end, garbage);
    Scribble(1, end + 100, good);
    auto log = EventLog::Open(o, Dir(), nullptr);
    ASSERT_FALSE(log.ok());
    EXPECT_TRUE(log.status().IsCorruption());
    EXPECT_NE(log.status().message().find("offset " + std::to_string(end)), std::string::npos)
        << log.status().message();
    EXPECT_NE(log.status().message().find("a valid record follows at offset " +
                                          std::to_string(end + 100)),
              std::string::npos)
        << log.status().message();
  }
  {
    SCOPED_TRACE("a zero header, then a valid frame: mid-log corruption too");
    Scribble(1, end, std::string(garbage.size(), '\0'));
    auto log = EventLog::Open(o, Dir(), nullptr);
    ASSERT_FALSE(log.ok());
    EXPECT_TRUE(log.status().IsCorruption()) << log.status().ToString();
  }
  {
    SCOPED_TRACE("a zero header, then garbage only: a torn tail");
    Scribble(1, end + 100, std::string(good.size(), '\0'));
    Scribble(1, end + 100, garbage);
    LogRecoveryInfo info;
    auto log = OpenLog(o, &info);
    EXPECT_EQ(info.truncated_tail_bytes, 100 + garbage.size());
    EXPECT_EQ(log->last_seq(), 20u);
    EXPECT_EQ(*env_.GetFileSize(SegPath(1)), end);  // cut physically, zero tail included
  }
  {
    SCOPED_TRACE("garbage followed only by zeros: a torn tail");
    ASSERT_TRUE(env_.TruncateFile(SegPath(1), end + 4096).ok());  // a zero tail again
    Scribble(1, end, garbage);
    LogRecoveryInfo info;
    auto log = OpenLog(o, &info);
    EXPECT_EQ(info.truncated_tail_bytes, garbage.size());
    EXPECT_EQ(info.truncated_tail_file, SegPath(1));
    EXPECT_EQ(log->last_seq(), 20u);
    ASSERT_TRUE(Append(log.get(), 1).ok());
    EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 21));
  }
}

TEST_F(EventLogTest, ZeroTailLeftOnASealedSegmentIsTrimmed) {
  LogOptions o = Options(4096);
  {
    auto log = OpenLog(o);
    ASSERT_TRUE(Append(log.get(), 60).ok());
    ASSERT_GE(log->stats().segments, 3u);
  }
  const uint64_t segments = all_positions_.back().segment;
  const uint64_t sealed_end = LogicalEnd(segments - 1);
  // As if a crash had hit between creating the next segment and cutting this one.
  ASSERT_TRUE(env_.TruncateFile(SegPath(segments - 1), sealed_end + 1000).ok());
  {
    LogRecoveryInfo info;
    auto log = OpenLog(o, &info);
    EXPECT_EQ(info.truncated_tail_bytes, 0u);
    EXPECT_EQ(*env_.GetFileSize(SegPath(segments - 1)), sealed_end);
    EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 60));
  }
  // And with an empty last segment after it, the zero-tailed one becomes the active segment.
  ASSERT_TRUE(env_.DeleteFile(SegPath(segments)).ok());
  ASSERT_TRUE(env_.TruncateFile(SegPath(segments - 1), sealed_end + 1000).ok());
  std::string header;
  log_internal::EncodeSegmentHeader({1, segments, 1000}, &header);
  ASSERT_TRUE(WriteFileAtomic(&env_, SegPath(segments), header).ok());
  LogRecoveryInfo info;
  auto log = OpenLog(Options(8192), &info);  // room for one more record in that segment
  EXPECT_EQ(info.truncated_tail_file, SegPath(segments));  // the header-only segment went
  const uint64_t last = log->last_seq();
  ASSERT_TRUE(Append(log.get(), 1).ok());
  EXPECT_EQ(all_positions_.back(), (LogPosition{segments - 1, sealed_end}));
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, last + 1));
}

TEST_F(EventLogTest, NoSpaceForTheZeroFillStillAppendsUntilTrulyFull) {
  LogOptions o = Options(1 << 20);
  o.preallocate_bytes = 8 << 10;
  auto log = OpenLog(o);
  ASSERT_TRUE(Append(log.get(), 1).ok());
  const uint64_t preallocated = *env_.GetFileSize(SegPath(1));
  env_.SetNoSpaceAfter(3000);  // room for about two 1 KiB records, not for an 8 KiB zero-fill
  int appended = 0;
  Status s;
  for (; appended < 100; appended++) {
    s = Append(log.get(), 1, 1, 1, 1000);
    if (!s.ok()) break;
  }
  EXPECT_EQ(s.code(), Code::kNoSpace) << s.ToString();
  // All that fit in the zero-filled space, then a couple without preallocation.
  EXPECT_GT(all_positions_.back().offset + 1000, preallocated);
  EXPECT_GE(appended, 8);
  EXPECT_EQ(DataEndOf(SegPath(1)), LogicalEnd(1));  // nothing of the failed append
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, log->last_seq()));
  const uint64_t last = log->last_seq();
  env_.SetNoSpaceAfter(0);  // not even zero-fill or record: the append fails cleanly
  EXPECT_EQ(Append(log.get(), 1).code(), Code::kNoSpace);
  EXPECT_EQ(log->last_seq(), last);
  env_.ClearNoSpace();
  ASSERT_TRUE(Append(log.get(), 20, 1, 1, 1000).ok());
  EXPECT_GT(*env_.GetFileSize(SegPath(1)), LogicalEnd(1));  // preallocating again
  log.reset();
  LogRecoveryInfo info;
  auto reopened = OpenLog(o, &info);
  EXPECT_EQ(info.truncated_tail_bytes, 0u);
  EXPECT_EQ(ReadFirstSeqs(reopened.get(), 1), Range(1, last + 20));
}

TEST_F(EventLogTest, PreallocationCanBeDisabled) {
  LogOptions o = Options(1 << 20);
  o.preallocate_bytes = 0;
  {
    auto log = OpenLog(o);
    ASSERT_TRUE(Append(log.get(), 10).ok());
  }
  EXPECT_EQ(*env_.GetFileSize(SegPath(1)), LogicalEnd(1));
  auto log = OpenLog(o);
  ASSERT_TRUE(Append(log.get(), 1).ok());
  EXPECT_EQ(*env_.GetFileSize(SegPath(1)), LogicalEnd(1));
  o.preallocate_bytes = kPreallocateBytesMax + 1;
  EXPECT_EQ(EventLog::Open(o, Dir(), nullptr).status().code(), Code::kInvalidArgument);
}

TEST_F(EventLogTest, IncompatibleVersionIsNotSupported) {
  ASSERT_TRUE(env_.CreateDirs(Dir()).ok());
  std::string header;
  log_internal::EncodeSegmentHeader({2, 1, 1}, &header);
  ASSERT_TRUE(WriteFileAtomic(&env_, SegPath(1), header).ok());
  auto log = EventLog::Open(Options(), Dir(), nullptr);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Code::kNotSupported);
  EXPECT_NE(log.status().message().find(SegPath(1)), std::string::npos);
  EXPECT_NE(
      log.status().message().find("incompatible format version 2; this build reads version 1"),
      std::string::npos)
      << log.status().message();
}

TEST_F(EventLogTest, TruncateAfterWithinAndAcrossSegments) {
  auto log = OpenLog(Options(4096));
  ASSERT_TRUE(Append(log.get(), 100, 2, 5).ok());  // records 1-2, 3-4, ..., 199-200
  const uint64_t segments = log->stats().segments;
  // Within the last segment.
  ASSERT_TRUE(log->TruncateAfter(196).ok());
  EXPECT_EQ(log->last_seq(), 196u);
  // A straddling record (193-194) is kept whole.
  ASSERT_TRUE(log->TruncateAfter(193).ok());
  EXPECT_EQ(log->last_seq(), 194u);
  EXPECT_EQ(log->published_seq(), 194u);
  // Across segments: back into the first one.
  ASSERT_TRUE(log->TruncateAfter(10).ok());
  EXPECT_EQ(log->last_seq(), 10u);
  EXPECT_LT(log->stats().segments, segments);
  EXPECT_EQ(log->stats().segments, 1u);
  EXPECT_FALSE(env_.FileExists(SegPath(2)));
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), Range(1, 9, 2));
  // Appends continue with new seqs and rotate again.
  ASSERT_TRUE(Append(log.get(), 60).ok());
  EXPECT_EQ(log->last_seq(), 70u);
  std::vector<uint64_t> expect = Range(1, 9, 2);
  for (uint64_t s = 11; s <= 70; s++) expect.push_back(s);
  EXPECT_EQ(ReadFirstSeqs(log.get(), 1), expect);
  // Durable: a power cut right now keeps the truncation and what followed (kAlways).
  env_.DropUnsyncedData();
  log.reset();
  auto reopened = OpenLog(Options(4096));
  EXPECT_EQ(reopened->last_seq(), 70u);
  EXPECT_EQ(ReadFirstSeqs(reopened.get(), 1), expect);
  // Below the whole log: everything goes, seqs may start anew.
  ASSERT_TRUE(reopened->TruncateAfter(0).ok());
  EXPECT_EQ(reopened->last_seq(), 0u);
  EXPECT_EQ(reopened->first_seq(), 0u);
  ASSERT_TRUE(Append(reopened.get(), 2).ok());
  EXPECT_EQ(ReadFirstSeqs(reopened.get(), 1), Range(1, 2));
}

TEST_F(EventLogTest, ReaderReseeksAfterTruncateAfter) {
  auto log = OpenLog(Options(4096, FsyncPolicy::kNever));
  ASSERT_TRUE(Append(log.get(), 50).ok());
  auto reader = log->NewReader(1);
  ASSERT_TRUE(reader.ok());
  ReadRecord rec;
  for (uint64_t s = 1; s <= 20; s++) {
    ASSERT_TRUE(*(*reader)->Next(&rec));
    ASSERT_EQ(rec.record.first_seq, s);
  }
  ASSERT_TRUE(log->TruncateAfter(25).ok());
  ASSERT_TRUE(Append(log.get(), 5, 1, 1, 7).ok());  // new records 26..30, a different size
  std::vector<uint64_t> seqs;
  while (*(*reader)->Next(&rec)) {
    seqs.push_back(rec.record.first_seq);
    EXPECT_EQ(rec.record.events[0].payload.size(), rec.record.first_seq > 25 ? 7u : 100u);
  }
  EXPECT_EQ(seqs, Range(21, 30));
}

TEST_F(EventLogTest, ConcurrentTailingReaderSeesEveryRecordOnce) {
  auto log = OpenLog(Options(16 << 10, FsyncPolicy::kNever));
  std::atomic<bool> done{false};
  Status write_status;
  std::thread writer([&] {
    for (int i = 0; i < 300 && write_status.ok(); i++)
      write_status = Append(log.get(), 5, 1, 5, 200);
    done.store(true);
  });
  auto reader = log->NewReader(1);
  ASSERT_TRUE(reader.ok());
  ReadRecord rec;
  uint64_t expect = 1;
  while (true) {
    Result<bool> more = (*reader)->Next(&rec);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (*more) {
      ASSERT_EQ(rec.record.first_seq, expect++);
      ASSERT_LE(rec.record.last_seq(), log->published_seq());
    } else if (done.load() && (expect > 1500 || !write_status.ok())) {
      break;
    } else {
      std::this_thread::yield();
    }
  }
  writer.join();
  EXPECT_TRUE(write_status.ok()) << write_status.ToString();
  EXPECT_EQ(expect, 1501u);
}

TEST_F(EventLogTest, ConcurrentReaderAndTruncateOfUnpublishedSuffix) {
  auto log = OpenLog(Options(8 << 10, FsyncPolicy::kNever));
  std::atomic<bool> done{false};
  Status write_status;
  std::thread writer([&] {
    for (int i = 0; i < 100 && write_status.ok(); i++) {
      write_status = Append(log.get(), 5, 1, 5, 300);
      const uint64_t keep = log->last_seq();
      if (write_status.ok()) write_status = Append(log.get(), 3, 1, 3, 300, false, false);
      if (write_status.ok()) write_status = log->TruncateAfter(keep);  // an uncommitted suffix
    }
    done.store(true);
  });
  auto reader = log->NewReader(1);
  ASSERT_TRUE(reader.ok());
  ReadRecord rec;
  uint64_t expect = 1;
  while (true) {
    Result<bool> more = (*reader)->Next(&rec);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (*more) {
      ASSERT_EQ(rec.record.first_seq, expect++);
    } else if (done.load() && (expect > 500 || !write_status.ok())) {
      break;
    } else {
      std::this_thread::yield();
    }
  }
  writer.join();
  EXPECT_TRUE(write_status.ok()) << write_status.ToString();
  EXPECT_EQ(expect, 501u);
}

TEST_F(EventLogTest, IntervalPolicySyncsInBackground) {
  LogOptions o = Options(1 << 20, FsyncPolicy::kInterval);
  o.fsync_interval_ms = 5;
  auto log = OpenLog(o);
  ASSERT_TRUE(Append(log.get(), 10).ok());  // SyncForCommit is a no-op here
  for (int i = 0; i < 400 && log->stats().syncs == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GT(log->stats().syncs, 0u);
  env_.DropUnsyncedData();
  ASSERT_TRUE(log->Close().ok());
  log.reset();
  auto reopened = OpenLog(Options());
  EXPECT_EQ(reopened->last_seq(), 10u);
}

TEST_F(EventLogTest, NeverPolicyDoesNotSync) {
  auto log = OpenLog(Options(1 << 20, FsyncPolicy::kNever));
  ASSERT_TRUE(Append(log.get(), 10).ok());
  EXPECT_EQ(log->stats().syncs, 0u);
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->stats().syncs, 1u);
  ASSERT_TRUE(log->Sync().ok());  // nothing new: no fsync
  EXPECT_EQ(log->stats().syncs, 1u);
}

}  // namespace
}  // namespace rdb
