#include "engine/engine.h"

#include <algorithm>
#include <chrono>

#include "engine/engine_impl.h"
#include "spdlog/spdlog.h"

namespace rdb {
namespace {

constexpr uint32_t kDataDirFormatVersion = 1;
constexpr std::string_view kFormatFileHeader = "rdeebee data directory, format ";

bool IsSystemKey(std::string_view key) { return !key.empty() && key[0] == kSystemKeyPrefix; }

// What an event weighs in a response (kReadBytesMax): its bytes plus a little for the fixed fields.
size_t EventBytes(const Event& e) {
  return e.key.size() + e.payload.size() + e.event_type.size() + e.idempotency_id.size() + 32;
}

}  // namespace

Status ValidateKey(std::string_view key, bool system) {
  if (key.empty()) return Status::InvalidArgument("key is empty (keys are 1..1024 bytes)");
  if (key.size() > kKeyBytesMax) {
    return Status::InvalidArgument("key is " + std::to_string(key.size()) +
                                   " bytes; the maximum is " + std::to_string(kKeyBytesMax) +
                                   " (key_bytes_max)");
  }
  if (IsSystemKey(key) && !system) {
    return Status::InvalidArgument("keys beginning with '$' are reserved for the system");
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Open and recovery

Status Engine::Impl::CheckDataDir() {
  Env* env = options_.env;
  const std::string path = JoinPath(options_.data_dir, "FORMAT");
  const std::string expected =
      std::string(kFormatFileHeader) + std::to_string(kDataDirFormatVersion) + "\n";
  if (!env->FileExists(path)) {
    auto children = env->GetChildren(options_.data_dir);
    if (children.ok()) {
      for (const auto& name : *children) {
        if (name == "log" || name == "index") {
          return Status::Corruption(options_.data_dir +
                                    " holds log/ or index/ but no FORMAT file; refusing to guess");
        }
      }
    }
    return WriteFileAtomic(env, path, expected);
  }
  std::string got;
  RDB_RETURN_IF_ERROR(ReadFileToString(env, path, &got));
  if (got == expected) return Status::OK();
  if (got.rfind(kFormatFileHeader, 0) == 0) {
    std::string version = got.substr(kFormatFileHeader.size());
    while (!version.empty() && version.back() == '\n') version.pop_back();
    return Status::NotSupported(path + ": data directory written by format version " + version +
                                "; this build reads version " +
                                std::to_string(kDataDirFormatVersion));
  }
  return Status::Corruption(path + ": not an RDeeBee FORMAT file");
}

Status Engine::Impl::Open() {
  Env* env = options_.env;
  RDB_RETURN_IF_ERROR(env->CreateDirs(options_.data_dir));
  auto lock = env->LockFile(JoinPath(options_.data_dir, "LOCK"));
  if (!lock.ok()) {
    if (lock.status().code() == Code::kAlreadyExists) {
      return Status::AlreadyExists("data directory " + options_.data_dir +
                                   " is in use by another process (LOCK is held)");
    }
    return lock.status();
  }
  lock_ = std::move(lock).value();
  RDB_RETURN_IF_ERROR(CheckDataDir());

  LogOptions lo;
  lo.env = env;
  lo.clock = options_.clock;
  lo.segment_bytes_max = options_.segment_bytes_max;
  lo.fsync = options_.fsync;
  lo.fsync_interval_ms = options_.fsync_interval_ms;
  LogRecoveryInfo info;
  const std::string log_dir = JoinPath(options_.data_dir, "log");
  RDB_RETURN_IF_ERROR(env->CreateDirs(log_dir));
  RDB_ASSIGN_OR_RETURN(log_, EventLog::Open(lo, log_dir, &info));
  if (info.truncated_tail_bytes > 0) {
    spdlog::warn("event log: repaired a torn tail: cut {} bytes from {}", info.truncated_tail_bytes,
                 info.truncated_tail_file);
  }

  LsmOptions io;
  io.env = env;
  io.memtable_bytes = options_.memtable_bytes;
  io.block_cache_bytes = options_.block_cache_bytes;
  io.compression = options_.compression;
  // The index must never refer to log bytes a crash could take away: make the log durable first.
  EventLog* log = log_.get();
  io.before_flush = [log](uint64_t) { return log->Sync(); };
  RDB_ASSIGN_OR_RETURN(index_, LsmTree::Open(io, JoinPath(options_.data_dir, "index")));

  RDB_RETURN_IF_ERROR(Recover());
  {
    RDB_ASSIGN_OR_RETURN(auto epochs, EpochHistory::Open(env, JoinPath(options_.data_dir, "EPOCHS"),
                                                         log_->last_seq()));
    std::lock_guard lock(epochs_mu_);
    epochs_.emplace(std::move(epochs));
  }
  RDB_ASSIGN_OR_RETURN(auto seq, LocalSequencer::Open(env, JoinPath(options_.data_dir, "SEQUENCER"),
                                                      log_->last_seq()));
  sequencer_.emplace(std::move(seq));
  StartIndexer();
  committer_ = std::thread([this] { CommitterLoop(); });
  return Status::OK();
}

// Replays the log after the index's flushed seq into the memtable. Records are re-applied whole,
// which is idempotent, so a record that straddles flushed_seq is simply applied again.
Status Engine::Impl::Recover() {
  const uint64_t from = index_->flushed_seq() + 1;
  log_->Publish(log_->last_seq());
  RDB_ASSIGN_OR_RETURN(auto reader, log_->NewReader(from));
  ReadRecord rr;
  uint64_t records = 0;
  for (;;) {
    RDB_ASSIGN_OR_RETURN(bool more, reader->Next(&rr));
    if (!more) break;
    RDB_RETURN_IF_ERROR(ApplyToIndex(IndexOp::From(rr.record, rr.position)));
    records++;
  }
  {
    std::lock_guard lock(seq_mu_);
    committed_seq_ = log_->last_seq();
  }
  {
    std::lock_guard lock(index_mu_);
    indexed_seq_ = log_->last_seq();
    indexed_cv_.notify_all();  // after a truncation, waiters for higher seqs must re-check
  }
  if (records > 0) {
    spdlog::info("recovery: replayed {} log records after seq {} into the index", records,
                 from - 1);
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// Reads

Status Engine::Impl::ReadEvent(const index::Pointer& ptr, std::string_view key, ReadRecord* cache,
                               Event* out) const {
  if (cache->record.events.empty() || !(cache->position == ptr.position)) {
    RDB_RETURN_IF_ERROR(log_->ReadAt(ptr.position, cache));
  }
  const LogRecord& r = cache->record;
  if (r.key != key || ptr.index_in_record >= r.events.size() ||
      r.first_seq + ptr.index_in_record != ptr.seq) {
    return Status::Corruption("index entry for seq " + std::to_string(ptr.seq) +
                              " does not match the log record at segment " +
                              std::to_string(ptr.position.segment) + " offset " +
                              std::to_string(ptr.position.offset));
  }
  const LogEvent& e = r.events[ptr.index_in_record];
  out->key.assign(r.key);
  out->seq = ptr.seq;
  out->version = r.first_version + ptr.index_in_record;
  out->kind = e.kind;
  out->event_type.assign(e.event_type);
  out->payload.assign(e.payload);
  out->idempotency_id.assign(r.idempotency_id);
  out->timestamp_ms = r.timestamp_ms;
  out->epoch = r.epoch;
  return Status::OK();
}

Result<KeyState> Engine::Impl::GetKeyState(const std::string& key) {
  RDB_RETURN_IF_ERROR(ValidateKey(key, true));
  RDB_RETURN_IF_ERROR(WaitIndexed(last_seq()));
  std::string value;
  Status s = index_->Get(index::LatestKey(key), &value);
  if (s.IsNotFound()) return KeyState{};
  RDB_RETURN_IF_ERROR(s);
  index::Latest latest;
  if (!index::DecodeLatest(value, &latest)) {
    return Status::Corruption("index: undecodable latest entry for a key");
  }
  return KeyState{latest.version, latest.ptr.seq, latest.kind};
}

Result<Event> Engine::Impl::Get(const std::string& key) {
  RDB_RETURN_IF_ERROR(ValidateKey(key, true));
  RDB_RETURN_IF_ERROR(WaitIndexed(last_seq()));
  std::string value;
  Status s = index_->Get(index::LatestKey(key), &value);
  if (s.IsNotFound()) return Status::NotFound("key not found");
  RDB_RETURN_IF_ERROR(s);
  index::Latest latest;
  if (!index::DecodeLatest(value, &latest)) {
    return Status::Corruption("index: undecodable latest entry for a key");
  }
  if (latest.kind == EventKind::kDelete) {
    return Status::NotFound("key was deleted at version " + std::to_string(latest.version));
  }
  ReadRecord rr;
  Event e;
  RDB_RETURN_IF_ERROR(ReadEvent(latest.ptr, key, &rr, &e));
  return e;
}

Result<ReadResult> Engine::Impl::ReadStream(const ReadStreamRequest& req) {
  RDB_RETURN_IF_ERROR(ValidateKey(req.key, true));
  if (req.limit == 0 || req.limit > kReadLimitMax) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kReadLimitMax));
  }
  RDB_ASSIGN_OR_RETURN(KeyState state, GetKeyState(req.key));
  ReadResult out;
  const bool forward = req.direction == Direction::kForward;
  uint64_t v;
  if (forward) {
    v = std::max<uint64_t>(1, req.from_version);
  } else {
    v = req.from_version == 0 ? state.version : std::min(req.from_version, state.version);
  }
  size_t bytes = 0;
  ReadRecord cache;
  while (v >= 1 && v <= state.version) {
    if (out.events.size() >= req.limit) {
      out.next = v;
      break;
    }
    std::string value;
    RDB_RETURN_IF_ERROR(index_->Get(index::StreamKey(req.key, v), &value)
                            .Annotate("stream entry v" + std::to_string(v)));
    index::Pointer ptr;
    if (!index::DecodePointer(value, &ptr)) {
      return Status::Corruption("index: undecodable stream entry v" + std::to_string(v));
    }
    Event e;
    RDB_RETURN_IF_ERROR(ReadEvent(ptr, req.key, &cache, &e));
    const size_t size = EventBytes(e);
    if (!out.events.empty() && bytes + size > kReadBytesMax) {
      out.next = v;  // a response holds at most kReadBytesMax; the next one starts here
      break;
    }
    bytes += size;
    out.events.push_back(std::move(e));
    v = forward ? v + 1 : v - 1;
  }
  return out;
}

Result<ReadResult> Engine::Impl::ReadAll(const ReadAllRequest& req) {
  if (req.limit == 0 || req.limit > kReadLimitMax) {
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kReadLimitMax));
  }
  const uint64_t end = last_seq();
  RDB_ASSIGN_OR_RETURN(auto reader, log_->NewReader(std::max<uint64_t>(1, req.from_seq)));
  ReadResult out;
  size_t bytes = 0;
  ReadRecord rr;
  for (;;) {
    RDB_ASSIGN_OR_RETURN(bool more, reader->Next(&rr));
    if (!more) break;
    const LogRecord& r = rr.record;
    if (r.first_seq > end) break;
    if (IsSystemKey(r.key) && !req.include_system) continue;
    for (size_t i = 0; i < r.events.size(); i++) {
      uint64_t seq = r.first_seq + i;
      if (seq < req.from_seq || seq > end) continue;
      if (out.events.size() >= req.limit) {
        out.next = seq;
        return out;
      }
      const LogEvent& le = r.events[i];
      Event e;
      e.key.assign(r.key);
      e.seq = seq;
      e.version = r.first_version + i;
      e.kind = le.kind;
      e.event_type.assign(le.event_type);
      e.payload.assign(le.payload);
      e.idempotency_id.assign(r.idempotency_id);
      e.timestamp_ms = r.timestamp_ms;
      e.epoch = r.epoch;
      const size_t size = EventBytes(e);
      if (!out.events.empty() && bytes + size > kReadBytesMax) {
        out.next = seq;
        return out;
      }
      bytes += size;
      out.events.push_back(std::move(e));
    }
  }
  return out;
}

