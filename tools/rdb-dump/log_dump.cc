// rdb-dump log: decodes an event log segment (docs/formats/log.md) the way recovery reads it, and
// on a bad frame says where, why, and whether valid records follow (torn tail or mid-log
// corruption), so that an operator can follow the procedure in log.md.
#include <time.h>

#include <cinttypes>
#include <cstdio>

#include "base/coding.h"
#include "log/record.h"
#include "log/segment.h"
#include "tools/rdb-dump/dump.h"

namespace rdb::dump {
namespace {

using log_internal::FrameReader;
using log_internal::kFrameHeaderBytes;
using log_internal::kSegmentHeaderBytes;

constexpr size_t kEventsPerLineMax = 8;

std::string Timestamp(uint64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  if (ms / 1000 > 253402300799ull || gmtime_r(&secs, &tm) == nullptr) return std::to_string(ms);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(ms % 1000));
  return buf;
}

const char* KindName(EventKind k) { return k == EventKind::kPut ? "PUT" : "DELETE"; }

std::string Range(uint64_t first, uint64_t last) {
  return first == last ? std::to_string(first)
                       : std::to_string(first) + ".." + std::to_string(last);
}

// "corrupt record at offset N: reason" -> "reason".
std::string Reason(const std::string& message) {
  constexpr std::string_view kPrefix = "corrupt record at offset ";
  size_t at = message.find(kPrefix);
  if (at == std::string::npos) return message;
  size_t colon = message.find(": ", at);
  return colon == std::string::npos ? message : message.substr(colon + 2);
}

void PrintRecord(const LogRecord& rec, uint64_t offset, size_t frame_bytes, const LogDumpOptions& o,
                 std::ostream& out) {
  out << "@" << offset << " frame=" << frame_bytes << "B crc=ok epoch=" << rec.epoch
      << " seq=" << Range(rec.first_seq, rec.last_seq())
      << " v=" << Range(rec.first_version, rec.last_version()) << " key=" << Quote(rec.key, 128);
  if (!rec.idempotency_id.empty()) out << " id=" << Quote(rec.idempotency_id, 128);
  out << " ts=" << Timestamp(rec.timestamp_ms) << " events=[";
  for (size_t i = 0; i < rec.events.size() && i < kEventsPerLineMax; i++) {
    const LogEvent& e = rec.events[i];
    if (i > 0) out << ", ";
    out << KindName(e.kind);
    if (!e.event_type.empty()) out << " " << Quote(e.event_type, 64);
    out << " " << e.payload.size() << "B";
  }
  if (rec.events.size() > kEventsPerLineMax) {
    out << ", +" << rec.events.size() - kEventsPerLineMax << " more";
  }
  out << "]\n";
  if (!o.payloads) return;
  for (size_t i = 0; i < rec.events.size(); i++) {
    const LogEvent& e = rec.events[i];
    out << "    seq=" << rec.first_seq + i << " v=" << rec.first_version + i << " "
        << KindName(e.kind) << " type=" << Quote(e.event_type, 128) << " payload("
        << e.payload.size() << "B)=" << Quote(e.payload, o.payload_bytes) << "\n";
  }
}

// Why the bytes at offset are not a whole frame (FrameReader said kPartial).
std::string DescribePartial(const RandomAccessFile& file, uint64_t offset, uint64_t size) {
  const uint64_t remain = size - offset;
  if (remain < kFrameHeaderBytes) {
    return "truncated frame header (" + std::to_string(remain) + " of " +
           std::to_string(kFrameHeaderBytes) + " bytes)";
  }
  char buf[kFrameHeaderBytes];
  Result<std::string_view> got = file.Read(offset, sizeof(buf), buf);
  if (!got.ok() || got->size() < kFrameHeaderBytes) return "truncated record";
  return "truncated record: body length " + std::to_string(DecodeFixed32(got->data() + 4)) +
         ", only " + std::to_string(remain - kFrameHeaderBytes) + " bytes follow";
}

void PrintHeader(std::string_view raw, const SegmentScan& r, std::ostream& out) {
  out << "header: ";
  if (r.header_ok) {
    out << "magic " << Quote(raw.substr(0, 8)) << " version " << r.version << " segment "
        << r.number << " base_seq " << r.base_seq << " crc ok\n";
    return;
  }
  out << "BAD: " << r.header_error << "\n";
  if (raw.size() >= 12) {
    out << "  raw: magic " << Quote(raw.substr(0, 8)) << " version "
        << DecodeFixed32(raw.data() + 8);
    if (raw.size() >= kSegmentHeaderBytes) {
      out << " segment " << DecodeFixed64(raw.data() + 12) << " base_seq "
          << DecodeFixed64(raw.data() + 20);
    }
    out << "\n";
  }
}

}  // namespace

