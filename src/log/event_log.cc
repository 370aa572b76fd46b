// The writer side of EventLog: append, rotation, sync policies, truncation, close.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "base/coding.h"
#include "log/event_log_impl.h"

namespace rdb {

using log_internal::FrameReader;
using log_internal::kFrameHeaderBytes;
using log_internal::kIndexIntervalBytes;
using log_internal::kSegmentHeaderBytes;

namespace {

// One Append call may frame at most this many bytes (a bound on the write buffer).
constexpr uint64_t kAppendBytesMax = 256ull << 20;
// After an unusually large append the write buffer is released rather than kept.
constexpr size_t kWriteBufferKeepBytes = 8 << 20;
// Zero-fill writes are at most this large (they all come from kZeroBlock).
constexpr size_t kZeroBlockBytes = 1 << 20;
// Static, never written: its pages stay the shared zero page, costing no memory.
alignas(4096) char kZeroBlock[kZeroBlockBytes];

// The first seq written in an encoded body (its second field), or nullopt if unreadable.
std::optional<uint64_t> BodyFirstSeq(std::string_view body) {
  if (body.empty() || static_cast<uint8_t>(body[0]) != kRecordTypeEvents) return std::nullopt;
  body.remove_prefix(1);
  uint64_t seq = 0;
  if (!GetVarint64(&body, &seq)) return std::nullopt;
  return seq;
}

}  // namespace

// ---- public surface: forwards to Impl ----

EventLog::EventLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventLog::~EventLog() {
  if (impl_) (void)impl_->Close();  // errors were the caller's to see via Close()
}

Status EventLog::Append(std::span<const std::string> bodies, std::span<const uint64_t> first_seqs,
                        std::span<const uint64_t> last_seqs, std::vector<LogPosition>* positions) {
  return impl_->Append(bodies, first_seqs, last_seqs, positions);
}
Status EventLog::Sync() { return impl_->Sync(); }
Status EventLog::SyncForCommit() { return impl_->SyncForCommit(); }
void EventLog::Publish(uint64_t last_seq) { impl_->Publish(last_seq); }
uint64_t EventLog::published_seq() const {
  return impl_->published_seq_.load(std::memory_order_acquire);
}
uint64_t EventLog::last_seq() const { return impl_->last_seq_.load(std::memory_order_acquire); }
uint64_t EventLog::first_seq() const {
  auto seg = impl_->SegmentForSeq(0);
  return seg ? seg->base_seq : 0;
}
Status EventLog::ReadAt(LogPosition pos, ReadRecord* out) const { return impl_->ReadAt(pos, out); }
Result<std::unique_ptr<LogReader>> EventLog::NewReader(uint64_t from_seq) const {
  return impl_->NewReader(from_seq);
}
Status EventLog::TruncateAfter(uint64_t seq) { return impl_->TruncateAfter(seq); }
EventLog::Stats EventLog::stats() const { return impl_->stats(); }
Status EventLog::Close() { return impl_->Close(); }

std::string EventLog::SegmentFileName(uint64_t segment) {
  char name[32];
  std::snprintf(name, sizeof(name), "%016" PRIu64 ".log", segment);
  return name;
}

// ---- Impl: writer ----

EventLog::Impl::~Impl() { StopSyncer(); }

std::string EventLog::Impl::SegmentPath(uint64_t number) const {
  return JoinPath(dir_, SegmentFileName(number));
}

Status EventLog::Impl::CheckWritable() const {
  if (closed_) return Status::Unavailable("event log " + dir_ + " is closed");
  return failed_;
}

Status EventLog::Impl::Fail(const Status& cause) {
  if (failed_.ok()) {
    failed_ = Status::Aborted("event log " + dir_ + " is read-only after a failed write (" +
                              cause.ToString() + "); reopen it to recover");
  }
  return failed_;
}

Status EventLog::Impl::ValidateAppend(std::span<const std::string> bodies,
                                      std::span<const uint64_t> first_seqs,
                                      std::span<const uint64_t> last_seqs) const {
  if (bodies.size() != first_seqs.size() || bodies.size() != last_seqs.size()) {
    return Status::InvalidArgument("Append: bodies, first_seqs and last_seqs differ in length");
  }
  uint64_t prev = last_seq_.load(std::memory_order_relaxed);
  uint64_t total = 0;
  for (size_t i = 0; i < bodies.size(); i++) {
    auto ctx = [i] { return "Append: record " + std::to_string(i) + ": "; };
    if (first_seqs[i] <= prev || last_seqs[i] < first_seqs[i]) {
      return Status::InvalidArgument(ctx() + "seqs " + std::to_string(first_seqs[i]) + ".." +
                                     std::to_string(last_seqs[i]) + " do not follow seq " +
                                     std::to_string(prev));
    }
    if (bodies[i].size() > kRecordBytesMax) {
      return Status::InvalidArgument(ctx() + "body exceeds the record limit");
    }
    if (BodyFirstSeq(bodies[i]) != first_seqs[i]) {
      return Status::InvalidArgument(ctx() + "body is not an encoded record with first seq " +
                                     std::to_string(first_seqs[i]));
    }
    total += kFrameHeaderBytes + bodies[i].size();
    prev = last_seqs[i];
  }
  if (total > kAppendBytesMax) return Status::InvalidArgument("Append: call exceeds 256 MiB");
  return Status::OK();
}

Status EventLog::Impl::Append(std::span<const std::string> bodies,
                              std::span<const uint64_t> first_seqs,
                              std::span<const uint64_t> last_seqs,
                              std::vector<LogPosition>* positions) {
  log_internal::MutexLock lock(&writer_mu_);
  RDB_RETURN_IF_ERROR(CheckWritable());
  RDB_RETURN_IF_ERROR(ValidateAppend(bodies, first_seqs, last_seqs));
  positions->resize(bodies.size());
  if (bodies.empty()) return Status::OK();

  uint64_t frames_bytes = 0;
  for (const std::string& body : bodies) frames_bytes += kFrameHeaderBytes + body.size();
  const uint64_t active_size = active_ ? active_->size.load(std::memory_order_relaxed) : 0;
  // A segment always holds at least one record, so one oversized call still gets written.
  const bool rotate =
      active_ == nullptr || (active_size > kSegmentHeaderBytes &&
                             active_size + frames_bytes > options_.segment_bytes_max);
  write_buf_.clear();
  if (rotate) {
    log_internal::EncodeSegmentHeader(
        {log_internal::kLogFormatVersion, next_segment_number_, first_seqs[0]}, &write_buf_);
  }
  const uint64_t start = rotate ? 0 : active_size;
  for (size_t i = 0; i < bodies.size(); i++) {
    (*positions)[i].offset = start + write_buf_.size();
    FrameRecord(bodies[i], &write_buf_);
  }
  RDB_RETURN_IF_ERROR(rotate ? WriteNewSegment(first_seqs[0]) : WriteActive());

  for (LogPosition& pos : *positions) pos.segment = active_->number;
  IndexAppended(first_seqs, *positions);
  unsynced_ = true;
  bytes_written_.fetch_add(write_buf_.size(), std::memory_order_relaxed);
  active_->size.store(start + write_buf_.size(), std::memory_order_release);
  last_seq_.store(last_seqs.back(), std::memory_order_release);
  if (write_buf_.capacity() > kWriteBufferKeepBytes) std::string().swap(write_buf_);
  return Status::OK();
}

Status EventLog::Impl::Preallocate(WritableFile* file, uint64_t* file_end,
                                   uint64_t write_end) const {
  const uint64_t cap = options_.segment_bytes_max;
  if (options_.preallocate_bytes == 0 || write_end <= *file_end || write_end > cap) {
    return Status::OK();
  }
  const uint64_t target = std::min(cap, write_end + options_.preallocate_bytes);
  while (*file_end < target) {
    const uint64_t n = std::min<uint64_t>(target - *file_end, kZeroBlockBytes);
    RDB_RETURN_IF_ERROR(file->WriteAt(*file_end, std::string_view(kZeroBlock, n)));
    *file_end += n;
  }
  return Status::OK();
}

Status EventLog::Impl::WriteFrames(WritableFile* file, uint64_t* file_end, uint64_t at) const {
  const uint64_t write_end = at + write_buf_.size();
  Status s = Preallocate(file, file_end, write_end);
  // No room to zero-fill ahead need not mean no room for these records: write them anyway, growing
  // the file, so ENOSPC comes no earlier than without preallocation. (A partial zero-fill is cut
  // back by the Env or merely leaves zeros past the end, which read as the end of data.)
  if (!s.ok() && s.code() != Code::kNoSpace) return s;
  RDB_RETURN_IF_ERROR(file->WriteAt(at, write_buf_));
  *file_end = std::max(*file_end, write_end);
  return Status::OK();
}

Status EventLog::Impl::WriteActive() {
  const uint64_t before = active_->size.load(std::memory_order_relaxed);
  Status s = WriteFrames(writer_.get(), &file_end_, before);
  if (s.ok()) return s;
  // Whatever part of the write reached the file must go, so the next append starts at a frame
  // boundary. If even that fails the file's state is unknown: stop writing.
  Status undo = RollBackActive(before);
  if (!undo.ok()) (void)Fail(undo);
  return s;
}

Status EventLog::Impl::RollBackActive(uint64_t size) {
  (void)writer_->Close();
  writer_.reset();
  RDB_RETURN_IF_ERROR(options_.env->TruncateFile(active_->path, size));
  return OpenWriter();
}

Status EventLog::Impl::OpenWriter() {
  writer_.reset();
  RDB_ASSIGN_OR_RETURN(writer_, options_.env->ReopenPositionalFile(active_->path));
  // Writing continues at the logical end; anything past it is the zero-filled tail.
  const uint64_t want = active_->size.load(std::memory_order_relaxed);
  file_end_ = writer_->Size();
  if (file_end_ < want) {
    return Status::IoError(active_->path + ": size " + std::to_string(file_end_) +
                           " after reopening, expected at least " + std::to_string(want));
  }
  return Status::OK();
}

Status EventLog::Impl::SealActive() {
  const uint64_t size = active_->size.load(std::memory_order_relaxed);
  if (file_end_ != size) {
    // ftruncate is all or nothing: on error the segment is as it was and still active.
    RDB_RETURN_IF_ERROR(writer_->Truncate(size));
    file_end_ = size;
    unsynced_ = true;  // the new size must be durable before a later segment exists
  }
  return SyncLocked();
}

Status EventLog::Impl::WriteNewSegment(uint64_t base_seq) {
  // Seal the current segment durably first: recovery then never meets a later segment on disk
  // after an earlier one with a torn tail or a zero tail, whatever the fsync policy.
  if (writer_) RDB_RETURN_IF_ERROR(SealActive());
  const uint64_t number = next_segment_number_;
  const std::string path = SegmentPath(number);
  Env* env = options_.env;
  RDB_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->NewWritableFile(path));
  Result<std::unique_ptr<RandomAccessFile>> reader = env->NewRandomAccessFile(path);
  uint64_t file_end = 0;
  Status s = reader.ok() ? WriteFrames(file.get(), &file_end, 0) : reader.status();
  if (!s.ok()) {
    // Nothing of this call may remain. If the delete fails too, Open removes the leftover as a
    // torn last segment (it holds no whole record).
    (void)file->Close();
    (void)env->DeleteFile(path);
    return s;
  }
  auto seg = std::make_shared<Segment>(number, base_seq, path, std::move(reader).value());
  seg->size.store(write_buf_.size(), std::memory_order_release);
  {
    log_internal::MutexLock seg_lock(&seg->mu);
    seg->indexed = true;
  }
  if (writer_) (void)writer_->Close();  // already synced: nothing left to lose
  writer_ = std::move(file);
  file_end_ = file_end;
  active_ = seg;
  next_segment_number_++;
  dir_sync_pending_ = true;
  log_internal::MutexLock list_lock(&segments_mu_);
  segments_.push_back(std::move(seg));
  return Status::OK();
}