Result<std::unique_ptr<LogReader>> Engine::Impl::NewLogReader(uint64_t from_seq) {
  return log_->NewReader(from_seq);
}

uint64_t Engine::Impl::last_seq() const {
  std::lock_guard lock(seq_mu_);
  return committed_seq_;
}

uint64_t Engine::Impl::WaitForSeq(uint64_t seq, uint64_t timeout_ms) {
  std::unique_lock lock(seq_mu_);
  seq_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                   [&] { return committed_seq_ > seq; });
  return committed_seq_;
}

Engine::Stats Engine::Impl::stats() const {
  Engine::Stats s;
  {
    std::lock_guard lock(stats_mu_);
    s = stats_;
  }
  EventLog::Stats ls = log_->stats();
  s.log_syncs = ls.syncs;
  s.log_bytes = ls.bytes_written;
  s.last_seq = last_seq();
  s.index = index_->stats();
  return s;
}

// ---------------------------------------------------------------------------------------------
// The public face

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() { (void)impl_->Close(); }

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  Status s = impl->Open();
  if (!s.ok()) {
    (void)impl->Close();
    return s;
  }
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Result<AppendResult> Engine::Append(AppendRequest request) {
  RDB_RETURN_IF_ERROR(impl_->ValidateRequest(request));
  PendingWrite w;
  w.request = &request;
  return impl_->Submit(&w);
}