SegmentScan ScanSegment(Env* env, const std::string& path, const LogDumpOptions& o,
                        std::ostream* out) {
  SegmentScan r;
  Result<std::unique_ptr<RandomAccessFile>> opened = env->NewRandomAccessFile(path);
  if (!opened.ok()) {
    r.io_error = opened.status().ToString();
    return r;
  }
  const RandomAccessFile& file = **opened;
  Result<uint64_t> size = file.Size();
  if (!size.ok()) {
    r.io_error = size.status().ToString();
    return r;
  }
  r.file_size = *size;
  if (out) *out << "segment " << path << ": " << Bytes(r.file_size) << "\n";

  char hbuf[kSegmentHeaderBytes];
  Result<std::string_view> raw = file.Read(0, sizeof(hbuf), hbuf);
  if (!raw.ok()) {
    r.io_error = raw.status().ToString();
    return r;
  }
  log_internal::SegmentHeader header;
  Status hs = log_internal::DecodeSegmentHeader(*raw, path, &header);
  r.header_ok = hs.ok();
  if (hs.ok()) {
    r.version = header.version;
    r.number = header.number;
    r.base_seq = header.base_seq;
  } else {
    r.header_error = hs.message();
  }
  if (out) PrintHeader(*raw, r, *out);

  uint64_t start = o.from_offset == 0 ? kSegmentHeaderBytes : o.from_offset;
  if (start < kSegmentHeaderBytes) {
    if (out) *out << "note: --from-offset " << start << " is inside the header; starting at 32\n";
    start = kSegmentHeaderBytes;
  }
  r.end_offset = start;
  if (start > r.file_size) {
    if (out) *out << "note: offset " << start << " is past the end of the file\n";
    return r;
  }
  if (out && (o.records || o.payloads)) *out << "records:\n";

  FrameReader frames;
  frames.Reset(&file, start);
  LogRecord rec;
  while (true) {
    Result<FrameReader::State> st = frames.Peek(r.file_size);
    if (!st.ok()) {
      if (st.status().code() != Code::kCorruption) {
        r.io_error = st.status().ToString();
        break;
      }
      r.bad_offset = frames.offset();
      r.bad_reason = Reason(st.status().message());
      break;
    }
    if (*st == FrameReader::State::kEnd) break;
    if (*st == FrameReader::State::kZeros) {
      // The end-of-data mark of a preallocated segment, if only zeros follow (recovery's rule).
      Result<uint64_t> data_end = log_internal::DataEnd(file, frames.offset(), r.file_size);
      if (!data_end.ok()) {
        r.io_error = data_end.status().ToString();
      } else if (*data_end == frames.offset()) {
        r.zero_tail_bytes = r.file_size - frames.offset();
      } else {
        r.bad_offset = frames.offset();
        r.bad_reason = "zero frame header followed by non-zero bytes (up to offset " +
                       std::to_string(*data_end) + ")";
      }
      break;
    }
    if (*st == FrameReader::State::kPartial) {
      r.bad_offset = frames.offset();
      r.bad_reason = DescribePartial(file, frames.offset(), r.file_size);
      break;
    }
    const uint64_t at = frames.frame_offset();
    Status s = DecodeRecordBody(frames.body(), &rec);
    if (!s.ok()) {
      r.bad_offset = at;
      r.bad_reason = "checksum ok but the body does not decode: " + s.message();
      break;
    }
    // Recovery's order rules: the first record carries the base seq; seqs only increase.
    if (at == kSegmentHeaderBytes && r.header_ok && rec.first_seq != r.base_seq) {
      r.bad_offset = at;
      r.bad_reason = "first seq " + std::to_string(rec.first_seq) + " differs from the base seq " +
                     std::to_string(r.base_seq);
      break;
    }
    if (r.records > 0 && rec.first_seq <= r.last_seq) {
      r.bad_offset = at;
      r.bad_reason = "seq " + std::to_string(rec.first_seq) +
                     " out of order (the previous record ends at seq " +
                     std::to_string(r.last_seq) + ")";
      break;
    }
    if (out && (o.records || o.payloads)) PrintRecord(rec, at, frames.frame().size(), o, *out);
    if (r.records == 0) r.first_seq = rec.first_seq;
    r.records++;
    r.events += rec.events.size();
    r.last_seq = rec.last_seq();
    frames.Advance();
  }
  r.end_offset = frames.offset();
  if (r.bad_offset) {
    Result<std::optional<uint64_t>> next =
        log_internal::FindValidFrame(file, *r.bad_offset + 1, r.file_size, r.last_seq);
    if (!next.ok()) {
      r.io_error = next.status().ToString();
    } else if (next->has_value()) {
      r.next_valid_offset = **next;
      std::string frame;
      LogRecord later;
      if (log_internal::ReadFrameAt(file, path, **next, r.file_size, &frame).ok() &&
          DecodeRecordBody(std::string_view(frame).substr(kFrameHeaderBytes), &later).ok()) {
        r.next_valid_seq = later.first_seq;
      }
    }
  }
  return r;
}