void EventLog::Impl::IndexAppended(std::span<const uint64_t> first_seqs,
                                   std::span<const LogPosition> positions) {
  log_internal::MutexLock lock(&active_->mu);
  std::vector<log_internal::IndexEntry>& index = active_->index;
  for (size_t i = 0; i < positions.size(); i++) {
    if (index.empty() || positions[i].offset - index.back().offset >= kIndexIntervalBytes) {
      index.push_back({first_seqs[i], positions[i].offset});
    }
  }
}

Status EventLog::Impl::SyncLocked() {
  RDB_RETURN_IF_ERROR(failed_);
  const bool sync_file = writer_ && unsynced_;
  if (sync_file) {
    Status s = writer_->Sync();
    if (!s.ok()) {
      // After a failed fsync the kernel may have dropped the dirty pages: what is on disk is
      // unknown until Open verifies it again.
      (void)Fail(s);
      return s;
    }
    unsynced_ = false;
  }
  if (dir_sync_pending_) {
    RDB_RETURN_IF_ERROR(options_.env->SyncDir(dir_));
    dir_sync_pending_ = false;
  }
  if (sync_file) syncs_.fetch_add(1, std::memory_order_relaxed);  // counted once all is durable
  return Status::OK();
}

Status EventLog::Impl::Sync() {
  log_internal::MutexLock lock(&writer_mu_);
  if (closed_) return Status::OK();  // Close synced everything
  return SyncLocked();
}