Result<AppendResult> Engine::Delete(const std::string& key, ExpectedVersion expected,
                                    const std::string& idempotency_id) {
  AppendRequest request;
  request.key = key;
  request.events.push_back(EventData{EventKind::kDelete, "", ""});
  request.expected = expected;
  request.idempotency_id = idempotency_id;
  RDB_RETURN_IF_ERROR(impl_->ValidateRequest(request));
  PendingWrite w;
  w.request = &request;
  w.delete_requires_present = true;
  return impl_->Submit(&w);
}

void Engine::AppendAsync(AppendRequest request, AppendCallback done) {
  Status valid = impl_->ValidateRequest(request);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  auto w = std::make_unique<PendingWrite>();
  w->owned = std::make_unique<AppendRequest>(std::move(request));
  w->request = w->owned.get();
  w->on_done = std::move(done);
  impl_->SubmitAsync(std::move(w));
}

void Engine::DeleteAsync(const std::string& key, ExpectedVersion expected,
                         const std::string& idempotency_id, AppendCallback done) {
  auto request = std::make_unique<AppendRequest>();
  request->key = key;
  request->events.push_back(EventData{EventKind::kDelete, "", ""});
  request->expected = expected;
  request->idempotency_id = idempotency_id;
  Status valid = impl_->ValidateRequest(*request);
  if (!valid.ok()) {
    done(valid);
    return;
  }
  auto w = std::make_unique<PendingWrite>();
  w->owned = std::move(request);
  w->request = w->owned.get();
  w->delete_requires_present = true;
  w->on_done = std::move(done);
  impl_->SubmitAsync(std::move(w));
}

