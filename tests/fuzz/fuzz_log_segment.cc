// libFuzzer target: a whole event log segment image through the segment header decoder, the frame
// reader (two buffer sizes, which must agree), FindValidFrame / ReadFrameAt, and EventLog::Open's
// recovery (tail repair, mid-log corruption) followed by a full read and a second Open, which must
// find nothing left to repair.
//
// Input: byte 0 picks the mode. Even: the rest is the raw file image. Odd: a structured image the
// harness frames with valid checksums (a header, then records that are either raw bodies or
// encoded LogRecords, then optional zero-filled preallocated space and trailing garbage), so that
// the fuzzer gets past the CRCs.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "log/event_log.h"
#include "log/record.h"
#include "log/segment.h"
#include "tests/fuzz/fuzz_util.h"

namespace rdb {
namespace {

using log_internal::FrameReader;
using log_internal::kSegmentHeaderBytes;

std::string StructuredImage(FuzzedDataProvider* in) {
  log_internal::SegmentHeader header;
  header.number = 1;
  uint64_t seq = in->ConsumeIntegralInRange<uint64_t>(1, 1000);
  header.base_seq = seq;
  if (in->ConsumeProbability<double>() < 0.05) header.version = in->ConsumeIntegral<uint32_t>();
  if (in->ConsumeProbability<double>() < 0.05) header.number = in->ConsumeIntegral<uint8_t>();
  std::string image;
  log_internal::EncodeSegmentHeader(header, &image);
  const int records = in->ConsumeIntegralInRange(0, 12);
  uint64_t version = 1;
  for (int i = 0; i < records && in->remaining_bytes() > 0; i++) {
    std::string body;
    if (in->ConsumeProbability<double>() < 0.2) {
      body = in->ConsumeRandomLengthString(512);
    } else {
      std::vector<std::string> strings;  // keeps the views of `rec` alive
      LogRecord rec;
      rec.first_seq = seq;
      rec.first_version = version;
      rec.epoch = in->ConsumeIntegralInRange<uint64_t>(0, 3);
      rec.timestamp_ms = in->ConsumeIntegral<uint32_t>();
      strings.push_back(in->ConsumeRandomLengthString(16));
      if (strings.back().empty()) strings.back() = "k";
      const int events = in->ConsumeIntegralInRange(1, 4);
      strings.reserve(2 + 2 * events);
      rec.key = strings.back();
      strings.push_back(in->ConsumeRandomLengthString(8));
      rec.idempotency_id = strings.back();
      for (int e = 0; e < events; e++) {
        LogEvent ev;
        ev.kind = in->ConsumeBool() ? EventKind::kPut : EventKind::kDelete;
        strings.push_back(in->ConsumeRandomLengthString(8));
        ev.event_type = strings.back();
        strings.push_back(in->ConsumeRandomLengthString(64));
        ev.payload = strings.back();
        rec.events.push_back(ev);
      }
      EncodeRecordBody(rec, &body);
      // Usually in order; sometimes a step back, which recovery must refuse.
      const uint64_t step = in->ConsumeIntegralInRange<uint64_t>(0, 4);
      seq = rec.last_seq() + (step == 0 ? 0 : step - 1) + (in->ConsumeBool() ? 1 : 0);
      version = rec.last_version() + 1;
    }
    FrameRecord(body, &image);
  }
  // A preallocated (zero-filled) tail, a torn or garbled tail, or bits flipped anywhere.
  if (in->ConsumeBool()) image.append(in->ConsumeIntegralInRange<size_t>(0, 4096), '\0');
  image += in->ConsumeRandomLengthString(64);
  if (in->ConsumeBool()) image.append(in->ConsumeIntegralInRange<size_t>(0, 64), '\0');
  while (in->remaining_bytes() >= 5 && !image.empty()) {
    const size_t at = in->ConsumeIntegralInRange<size_t>(0, image.size() - 1);
    image[at] = static_cast<char>(image[at] ^ (1 << in->ConsumeIntegralInRange(0, 7)));
  }
  return image;
}

struct FrameWalk {
  std::vector<std::pair<uint64_t, std::string>> frames;
  uint64_t end = 0;
  int outcome = 0;  // 0 end, 1 partial, 2 corruption, 3 other error, 4 zeros (end-of-data mark)
  bool operator==(const FrameWalk&) const = default;
};

FrameWalk Walk(const RandomAccessFile& file, uint64_t size, size_t chunk) {
  FrameWalk w;
  FrameReader frames(chunk);
  frames.Reset(&file, kSegmentHeaderBytes);
  while (true) {
    Result<FrameReader::State> st = frames.Peek(size);
    if (!st.ok()) {
      w.outcome = st.status().code() == Code::kCorruption ? 2 : 3;
      break;
    }
    if (*st != FrameReader::State::kFrame) {
      w.outcome = *st == FrameReader::State::kEnd ? 0 : (*st == FrameReader::State::kZeros ? 4 : 1);
      break;
    }
    RDB_CHECK(frames.frame().size() >= log_internal::kFrameHeaderBytes);
    w.frames.emplace_back(frames.frame_offset(), std::string(frames.frame()));
    LogRecord rec;
    (void)DecodeRecordBody(frames.body(), &rec);
    frames.Advance();
  }
  w.end = frames.offset();
  return w;
}

void CheckReaders(const std::string& image) {
  fuzz::StringFile file(image);
  log_internal::SegmentHeader header;
  (void)log_internal::DecodeSegmentHeader(image, "fuzz.log", &header);
  if (image.size() < kSegmentHeaderBytes) return;
  const FrameWalk big = Walk(file, image.size(), log_internal::kReadChunkBytes);
  const FrameWalk small = Walk(file, image.size(), 16);
  RDB_CHECK(big == small);
  RDB_CHECK(big.outcome != 3);
  for (const auto& [offset, frame] : big.frames) {
    std::string again;
    RDB_CHECK(log_internal::ReadFrameAt(file, "fuzz.log", offset, image.size(), &again).ok());
    RDB_CHECK(again == frame);
  }
  if (big.outcome == 4) {
    auto data_end = log_internal::DataEnd(file, big.end, image.size());
    RDB_CHECK(data_end.ok() && *data_end >= big.end && *data_end <= image.size());
  }
  auto found = log_internal::FindValidFrame(file, kSegmentHeaderBytes, image.size(), 0);
  RDB_CHECK(found.ok());
  if (found->has_value()) {
    std::string frame;
    RDB_CHECK(log_internal::ReadFrameAt(file, "", **found, image.size(), &frame).ok());
  }
}

void CheckRecovery(const std::string& image) {
  const std::string dir = fuzz::ScratchDir() + "/log";
  fuzz::ResetDir(dir);
  fuzz::WriteFile(JoinPath(dir, EventLog::SegmentFileName(1)), image);
  LogOptions options;
  options.fsync = FsyncPolicy::kNever;
  LogRecoveryInfo info;
  uint64_t last_seq = 0;
  {
    auto log = EventLog::Open(options, dir, &info);
    if (!log.ok()) {
      const Code c = log.status().code();
      RDB_CHECK(c == Code::kCorruption || c == Code::kNotSupported);
      return;
    }
    last_seq = (*log)->last_seq();
    RDB_CHECK(info.last_seq == last_seq);
    RDB_CHECK((*log)->published_seq() == last_seq);
    auto reader = (*log)->NewReader(0);
    RDB_CHECK(reader.ok());
    ReadRecord r;
    uint64_t prev = 0;
    while (true) {
      Result<bool> more = (*reader)->Next(&r);
      RDB_CHECK(more.ok());  // recovery scanned the only segment: nothing bad is left in it
      if (!*more) break;
      RDB_CHECK(r.record.first_seq > prev);
      prev = r.record.last_seq();
      ReadRecord at;
      RDB_CHECK((*log)->ReadAt(r.position, &at).ok());
      RDB_CHECK(at.record.first_seq == r.record.first_seq);
    }
    RDB_CHECK(prev == last_seq);
    RDB_CHECK((*log)->Close().ok());
  }
  // The repair is complete: a second open finds the same log and nothing to cut.
  LogRecoveryInfo again;
  auto log = EventLog::Open(options, dir, &again);
  RDB_CHECK(log.ok());
  RDB_CHECK(again.truncated_tail_bytes == 0);
  RDB_CHECK((*log)->last_seq() == last_seq);
}

}  // namespace
}  // namespace rdb

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string image;
  if (data[0] % 2 == 0) {
    image.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  } else {
    FuzzedDataProvider in(data + 1, size - 1);
    image = rdb::StructuredImage(&in);
  }
  rdb::CheckReaders(image);
  rdb::CheckRecovery(image);
  return 0;
}