Status EventLog::Impl::SyncForCommit() {
  if (options_.fsync != FsyncPolicy::kAlways) return Status::OK();
  return Sync();
}

void EventLog::Impl::Publish(uint64_t last_seq) {
  RDB_DCHECK(last_seq <= last_seq_.load(std::memory_order_acquire));
  uint64_t cur = published_seq_.load(std::memory_order_relaxed);
  while (last_seq > cur &&
         !published_seq_.compare_exchange_weak(cur, last_seq, std::memory_order_release,
                                               std::memory_order_relaxed)) {
  }
}

// ---- TruncateAfter ----

Result<EventLog::Impl::Cut> EventLog::Impl::FindCut(Segment* seg, uint64_t seq) const {
  FrameReader frames;
  frames.Reset(seg->file.get(), log_internal::IndexLookup(seg, seq));
  const uint64_t limit = seg->size.load(std::memory_order_acquire);
  Cut cut{limit, 0};
  LogRecord rec;
  while (true) {
    Result<FrameReader::State> st = frames.Peek(limit);
    if (!st.ok()) return st.status().Annotate(seg->path);
    if (*st == FrameReader::State::kEnd) break;
    if (*st == FrameReader::State::kPartial) {
      return log_internal::FrameCorruption(seg->path, frames.offset(), "truncated record");
    }
    if (*st == FrameReader::State::kZeros) {
      return log_internal::ZeroHeaderCorruption(seg->path, frames.offset());
    }
    Status s = DecodeRecordBody(frames.body(), &rec);
    if (!s.ok()) return log_internal::FrameCorruption(seg->path, frames.offset(), s.message());
    if (rec.first_seq > seq) {
      cut.offset = frames.frame_offset();
      break;
    }
    cut.last_seq = rec.last_seq();
    frames.Advance();
  }
  if (cut.last_seq == 0) {
    return Status::Corruption(seg->path + ": no record at or below the header's base seq " +
                              std::to_string(seg->base_seq));
  }
  return cut;
}

