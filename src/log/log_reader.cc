// The read side of EventLog: ReadAt, segment look-ups and the sequential (tailing) reader.
#include <algorithm>

#include "log/event_log_impl.h"

namespace rdb {

using log_internal::FrameCorruption;
using log_internal::FrameReader;
using log_internal::kFrameHeaderBytes;
using log_internal::kSegmentHeaderBytes;

// Reads front to back from a seq, never past the published seq, crossing segment rotations and
// re-seeking after TruncateAfter. Holds the log's cut_mu_ shared for the duration of each Next.
class EventLog::Impl::Reader final : public LogReader {
 public:
  Reader(const Impl* log, uint64_t from_seq) : log_(log), next_seq_(from_seq) {}

  Result<bool> Next(ReadRecord* out) override {
    log_internal::ReaderLock lock(&log_->cut_mu_);
    const uint64_t generation = log_->generation_.load(std::memory_order_acquire);
    if (seg_ == nullptr || generation != generation_) {
      generation_ = generation;
      Seek();
      if (seg_ == nullptr) return false;  // the log is empty
    }
    const uint64_t published = log_->published_seq_.load(std::memory_order_acquire);
    while (true) {
      const uint64_t limit = seg_->size.load(std::memory_order_acquire);
      Result<FrameReader::State> st = frames_.Peek(limit);
      if (!st.ok()) return st.status().Annotate(seg_->path);
      if (*st == FrameReader::State::kPartial) {
        return FrameCorruption(seg_->path, frames_.offset(), "truncated record");
      }
      if (*st == FrameReader::State::kZeros) {
        // Below the logical size (the limit) zeros are never the end of data.
        return log_internal::ZeroHeaderCorruption(seg_->path, frames_.offset());
      }
      if (*st == FrameReader::State::kEnd) {
        if (!MoveOn(limit)) return false;
        continue;
      }
      RDB_ASSIGN_OR_RETURN(Verdict verdict, Decode(out, published));
      if (verdict == Verdict::kDeliver) return true;
      if (verdict == Verdict::kUnpublished) return false;
    }
  }

 private:
  // Positions at the first record that contains a seq >= next_seq_.
  void Seek() {
    delivered_ = false;
    seg_ = log_->SegmentForSeq(next_seq_);
    if (seg_ != nullptr)
      frames_.Reset(seg_->file.get(), log_internal::IndexLookup(seg_.get(), next_seq_));
  }

  // At the end of seg_ (limit bytes): moves to the next segment if there is one.
  bool MoveOn(uint64_t limit) {
    std::shared_ptr<Segment> next = log_->SegmentAfter(seg_->number);
    if (next == nullptr) return false;
    // A later segment exists, so seg_ is sealed; its final size may have landed after our load.
    if (seg_->size.load(std::memory_order_acquire) != limit) return true;
    seg_ = std::move(next);
    frames_.Reset(seg_->file.get(), kSegmentHeaderBytes);
    return true;
  }

  enum class Verdict {
    kDeliver,      // consumed, in *out
    kSkip,         // consumed, but it lies before the start seq
    kUnpublished,  // not consumed: the reader is at the published end
  };

  // Decodes the peeked frame into *out and decides what to do with it.
  Result<Verdict> Decode(ReadRecord* out, uint64_t published) {
    out->buffer.reserve(log_internal::kRecordBufferMinBytes);
    out->buffer.assign(frames_.frame());
    LogRecord& rec = out->record;
    Status s = DecodeRecordBody(std::string_view(out->buffer).substr(kFrameHeaderBytes), &rec);
    if (!s.ok()) return FrameCorruption(seg_->path, frames_.frame_offset(), s.message());
    if (rec.last_seq() > published) return Verdict::kUnpublished;
    if (delivered_ && rec.first_seq < next_seq_) {
      return FrameCorruption(seg_->path, frames_.frame_offset(),
                             "seq " + std::to_string(rec.first_seq) +
                                 " out of order (expected >= " + std::to_string(next_seq_) + ")");
    }
    frames_.Advance();
    if (rec.last_seq() < next_seq_) return Verdict::kSkip;
    out->position = {seg_->number, frames_.frame_offset()};
    next_seq_ = rec.last_seq() + 1;
    delivered_ = true;
    return Verdict::kDeliver;
  }

  const Impl* const log_;
  uint64_t next_seq_;  // the reader delivers the first record whose last seq is >= this
  uint64_t generation_ = 0;
  bool delivered_ = false;  // since the last seek
  std::shared_ptr<Segment> seg_;
  FrameReader frames_;
};

Result<std::unique_ptr<LogReader>> EventLog::Impl::NewReader(uint64_t from_seq) const {
  return std::unique_ptr<LogReader>(new Reader(this, from_seq));
}

Status EventLog::Impl::ReadAt(LogPosition pos, ReadRecord* out) const {
  log_internal::ReaderLock lock(&cut_mu_);
  std::shared_ptr<Segment> seg = SegmentByNumber(pos.segment);
  if (seg == nullptr) {
    return Status::NotFound("event log has no segment " + SegmentFileName(pos.segment));
  }
  if (pos.offset < kSegmentHeaderBytes) {
    return Status::NotFound(seg->path + ": no record at offset " + std::to_string(pos.offset));
  }
  const uint64_t limit = seg->size.load(std::memory_order_acquire);
  RDB_RETURN_IF_ERROR(
      log_internal::ReadFrameAt(*seg->file, seg->path, pos.offset, limit, &out->buffer));
  Status s =
      DecodeRecordBody(std::string_view(out->buffer).substr(kFrameHeaderBytes), &out->record);
  if (!s.ok()) return FrameCorruption(seg->path, pos.offset, s.message());
  out->position = pos;
  return Status::OK();
}

std::shared_ptr<EventLog::Impl::Segment> EventLog::Impl::SegmentByNumber(uint64_t number) const {
  log_internal::MutexLock lock(&segments_mu_);
  auto it = std::lower_bound(segments_.begin(), segments_.end(), number,
                             [](const auto& seg, uint64_t n) { return seg->number < n; });
  if (it == segments_.end() || (*it)->number != number) return nullptr;
  return *it;
}

std::shared_ptr<EventLog::Impl::Segment> EventLog::Impl::SegmentForSeq(uint64_t seq) const {
  log_internal::MutexLock lock(&segments_mu_);
  if (segments_.empty()) return nullptr;
  auto it = std::upper_bound(segments_.begin(), segments_.end(), seq,
                             [](uint64_t s, const auto& seg) { return s < seg->base_seq; });
  return it == segments_.begin() ? segments_.front() : *std::prev(it);
}

std::shared_ptr<EventLog::Impl::Segment> EventLog::Impl::SegmentAfter(uint64_t number) const {
  log_internal::MutexLock lock(&segments_mu_);
  auto it = std::upper_bound(segments_.begin(), segments_.end(), number,
                             [](uint64_t n, const auto& seg) { return n < seg->number; });
  return it == segments_.end() ? nullptr : *it;
}

}  // namespace rdb
