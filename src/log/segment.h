// Segment files: header codec, record framing, a buffered frame reader and the in-memory segment
// (file handle, readable size, sparse seq -> offset index). Private to src/log/.
//
// Byte layout: docs/formats/log.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/status.h"
#include "io/env.h"
#include "log/log_mutex.h"
#include "log/record.h"

namespace rdb::log_internal {

// "RDBLOG\0\1": the whole 8 bytes are the magic (the trailing 0x01 is not the format version).
constexpr char kSegmentMagic[8] = {'R', 'D', 'B', 'L', 'O', 'G', '\0', '\1'};
constexpr uint32_t kLogFormatVersion = 1;
// magic (8) + version (4) + segment number (8) + base seq (8) + masked crc32c of the above (4).
constexpr size_t kSegmentHeaderBytes = 32;
// masked crc32c (4) + body length (4).
constexpr size_t kFrameHeaderBytes = 8;
// An all-zero frame header at a frame boundary marks the end of a segment's data: the rest of the
// file is zero-filled, preallocated space (no real frame has a zero body length). Fewer than
// kFrameHeaderBytes bytes left, all zero, mean the same.
// One sparse index entry per this many bytes of records.
constexpr uint64_t kIndexIntervalBytes = 64 << 10;
// Sequential readers read segments in chunks of this size.
constexpr size_t kReadChunkBytes = 256 << 10;
// A ReadRecord's buffer gets at least this capacity, so it never sits in the string's inline
// (small-string) storage and moving a ReadRecord keeps its views valid.
constexpr size_t kRecordBufferMinBytes = 64;

struct SegmentHeader {
  uint32_t version = kLogFormatVersion;
  uint64_t number = 0;
  uint64_t base_seq = 0;  // first_seq of the segment's first record
};

void EncodeSegmentHeader(const SegmentHeader& header, std::string* dst);
// kCorruption for a short header, a wrong magic or a bad checksum; kNotSupported for another format
// version (checked before the checksum: a later version may lay the rest out differently). The
// message names path.
Status DecodeSegmentHeader(std::string_view bytes, const std::string& path, SegmentHeader* out);

// "corrupt record at offset N: <reason>", with the file name in front.
Status FrameCorruption(const std::string& path, uint64_t offset, std::string_view reason);

// Reads a segment's frames front to back with large buffered reads. Not thread-safe.
class FrameReader {
 public:
  enum class State {
    kFrame,    // frame() holds a whole frame with a valid checksum
    kEnd,      // offset() == limit: nothing more below the limit
    kPartial,  // bytes remain below the limit but not a whole frame (a cut header or body)
    kZeros,    // an all-zero frame header at offset(): the end-of-data mark of a preallocated
               // segment. Only recovery (which reads to the physical end) may meet it legitimately;
               // below a segment's logical size it is corruption (ZeroHeaderCorruption).
  };

  explicit FrameReader(size_t chunk_bytes = kReadChunkBytes) : chunk_bytes_(chunk_bytes) {}

  // Positions at offset in file (which must outlive the reader's use of it); drops the buffer.
  void Reset(const RandomAccessFile* file, uint64_t offset);
  // Examines the frame at offset() without consuming it; only bytes below limit are read. A bad
  // length or checksum is kCorruption with the offset (the caller adds the file name via
  // FrameCorruption's format: the message starts with "corrupt record at offset N").
  Result<State> Peek(uint64_t limit);
  // Consumes the frame returned by the last successful Peek (State::kFrame).
  void Advance() { offset_ = frame_offset_ + frame_.size(); }

  uint64_t offset() const { return offset_; }
  uint64_t frame_offset() const { return frame_offset_; }
  // The frame of the last Peek, viewing the internal buffer: valid until the next Peek or Reset.
  std::string_view frame() const { return frame_; }
  std::string_view body() const { return frame_.substr(kFrameHeaderBytes); }

 private:
  // Makes [offset, offset + n) available in the buffer, reading at most up to limit. False if the
  // file holds fewer bytes there than expected.
  Result<bool> Fill(uint64_t offset, size_t n, uint64_t limit);

  const size_t chunk_bytes_;
  const RandomAccessFile* file_ = nullptr;
  uint64_t offset_ = 0;
  uint64_t frame_offset_ = 0;
  std::string_view frame_;
  std::unique_ptr<char[]> buf_;
  size_t buf_cap_ = 0;
  uint64_t buf_start_ = 0;  // file offset of buf_[0]
  size_t buf_len_ = 0;
};

// "corrupt record at offset N: zero-filled bytes where a record should start", with the file name.
Status ZeroHeaderCorruption(const std::string& path, uint64_t offset);

// Offset just past the last non-zero byte in [from, limit) of file; `from` if all are zero. Reads
// the range in kReadChunkBytes chunks (recovery only: a zero tail is at most a preallocation).
Result<uint64_t> DataEnd(const RandomAccessFile& file, uint64_t from, uint64_t limit);

// Reads the whole frame starting at offset (below limit) into *frame and verifies its checksum.
// kNotFound if no frame starts there (offset at or past limit); kCorruption names path and offset
// (an all-zero frame header below limit included: limit is a logical size).
Status ReadFrameAt(const RandomAccessFile& file, const std::string& path, uint64_t offset,
                   uint64_t limit, std::string* frame);

// Looks for a frame at any byte offset in [from, limit) that has a valid checksum and decodes to a
// record whose first seq is above min_seq: proof that a bad frame before it is not a torn tail.
Result<std::optional<uint64_t>> FindValidFrame(const RandomAccessFile& file, uint64_t from,
                                               uint64_t limit, uint64_t min_seq);

struct IndexEntry {
  uint64_t first_seq = 0;
  uint64_t offset = 0;
};

// One segment file as the log keeps it in memory. Shared (shared_ptr) between the log and its
// readers, so a reader can finish with a segment that TruncateAfter removed.
struct Segment {
  Segment(uint64_t n, uint64_t base, std::string p, std::unique_ptr<RandomAccessFile> f)
      : number(n), base_seq(base), path(std::move(p)), file(std::move(f)) {}

  const uint64_t number;
  const uint64_t base_seq;
  const std::string path;
  const std::unique_ptr<RandomAccessFile> file;  // thread-safe for concurrent reads

  // Bytes of whole frames (header included): the logical size. The file may be longer (the active
  // segment's zero-filled, preallocated tail). The writer stores it (release) after each write;
  // readers never read past it, so they never see half a record nor the zero tail.
  std::atomic<uint64_t> size{0};

  Mutex mu;
  // Sparse (first_seq, offset) entries in increasing order: the first record, then one roughly
  // every kIndexIntervalBytes. Built while appending, by recovery for the last segment, and lazily
  // by a scan for older ones (EnsureIndexed).
  std::vector<IndexEntry> index ABSL_GUARDED_BY(mu);
  bool indexed ABSL_GUARDED_BY(mu) = false;
};

// Builds seg's sparse index by scanning it, once. A bad record stops the scan: the index then
// covers the records before it (a reader meets the corruption when it gets there).
void EnsureIndexed(Segment* seg);
// Offset of the last indexed record with first_seq <= seq (the first record if none): a reader
// scanning from there meets every record that contains a seq >= seq.
uint64_t IndexLookup(Segment* seg, uint64_t seq);

}  // namespace rdb::log_internal