Status EventLog::Impl::RemoveSegmentsAfter(uint64_t seq) {
  while (true) {
    std::shared_ptr<Segment> last;
    {
      log_internal::MutexLock lock(&segments_mu_);
      if (segments_.empty() || segments_.back()->base_seq <= seq) return Status::OK();
      last = segments_.back();
    }
    if (last == active_) {
      (void)writer_->Close();
      writer_.reset();
      active_.reset();
    }
    // One durable deletion at a time, last segment first: a crash then leaves a contiguous run
    // of segments (a log that is merely not cut yet), never a hole that Open would refuse.
    RDB_RETURN_IF_ERROR(options_.env->DeleteFile(last->path));
    RDB_RETURN_IF_ERROR(options_.env->SyncDir(dir_));
    next_segment_number_ = last->number;  // numbers stay contiguous (Open checks that)
    log_internal::MutexLock lock(&segments_mu_);
    segments_.pop_back();
  }
}

Status EventLog::Impl::CutActive(const Cut& cut) {
  if (writer_) (void)writer_->Close();
  writer_.reset();
  if (cut.offset < active_->size.load(std::memory_order_relaxed)) {
    RDB_RETURN_IF_ERROR(options_.env->TruncateFile(active_->path, cut.offset));
  }
  active_->size.store(cut.offset, std::memory_order_release);
  {
    log_internal::MutexLock lock(&active_->mu);
    std::erase_if(active_->index,
                  [&](const log_internal::IndexEntry& e) { return e.offset >= cut.offset; });
  }
  unsynced_ = true;  // the new size must reach the disk
  return OpenWriter();
}