Result<Event> Engine::Get(const std::string& key) { return impl_->Get(key); }
Result<KeyState> Engine::GetKeyState(const std::string& key) { return impl_->GetKeyState(key); }
Result<ReadResult> Engine::ReadStream(const ReadStreamRequest& r) { return impl_->ReadStream(r); }
Result<ReadResult> Engine::ReadAll(const ReadAllRequest& r) { return impl_->ReadAll(r); }

Status Engine::AppendReplicated(const LogRecord& record) {
  PendingWrite w;
  w.replicated = &record;
  auto r = impl_->Submit(&w);
  return r.status();
}

void Engine::AppendReplicatedAsync(std::string body, AppendCallback done) {
  auto w = std::make_unique<PendingWrite>();
  w->owned_body = std::move(body);
  Status s = DecodeRecordBody(w->owned_body, &w->owned_record);
  if (!s.ok()) {
    done(s.Annotate("replicated record"));
    return;
  }
  w->replicated = &w->owned_record;
  w->on_done = std::move(done);
  impl_->SubmitAsync(std::move(w));
}

void Engine::AppendReplicatedBatchAsync(std::vector<std::string> bodies,
                                        const AppendCallback& done) {
  std::vector<std::unique_ptr<PendingWrite>> writes;
  writes.reserve(bodies.size());
  for (std::string& body : bodies) {
    auto w = std::make_unique<PendingWrite>();
    w->owned_body = std::move(body);
    Status s = DecodeRecordBody(w->owned_body, &w->owned_record);
    if (!s.ok()) {
      // Nothing after a bad record is applied either: the records follow each other.
      const size_t good = writes.size();
      impl_->SubmitAsyncMany(std::move(writes));
      for (size_t i = good; i < bodies.size(); i++) {
        done(s.Annotate("replicated record"));
      }
      return;
    }
    w->replicated = &w->owned_record;
    w->on_done = done;
    writes.push_back(std::move(w));
  }
  impl_->SubmitAsyncMany(std::move(writes));
}

void Engine::SetCommitHook(CommitHook* hook) { impl_->SetCommitHook(hook); }
uint64_t Engine::last_epoch() const { return impl_->last_epoch(); }
uint64_t Engine::EpochEndSeq(uint64_t epoch) const { return impl_->EpochEndSeq(epoch); }

Status Engine::TruncateAfter(uint64_t seq) { return impl_->TruncateAfter(seq); }
Result<std::unique_ptr<LogReader>> Engine::NewLogReader(uint64_t from_seq) {
  return impl_->NewLogReader(from_seq);
}
uint64_t Engine::last_seq() const { return impl_->last_seq(); }
uint64_t Engine::WaitForSeq(uint64_t seq, uint64_t timeout_ms) {
  return impl_->WaitForSeq(seq, timeout_ms);
}
Engine::Stats Engine::stats() const { return impl_->stats(); }
Status Engine::Close() { return impl_->Close(); }

}  // namespace rdb
