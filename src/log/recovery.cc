// EventLog::Open: list and verify segments, scan the last one, repair a torn tail, refuse mid-log
// corruption. The rules and the crash-window table: docs/formats/log.md.
#include <algorithm>
#include <charconv>

#include "log/event_log_impl.h"

namespace rdb {

using log_internal::FrameReader;
using log_internal::kSegmentHeaderBytes;

namespace {

constexpr size_t kSegmentNumberDigits = 16;
constexpr std::string_view kSegmentSuffix = ".log";

std::optional<uint64_t> ParseSegmentFileName(std::string_view name) {
  if (name.size() != kSegmentNumberDigits + kSegmentSuffix.size() ||
      !name.ends_with(kSegmentSuffix)) {
    return std::nullopt;
  }
  uint64_t number = 0;
  const char* end = name.data() + kSegmentNumberDigits;
  auto [ptr, ec] = std::from_chars(name.data(), end, number);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return number;
}

Status ValidateOptions(const LogOptions& options) {
  if (options.env == nullptr || options.clock == nullptr) {
    return Status::InvalidArgument("LogOptions: env and clock must be set");
  }
  if (options.segment_bytes_max <= kSegmentHeaderBytes) {
    return Status::InvalidArgument("LogOptions: segment_bytes_max is smaller than a header");
  }
  if (options.preallocate_bytes > kPreallocateBytesMax) {
    return Status::InvalidArgument("LogOptions: preallocate_bytes is above 256 MiB");
  }
  if (options.fsync == FsyncPolicy::kInterval && options.fsync_interval_ms == 0) {
    return Status::InvalidArgument("LogOptions: fsync_interval_ms must be > 0 for kInterval");
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<EventLog>> EventLog::Open(const LogOptions& options, const std::string& dir,
                                                 LogRecoveryInfo* info) {
  RDB_RETURN_IF_ERROR(ValidateOptions(options));
  LogRecoveryInfo local;
  if (info == nullptr) info = &local;
  *info = LogRecoveryInfo{};
  RDB_RETURN_IF_ERROR(options.env->CreateDirs(dir));
  auto impl = std::make_unique<Impl>(options, dir);
  RDB_RETURN_IF_ERROR(impl->Recover(info));
  impl->StartSyncer();
  return std::unique_ptr<EventLog>(new EventLog(std::move(impl)));
}

Result<std::vector<uint64_t>> EventLog::Impl::ListSegmentNumbers() const {
  RDB_ASSIGN_OR_RETURN(std::vector<std::string> names, options_.env->GetChildren(dir_));
  std::vector<uint64_t> numbers;
  for (const std::string& name : names) {
    if (auto n = ParseSegmentFileName(name)) numbers.push_back(*n);
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

Result<std::shared_ptr<EventLog::Impl::Segment>> EventLog::Impl::LoadSegment(
    uint64_t number) const {
  const std::string path = SegmentPath(number);
  RDB_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                       options_.env->NewRandomAccessFile(path));
  char buf[kSegmentHeaderBytes];
  RDB_ASSIGN_OR_RETURN(std::string_view bytes, file->Read(0, sizeof(buf), buf));
  log_internal::SegmentHeader header;
  RDB_RETURN_IF_ERROR(log_internal::DecodeSegmentHeader(bytes, path, &header));
  if (header.number != number) {
    return Status::Corruption(path + ": header names segment " + std::to_string(header.number));
  }
  RDB_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  auto seg = std::make_shared<Segment>(number, header.base_seq, path, std::move(file));
  seg->size.store(size, std::memory_order_release);
  return seg;
}

Result<bool> EventLog::Impl::IsTornHeader(uint64_t number) const {
  // A crash right after a segment was created can leave its header short or garbled. It is a torn
  // tail only if no whole record follows: then removing the file loses nothing.
  RDB_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                       options_.env->NewRandomAccessFile(SegmentPath(number)));
  RDB_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size <= kSegmentHeaderBytes) return true;
  RDB_ASSIGN_OR_RETURN(auto found,
                       log_internal::FindValidFrame(*file, kSegmentHeaderBytes, size, 0));
  return !found.has_value();
}

Status EventLog::Impl::DropLastSegment(const std::string& path, LogRecoveryInfo* info) {
  RDB_ASSIGN_OR_RETURN(uint64_t size, options_.env->GetFileSize(path));
  RDB_RETURN_IF_ERROR(options_.env->DeleteFile(path));
  info->truncated_tail_bytes += size;
  info->truncated_tail_file = path;
  return Status::OK();
}

Status EventLog::Impl::LoadAll(const std::vector<uint64_t>& numbers, LogRecoveryInfo* info,
                               std::vector<std::shared_ptr<Segment>>* out) {
  for (size_t i = 0; i < numbers.size(); i++) {
    const bool last = i + 1 == numbers.size();
    Result<std::shared_ptr<Segment>> seg = LoadSegment(numbers[i]);
    if (!seg.ok()) {
      // Only the last segment's header can be torn; anything else is corruption (or a version
      // this build cannot read).
      if (!last || seg.status().code() != Code::kCorruption) return seg.status();
      RDB_ASSIGN_OR_RETURN(bool torn, IsTornHeader(numbers[i]));
      if (!torn) return seg.status();
      return DropLastSegment(SegmentPath(numbers[i]), info);
    }
    if (!out->empty()) {
      const Segment& prev = *out->back();
      if ((*seg)->number != prev.number + 1) {
        return Status::Corruption(dir_ + ": segment " + SegmentFileName(prev.number + 1) +
                                  " is missing (found " + SegmentFileName(prev.number) + " and " +
                                  SegmentFileName((*seg)->number) + ")");
      }
      if ((*seg)->base_seq <= prev.base_seq) {
        return Status::Corruption((*seg)->path + ": base seq " + std::to_string((*seg)->base_seq) +
                                  " is not above the previous segment's " +
                                  std::to_string(prev.base_seq));
      }
    }
    out->push_back(std::move(seg).value());
  }
  return Status::OK();
}

Status EventLog::Impl::CheckScanned(const Segment& seg, const FrameReader& frames,
                                    uint64_t prev_last_seq, LogRecord* rec) const {
  // The checksum held, so a record that does not decode or breaks seq order was written that way:
  // never a torn write.
  Status s = DecodeRecordBody(frames.body(), rec);
  if (!s.ok()) return log_internal::FrameCorruption(seg.path, frames.frame_offset(), s.message());
  const bool first = frames.frame_offset() == kSegmentHeaderBytes;
  if ((first && rec->first_seq != seg.base_seq) || (!first && rec->first_seq <= prev_last_seq)) {
    return log_internal::FrameCorruption(
        seg.path, frames.frame_offset(),
        "seq " + std::to_string(rec->first_seq) + " out of order (previous " +
            std::to_string(first ? seg.base_seq : prev_last_seq) + ")");
  }
  return Status::OK();
}

Result<uint64_t> EventLog::Impl::ScanLastSegment(Segment* seg, LogRecoveryInfo* info) {
  FrameReader frames;
  frames.Reset(seg->file.get(), kSegmentHeaderBytes);
  uint64_t size = seg->size.load(std::memory_order_acquire);
  uint64_t last_seq = 0;
  std::vector<log_internal::IndexEntry> index;
  LogRecord rec;
  Status bad;  // why the frame at frames.offset() is unreadable
  while (true) {
    Result<FrameReader::State> st = frames.Peek(size);
    if (!st.ok()) {
      if (st.status().code() != Code::kCorruption) return st.status();  // an I/O error
      bad = st.status().Annotate(seg->path);
      break;
    }
    if (*st == FrameReader::State::kEnd) break;
    if (*st == FrameReader::State::kZeros) {
      // The end of data of a preallocated segment, if only zeros follow; the writer continues
      // here and the zero tail stays. Anything else after it is what a torn write left.
      RDB_ASSIGN_OR_RETURN(uint64_t data_end,
                           log_internal::DataEnd(*seg->file, frames.offset(), size));
      if (data_end == frames.offset()) {
        size = frames.offset();
        break;
      }
      bad = log_internal::FrameCorruption(seg->path, frames.offset(),
                                          "zero frame header followed by non-zero bytes");
      break;
    }
    if (*st == FrameReader::State::kPartial) {
      bad = log_internal::FrameCorruption(seg->path, frames.offset(), "truncated record");
      break;
    }
    RDB_RETURN_IF_ERROR(CheckScanned(*seg, frames, last_seq, &rec));
    if (index.empty() ||
        frames.frame_offset() - index.back().offset >= log_internal::kIndexIntervalBytes) {
      index.push_back({rec.first_seq, frames.frame_offset()});
    }
    last_seq = rec.last_seq();
    frames.Advance();
  }
  if (!bad.ok()) {
    const uint64_t at = frames.offset();
    RDB_ASSIGN_OR_RETURN(auto next,
                         log_internal::FindValidFrame(*seg->file, at + 1, size, last_seq));
    if (next) {
      return Status::Corruption(bad.message() + "; a valid record follows at offset " +
                                std::to_string(*next) +
                                ", so this is mid-log corruption, not a torn tail: refusing to "
                                "skip it (operator procedure: docs/formats/log.md)");
    }
    // Cut physically, zero-filled tail included (the writer fills it again); report the bytes of
    // the torn write itself, not the zeros after them.
    RDB_ASSIGN_OR_RETURN(uint64_t data_end, log_internal::DataEnd(*seg->file, at, size));
    RDB_RETURN_IF_ERROR(options_.env->TruncateFile(seg->path, at));
    info->truncated_tail_bytes += std::max(data_end, at + 1) - at;
    info->truncated_tail_file = seg->path;
    size = at;
  }
  seg->size.store(size, std::memory_order_release);
  log_internal::MutexLock lock(&seg->mu);
  seg->index = std::move(index);
  seg->indexed = true;
  return last_seq;
}

Status EventLog::Impl::TrimSealedZeroTail(Segment* seg) const {
  // The common case costs one small read: a segment whose last bytes are not all zero cannot end
  // in a zero tail. Only one whose last record happens to end in zeros is walked frame by frame.
  const uint64_t size = seg->size.load(std::memory_order_acquire);
  if (size <= kSegmentHeaderBytes) return Status::OK();
  char last[log_internal::kFrameHeaderBytes];
  const size_t n = std::min<uint64_t>(sizeof(last), size - kSegmentHeaderBytes);
  RDB_ASSIGN_OR_RETURN(std::string_view tail, seg->file->Read(size - n, n, last));
  if (!std::all_of(tail.begin(), tail.end(), [](char c) { return c == 0; })) return Status::OK();
  FrameReader frames;
  frames.Reset(seg->file.get(), kSegmentHeaderBytes);
  while (true) {
    Result<FrameReader::State> st = frames.Peek(size);
    if (!st.ok() || *st == FrameReader::State::kEnd || *st == FrameReader::State::kPartial) {
      return Status::OK();  // whole, or damaged: a reader reports damage when it gets there
    }
    if (*st == FrameReader::State::kZeros) break;
    frames.Advance();
  }
  const uint64_t end = frames.offset();
  RDB_ASSIGN_OR_RETURN(uint64_t data_end, log_internal::DataEnd(*seg->file, end, size));
  if (data_end != end) return Status::OK();
  RDB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                       options_.env->ReopenPositionalFile(seg->path));
  RDB_RETURN_IF_ERROR(file->Truncate(end));
  RDB_RETURN_IF_ERROR(file->Sync());
  RDB_RETURN_IF_ERROR(file->Close());
  seg->size.store(end, std::memory_order_release);
  return Status::OK();
}

Status EventLog::Impl::Recover(LogRecoveryInfo* info) {
  RDB_ASSIGN_OR_RETURN(std::vector<uint64_t> numbers, ListSegmentNumbers());
  std::vector<std::shared_ptr<Segment>> segs;
  RDB_RETURN_IF_ERROR(LoadAll(numbers, info, &segs));
  uint64_t last_seq = 0;
  // A last segment without a whole record (crash right after rotation) is removed; the one before
  // it becomes the last and is scanned the same way.
  while (!segs.empty()) {
    RDB_ASSIGN_OR_RETURN(last_seq, ScanLastSegment(segs.back().get(), info));
    if (last_seq != 0) break;
    RDB_RETURN_IF_ERROR(DropLastSegment(segs.back()->path, info));
    segs.pop_back();
  }
  // Sealed segments never keep a zero tail (rotation cuts and syncs it before the next segment is
  // created), but if one did, it could only be the segment before the last.
  if (segs.size() >= 2) RDB_RETURN_IF_ERROR(TrimSealedZeroTail(segs[segs.size() - 2].get()));

  log_internal::MutexLock lock(&writer_mu_);
  next_segment_number_ =
      segs.empty() ? (numbers.empty() ? 1 : numbers.front()) : segs.back()->number + 1;
  if (!segs.empty()) {
    active_ = segs.back();
    RDB_RETURN_IF_ERROR(OpenWriter());
  }
  {
    log_internal::MutexLock list_lock(&segments_mu_);
    segments_ = segs;
  }
  // Bytes written before a process crash may still sit only in the page cache.
  unsynced_ = true;
  if (!info->truncated_tail_file.empty()) {
    dir_sync_pending_ = true;
    RDB_RETURN_IF_ERROR(SyncLocked());  // the repair is durable before anything new is appended
  }
  last_seq_.store(last_seq, std::memory_order_release);
  published_seq_.store(last_seq, std::memory_order_release);
  info->segments = segs.size();
  info->last_seq = last_seq;
  return Status::OK();
}

}  // namespace rdb