int DumpLog(const std::string& path, const LogDumpOptions& o, std::ostream& out) {
  if (!Env::Posix()->FileExists(path)) {
    out << "error: " << path << " does not exist\n";
    return kExitError;
  }
  SegmentScan r = ScanSegment(Env::Posix(), path, o, &out);
  out << "summary: " << r.records << " records (" << r.events << " events)";
  if (r.records > 0) out << ", seqs " << Range(r.first_seq, r.last_seq);
  out << ", good bytes up to offset " << r.end_offset << " of " << r.file_size << "\n";
  if (r.zero_tail_bytes > 0) {
    out << "zero-filled tail: " << r.zero_tail_bytes << " bytes from offset " << r.end_offset
        << " (preallocated space: the end of the data, not damage)\n";
  }
  if (!r.io_error.empty()) {
    out << "error: " << r.io_error << "\n";
    return kExitError;
  }
  if (r.bad_offset) {
    const uint64_t at = *r.bad_offset;
    out << "BAD frame at offset " << at << ": " << r.bad_reason << "\n";
    out << "  last good seq before it: "
        << (r.records > 0 ? std::to_string(r.last_seq) : std::string("none")) << "\n";
    if (r.next_valid_offset) {
      out << "  a valid record follows at offset " << *r.next_valid_offset << " (seq "
          << r.next_valid_seq
          << "): mid-log corruption; recovery refuses to start rather than skip it\n"
          << "  the records that a cut here gives up: rdb-dump log " << path
          << " --records --from-offset " << *r.next_valid_offset << "\n";
    } else {
      out << "  no valid record follows: a torn tail; if this is the last segment, recovery cuts "
          << r.file_size - at << " bytes at offset " << at
          << " (in an older segment it is corruption)\n";
    }
    out << "  to give up everything from here (docs/formats/log.md, operator procedure): ";
    if (at <= kSegmentHeaderBytes) {
      out << "delete " << path << " and every later segment\n";
    } else {
      out << "truncate -s " << at << " " << path << ", then delete every later segment\n";
    }
  }
  if (!r.header_ok) {
    out << "status: BAD header\n";
    return kExitDamaged;
  }
  out << "status: " << (r.bad_offset ? "BAD" : "ok") << "\n";
  return r.bad_offset ? kExitDamaged : kExitOk;
}

}  // namespace rdb::dump
