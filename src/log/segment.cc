#include "log/segment.h"

#include <algorithm>
#include <cstring>

#include "base/coding.h"
#include "base/crc32c.h"
#include "log/event_log.h"

namespace rdb {

void FrameRecord(std::string_view body, std::string* dst) {
  RDB_DCHECK(body.size() <= kRecordBytesMax);
  char header[log_internal::kFrameHeaderBytes];
  EncodeFixed32(header + 4, static_cast<uint32_t>(body.size()));
  uint32_t crc = crc32c::Extend(crc32c::Value(header + 4, 4), body.data(), body.size());
  EncodeFixed32(header, crc32c::Mask(crc));
  dst->append(header, sizeof(header));
  dst->append(body.data(), body.size());
}

namespace log_internal {
namespace {

constexpr size_t kHeaderCrcOffset = kSegmentHeaderBytes - 4;
// ReadFrameAt's first read: most records fit, so one pread usually suffices.
constexpr size_t kReadAtFirstBytes = 4096;

Status CorruptAt(uint64_t offset, std::string_view reason) {
  return Status::Corruption("corrupt record at offset " + std::to_string(offset) + ": " +
                            std::string(reason));
}

// Checks the frame in bytes (at least kFrameHeaderBytes + its length long).
bool FrameChecksumOk(const char* p, size_t body_len) {
  uint32_t expected = crc32c::Unmask(DecodeFixed32(p));
  return crc32c::Value(p + 4, 4 + body_len) == expected;
}

// Reads n bytes at offset into dst, which must hold n bytes; returns how many were read.
Result<size_t> ReadInto(const RandomAccessFile& file, uint64_t offset, size_t n, char* dst) {
  RDB_ASSIGN_OR_RETURN(std::string_view got, file.Read(offset, n, dst));
  if (got.data() != dst) std::memmove(dst, got.data(), got.size());
  return got.size();
}

bool AllZero(const char* p, size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

}  // namespace

void EncodeSegmentHeader(const SegmentHeader& header, std::string* dst) {
  size_t start = dst->size();
  dst->append(kSegmentMagic, sizeof(kSegmentMagic));
  PutFixed32(dst, header.version);
  PutFixed64(dst, header.number);
  PutFixed64(dst, header.base_seq);
  PutFixed32(dst, crc32c::Mask(crc32c::Value(dst->data() + start, kHeaderCrcOffset)));
}

Status DecodeSegmentHeader(std::string_view bytes, const std::string& path, SegmentHeader* out) {
  if (bytes.size() < kSegmentHeaderBytes) {
    return Status::Corruption(path + ": segment header truncated (" + std::to_string(bytes.size()) +
                              " of " + std::to_string(kSegmentHeaderBytes) + " bytes)");
  }
  if (std::memcmp(bytes.data(), kSegmentMagic, sizeof(kSegmentMagic)) != 0) {
    return Status::Corruption(path + ": not an event log segment (bad magic)");
  }
  const char* p = bytes.data();
  out->version = DecodeFixed32(p + 8);
  if (out->version != kLogFormatVersion) {
    return Status::NotSupported(path + ": written by an incompatible format version " +
                                std::to_string(out->version) + "; this build reads version " +
                                std::to_string(kLogFormatVersion));
  }
  if (crc32c::Unmask(DecodeFixed32(p + kHeaderCrcOffset)) != crc32c::Value(p, kHeaderCrcOffset)) {
    return Status::Corruption(path + ": segment header checksum mismatch");
  }
  out->number = DecodeFixed64(p + 12);
  out->base_seq = DecodeFixed64(p + 20);
  return Status::OK();
}

Status FrameCorruption(const std::string& path, uint64_t offset, std::string_view reason) {
  return CorruptAt(offset, reason).Annotate(path);
}

void FrameReader::Reset(const RandomAccessFile* file, uint64_t offset) {
  file_ = file;
  offset_ = offset;
  frame_offset_ = offset;
  frame_ = {};
  buf_len_ = 0;
  buf_start_ = 0;
}

Result<bool> FrameReader::Fill(uint64_t offset, size_t n, uint64_t limit) {
  if (offset >= buf_start_ && offset + n <= buf_start_ + buf_len_) return true;
  size_t want = std::max<size_t>(n, std::min<uint64_t>(chunk_bytes_, limit - offset));
  if (want > buf_cap_) {
    buf_ = std::make_unique_for_overwrite<char[]>(want);
    buf_cap_ = want;
  }
  buf_len_ = 0;
  RDB_ASSIGN_OR_RETURN(buf_len_, ReadInto(*file_, offset, want, buf_.get()));
  buf_start_ = offset;
  return buf_len_ >= n;
}

Result<FrameReader::State> FrameReader::Peek(uint64_t limit) {
  frame_ = {};
  frame_offset_ = offset_;
  if (offset_ >= limit) return State::kEnd;
  const size_t head = std::min<uint64_t>(kFrameHeaderBytes, limit - offset_);
  RDB_ASSIGN_OR_RETURN(bool got, Fill(offset_, head, limit));
  if (!got) return State::kPartial;
  if (AllZero(buf_.get() + (offset_ - buf_start_), head)) return State::kZeros;
  if (head < kFrameHeaderBytes) return State::kPartial;
  const uint32_t len = DecodeFixed32(buf_.get() + (offset_ - buf_start_) + 4);
  if (len > kRecordBytesMax) {
    return CorruptAt(offset_, "length " + std::to_string(len) + " exceeds the record limit");
  }
  const size_t n = kFrameHeaderBytes + len;
  if (limit - offset_ < n) return State::kPartial;
  RDB_ASSIGN_OR_RETURN(got, Fill(offset_, n, limit));
  if (!got) return State::kPartial;
  const char* p = buf_.get() + (offset_ - buf_start_);
  if (!FrameChecksumOk(p, len)) return CorruptAt(offset_, "checksum mismatch");
  frame_ = std::string_view(p, n);
  return State::kFrame;
}

Status ReadFrameAt(const RandomAccessFile& file, const std::string& path, uint64_t offset,
                   uint64_t limit, std::string* frame) {
  if (offset >= limit) {
    return Status::NotFound(path + ": no record at offset " + std::to_string(offset));
  }
  const uint64_t avail = limit - offset;
  if (avail < kFrameHeaderBytes) return FrameCorruption(path, offset, "truncated frame header");
  frame->reserve(kRecordBufferMinBytes);
  frame->resize(std::min<uint64_t>(avail, kReadAtFirstBytes));
  RDB_ASSIGN_OR_RETURN(size_t got, ReadInto(file, offset, frame->size(), frame->data()));
  if (AllZero(frame->data(), std::min(got, kFrameHeaderBytes))) {
    return ZeroHeaderCorruption(path, offset);
  }
  if (got < kFrameHeaderBytes) return FrameCorruption(path, offset, "truncated frame header");
  const uint32_t len = DecodeFixed32(frame->data() + 4);
  const uint64_t n = kFrameHeaderBytes + uint64_t{len};
  if (len > kRecordBytesMax || n > avail) {
    return FrameCorruption(path, offset, "length " + std::to_string(len) + " runs past the end");
  }
  if (n > got) {
    frame->resize(n);
    RDB_ASSIGN_OR_RETURN(size_t more, ReadInto(file, offset + got, n - got, frame->data() + got));
    if (got + more < n) return FrameCorruption(path, offset, "truncated record");
  }
  frame->resize(n);
  if (!FrameChecksumOk(frame->data(), len)) {
    return FrameCorruption(path, offset, "checksum mismatch");
  }
  return Status::OK();
}

Status ZeroHeaderCorruption(const std::string& path, uint64_t offset) {
  return FrameCorruption(path, offset,
                         "zero-filled bytes where a record should start (the end-of-data mark) "
                         "inside the segment's data");
}

Result<uint64_t> DataEnd(const RandomAccessFile& file, uint64_t from, uint64_t limit) {
  std::string chunk(kReadChunkBytes, '\0');
  uint64_t end = from;
  for (uint64_t o = from; o < limit;) {
    RDB_ASSIGN_OR_RETURN(
        size_t got, ReadInto(file, o, std::min<uint64_t>(chunk.size(), limit - o), chunk.data()));
    if (got == 0) break;
    auto last = std::find_if(chunk.rbegin() + static_cast<ptrdiff_t>(chunk.size() - got),
                             chunk.rend(), [](char c) { return c != 0; });
    if (last != chunk.rend()) end = o + static_cast<uint64_t>(chunk.rend() - last);
    o += got;
  }
  return end;
}

Result<std::optional<uint64_t>> FindValidFrame(const RandomAccessFile& file, uint64_t from,
                                               uint64_t limit, uint64_t min_seq) {
  // Every byte offset is a candidate. Most are rejected by their length field alone (zero, or
  // beyond the end); only plausible ones cost a checksum. This runs only on the repair path.
  std::string window(kReadChunkBytes, '\0');
  uint64_t wstart = 0;
  size_t wlen = 0;
  std::string frame;
  LogRecord rec;
  for (uint64_t o = from; o + kFrameHeaderBytes <= limit; o++) {
    if (o < wstart || o + kFrameHeaderBytes > wstart + wlen) {
      wstart = o;
      RDB_ASSIGN_OR_RETURN(
          wlen, ReadInto(file, o, std::min<uint64_t>(window.size(), limit - o), window.data()));
      if (wlen < kFrameHeaderBytes) break;
    }
    const uint32_t len = DecodeFixed32(window.data() + (o - wstart) + 4);
    if (len == 0 || len > kRecordBytesMax || len > limit - o - kFrameHeaderBytes) continue;
    if (!ReadFrameAt(file, "", o, limit, &frame).ok()) continue;
    if (!DecodeRecordBody(std::string_view(frame).substr(kFrameHeaderBytes), &rec).ok()) continue;
    if (rec.first_seq > min_seq) return std::optional<uint64_t>(o);
  }
  return std::optional<uint64_t>();
}

void EnsureIndexed(Segment* seg) {
  MutexLock lock(&seg->mu);
  if (seg->indexed) return;
  FrameReader frames;
  frames.Reset(seg->file.get(), kSegmentHeaderBytes);
  const uint64_t limit = seg->size.load(std::memory_order_acquire);
  LogRecord rec;
  seg->index.clear();
  while (true) {
    Result<FrameReader::State> st = frames.Peek(limit);
    if (!st.ok() || *st != FrameReader::State::kFrame) break;
    if (!DecodeRecordBody(frames.body(), &rec).ok()) break;
    if (seg->index.empty() ||
        frames.frame_offset() - seg->index.back().offset >= kIndexIntervalBytes) {
      seg->index.push_back({rec.first_seq, frames.frame_offset()});
    }
    frames.Advance();
  }
  seg->indexed = true;
}

uint64_t IndexLookup(Segment* seg, uint64_t seq) {
  EnsureIndexed(seg);
  MutexLock lock(&seg->mu);
  auto it = std::upper_bound(seg->index.begin(), seg->index.end(), seq,
                             [](uint64_t s, const IndexEntry& e) { return s < e.first_seq; });
  if (it == seg->index.begin()) return kSegmentHeaderBytes;
  return std::prev(it)->offset;
}

}  // namespace log_internal
}  // namespace rdb