Status EventLog::Impl::TruncateAfter(uint64_t seq) {
  log_internal::MutexLock lock(&writer_mu_);
  RDB_RETURN_IF_ERROR(CheckWritable());
  if (seq >= last_seq_.load(std::memory_order_relaxed)) return Status::OK();
  log_internal::WriterLock cut_lock(&cut_mu_);  // readers wait; they re-seek afterwards

  // Find the cut before changing anything, so a read error leaves the log as it was.
  std::shared_ptr<Segment> keep = SegmentForSeq(seq);
  if (keep && keep->base_seq > seq) keep.reset();  // seq is below the whole log
  Cut cut;
  if (keep) {
    RDB_ASSIGN_OR_RETURN(cut, FindCut(keep.get(), seq));
  }

  generation_.fetch_add(1, std::memory_order_release);
  Status s = RemoveSegmentsAfter(seq);
  if (s.ok() && keep) {
    if (active_ != keep) {
      if (writer_) (void)writer_->Close();
      writer_.reset();
      active_ = keep;
    }
    s = CutActive(cut);
  }
  if (s.ok()) s = SyncLocked();
  last_seq_.store(keep ? cut.last_seq : 0, std::memory_order_release);
  if (published_seq_.load(std::memory_order_relaxed) > last_seq_.load(std::memory_order_relaxed)) {
    published_seq_.store(last_seq_.load(std::memory_order_relaxed), std::memory_order_release);
  }
  if (!s.ok()) (void)Fail(s);  // the files may no longer match memory: reopen to recover
  return s;
}

EventLog::Stats EventLog::Impl::stats() const {
  Stats st;
  st.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  st.syncs = syncs_.load(std::memory_order_relaxed);
  log_internal::MutexLock lock(&segments_mu_);
  st.segments = segments_.size();
  return st;
}

// ---- interval syncer and close ----

void EventLog::Impl::StartSyncer() {
  if (options_.fsync != FsyncPolicy::kInterval) return;
  syncer_ = std::thread([this] { SyncerLoop(); });
}

void EventLog::Impl::SyncerLoop() {
  const auto interval = std::chrono::milliseconds(options_.fsync_interval_ms);
  while (true) {
    {
      std::unique_lock lock(syncer_mu_);
      if (syncer_cv_.wait_for(lock, interval, [this] { return syncer_stop_; })) return;
    }
    // An error makes the log read-only (failed_), so the writer's next call reports it.
    (void)Sync();
  }
}

void EventLog::Impl::StopSyncer() {
  {
    std::lock_guard lock(syncer_mu_);
    syncer_stop_ = true;
  }
  syncer_cv_.notify_all();
  if (syncer_.joinable()) syncer_.join();
}

Status EventLog::Impl::Close() {
  StopSyncer();
  log_internal::MutexLock lock(&writer_mu_);
  if (closed_) return Status::OK();
  closed_ = true;
  Status s = SyncLocked();
  if (writer_) {
    Status c = writer_->Close();
    if (s.ok()) s = c;
    writer_.reset();
  }
  return s;
}

}  // namespace rdb
