// The LsmTree write and read paths, Open/Close and recovery. Background work:
// lsm_tree_background.cc.
#include <algorithm>

#include "lsm/bloom.h"
#include "lsm/db_iterator.h"
#include "lsm/lsm_tree_impl.h"
#include "lsm/merging_iterator.h"

namespace rdb {

using lsm::LsmTreeImpl;

namespace {

Status ValidateOptions(const LsmOptions& o) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument("LsmOptions: " + what); };
  if (o.env == nullptr) return bad("env is null");
  if (o.memtable_bytes < (16u << 10)) return bad("memtable_bytes must be >= 16 KiB");
  if (o.block_bytes < 256 || o.block_bytes > (16u << 20)) return bad("block_bytes out of range");
  if (o.bloom_bits_per_key < 0 || o.bloom_bits_per_key > 40) return bad("bloom_bits_per_key");
  if (o.compression != Compression::kNone && o.compression != Compression::kZstd &&
      o.compression != Compression::kLz4) {
    return bad("unknown compression");
  }
  if (o.table_file_bytes_max < (16u << 10)) return bad("table_file_bytes_max must be >= 16 KiB");
  if (o.l0_compaction_trigger < 1) return bad("l0_compaction_trigger must be >= 1");
  if (o.l0_stop_writes < o.l0_compaction_trigger) return bad("l0_stop_writes < trigger");
  if (o.l1_bytes_max < (16u << 10)) return bad("l1_bytes_max must be >= 16 KiB");
  if (o.max_open_tables < 1) return bad("max_open_tables must be >= 1");
  if (o.background_retry_ms_max < 1) return bad("background_retry_ms_max must be >= 1");
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<LsmTree>> LsmTree::Open(const LsmOptions& options, const std::string& dir) {
  RDB_RETURN_IF_ERROR(ValidateOptions(options));
  auto tree = std::make_unique<LsmTreeImpl>(options, dir);
  RDB_RETURN_IF_ERROR(tree->Init());
  return std::unique_ptr<LsmTree>(std::move(tree));
}

}  // namespace rdb

namespace rdb::lsm {
namespace {

uint64_t MicrosSince(SteadyTime start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

}  // namespace

LsmTreeImpl::LsmTreeImpl(const LsmOptions& options, std::string dir)
    : options_(options), dir_(std::move(dir)), env_(options.env) {}

LsmTreeImpl::~LsmTreeImpl() { (void)Close(); }

std::shared_ptr<MemTable> LsmTreeImpl::NewMemTable() const {
  size_t block = std::clamp<size_t>(options_.memtable_bytes / 32, 4 << 10, 256 << 10);
  // About one hash bucket per 128 bytes of budget: short chains for small entries, and the
  // bucket array (counted in the budget) stays at 1/16 of it.
  return std::make_shared<MemTable>(block, options_.memtable_bytes / 128);
}

Status LsmTreeImpl::CheckOpenTables(const Version& v) {
  for (int level = 0; level < kNumLevels; level++) {
    for (const FileRef& f : v.files[level]) {
      std::string path = JoinPath(dir_, TableFileName(f->number));
      auto size = env_->GetFileSize(path);
      if (!size.ok()) {
        if (size.status().code() == Code::kNotFound) {
          return Status::Corruption(path + ": live table file is missing");
        }
        return size.status();
      }
      if (*size != f->file_size) {
        return Status::Corruption(path + ": size " + std::to_string(*size) +
                                  " differs from the manifest's " + std::to_string(f->file_size));
      }
    }
  }
  return Status::OK();
}

Status LsmTreeImpl::Init() {
  RDB_RETURN_IF_ERROR(env_->CreateDirs(dir_));
  RDB_ASSIGN_OR_RETURN(lock_, env_->LockFile(JoinPath(dir_, kLockFileName)));
  block_cache_ = std::make_shared<BlockCache>(options_.block_cache_bytes, 1 << 20);
  table_cache_ = std::make_shared<TableCache>(env_, dir_, options_.max_open_tables, block_cache_);
  versions_ = std::make_unique<VersionSet>(env_, dir_);

  Status s = versions_->Recover();
  if (s.code() == Code::kNotFound) {
    // A new tree. Tables without a CURRENT mean CURRENT was lost, not that the tree is new.
    RDB_ASSIGN_OR_RETURN(auto children, env_->GetChildren(dir_));
    for (const std::string& name : children) {
      uint64_t number;
      if (ParseFileName(name, &number) == FileType::kTable) {
        return Status::Corruption(JoinPath(dir_, name) + ": table file present but " +
                                  JoinPath(dir_, kCurrentFileName) + " is missing");
      }
    }
  } else if (!s.ok()) {
    return s;
  }
  RDB_RETURN_IF_ERROR(CheckOpenTables(*versions_->current()));
  // A fresh manifest, so that nothing is ever appended after a torn tail. With the disk full the
  // tree still opens: the recovered state stays readable, no file is deleted, and the next flush
  // rolls the manifest again (and is retried until space returns).
  Status snapshot = versions_->WriteSnapshot();
  if (!snapshot.ok() && snapshot.code() != Code::kNoSpace) return snapshot;
  if (!snapshot.ok()) {
    MutexLock l(&mu_);
    stats_.background_errors++;
    stats_.last_background_error = snapshot.ToString();
  }
  versions_->DeleteObsoleteFiles(table_cache_.get(), /*include_temp=*/true);

  job_.env = env_;
  job_.dir = dir_;
  job_.table_options.block_bytes = options_.block_bytes;
  job_.table_options.bloom_bits_per_key = options_.bloom_bits_per_key;
  job_.table_options.compression = options_.compression;
  job_.table_file_bytes_max = options_.table_file_bytes_max;
  job_.versions = versions_.get();
  job_.table_cache = table_cache_;
  job_.stop = &stop_flag_;

  last_seq_.store(versions_->last_sequence(), std::memory_order_release);
  {
    MutexLock wl(&write_mu_);
    MutexLock l(&mu_);
    mem_ = NewMemTable();
    writer_mem_ = mem_.get();
    version_ = versions_->current();
    PublishView();
  }
  flush_thread_ = std::thread([this] { FlushThread(); });
  compaction_thread_ = std::thread([this] { CompactionThread(); });
  return Status::OK();
}

Status LsmTreeImpl::Close() {
  {
    MutexLock l(&mu_);
    if (closed_.load()) return Status::OK();
    closed_.store(true);
    stop_ = true;
    stop_flag_.store(true);
    cv_.SignalAll();
  }
  if (flush_thread_.joinable()) flush_thread_.join();
  if (compaction_thread_.joinable()) compaction_thread_.join();
  lock_.reset();
  return Status::OK();
}

void LsmTreeImpl::PublishView() {
  auto v = std::make_shared<View>();
  v->mem = mem_;
  v->imm = imm_;
  v->version = version_;
  view_ = std::move(v);
}

std::shared_ptr<const LsmTreeImpl::View> LsmTreeImpl::GetView() const {
  MutexLock l(&mu_);
  return view_;
}

// ---- Writes ----------------------------------------------------------------------------------

Status LsmTreeImpl::Put(std::string_view key, std::string_view value, uint64_t seq) {
  return Write(ValueType::kValue, key, value, seq);
}

Status LsmTreeImpl::Delete(std::string_view key, uint64_t seq) {
  return Write(ValueType::kDeletion, key, {}, seq);
}

Status LsmTreeImpl::Write(ValueType type, std::string_view key, std::string_view value,
                          uint64_t seq) {
  if (key.size() > kKeyBytesMax) return Status::InvalidArgument("key longer than 64 KiB");
  if (value.size() > kValueBytesMax) return Status::InvalidArgument("value longer than 32 MiB");
  MutexLock wl(&write_mu_);
  if (closed_.load(std::memory_order_relaxed)) return Status::Unavailable("LSM tree is closed");
  if (failed_.load(std::memory_order_relaxed)) return background_error();
  MemTable* mem = writer_mem_;
  if (mem->ApproximateBytes() >= options_.memtable_bytes && !mem->empty() &&
      seq != mem->last_log_seq()) {
    RDB_RETURN_IF_ERROR(MakeRoom(seq));
    mem = writer_mem_;
  }
  uint64_t iseq = last_seq_.load(std::memory_order_relaxed) + 1;
  mem->Add(iseq, type, key, value, seq);
  last_seq_.store(iseq, std::memory_order_release);
  return Status::OK();
}

Status LsmTreeImpl::MakeRoom(uint64_t seq) {
  (void)seq;
  MutexLock l(&mu_);
  const SteadyTime start = std::chrono::steady_clock::now();
  const SteadyTime deadline = start + std::chrono::milliseconds(options_.write_stall_ms_max);
  bool stalled = false;
  while (true) {
    if (!bg_error_.ok()) return bg_error_;
    if (stop_) return Status::Unavailable("LSM tree is closing");
    bool l0_full = version_->files[0].size() >= static_cast<size_t>(options_.l0_stop_writes);
    if (imm_ == nullptr && !l0_full) break;
    if (!stalled) {
      stalled = true;
      stats_.write_stalls++;
    }
    if (cv_.WaitUntil(&mu_, deadline)) {
      stats_.write_stall_micros += MicrosSince(start);
      std::string why = imm_ != nullptr ? "the previous memtable is not flushed yet"
                                        : "level 0 has too many tables";
      if (imm_ != nullptr && imm_->last_log_seq() > flush_limit_) why += " (held by flush limit)";
      if (!flush_retry_.last_status.ok())
        why += "; last flush: " + flush_retry_.last_status.ToString();
      return Status::ResourceExhausted("write stalled for " +
                                       std::to_string(options_.write_stall_ms_max) + " ms: " + why);
    }
  }
  if (stalled) stats_.write_stall_micros += MicrosSince(start);
  imm_ = std::move(mem_);
  mem_ = NewMemTable();
  writer_mem_ = mem_.get();
  PublishView();
  cv_.SignalAll();
  return Status::OK();
}

Status LsmTreeImpl::WaitForImmutable(uint64_t since) {
  while (imm_ != nullptr) {
    if (!bg_error_.ok()) return bg_error_;
    if (stop_) return Status::Unavailable("LSM tree is closing");
    if (imm_->last_log_seq() > flush_limit_) {
      return Status::FailedPrecondition("memtable holds seq " +
                                        std::to_string(imm_->last_log_seq()) +
                                        " above the flush limit " + std::to_string(flush_limit_));
    }
    if (flush_retry_.last_failed > since) return flush_retry_.last_status;
    cv_.Wait(&mu_);
  }
  return Status::OK();
}

Status LsmTreeImpl::Flush() {
  MutexLock wl(&write_mu_);
  MutexLock l(&mu_);
  if (closed_.load()) return Status::Unavailable("LSM tree is closed");
  // Only failures of attempts that start from now on count: an attempt already running may have
  // started before the condition that failed it went away.
  const uint64_t since = flush_retry_.started;
  RDB_RETURN_IF_ERROR(WaitForImmutable(since));
  if (!mem_->empty()) {
    if (mem_->last_log_seq() > flush_limit_) {
      return Status::FailedPrecondition("memtable holds seq " +
                                        std::to_string(mem_->last_log_seq()) +
                                        " above the flush limit " + std::to_string(flush_limit_));
    }
    imm_ = std::move(mem_);
    mem_ = NewMemTable();
    writer_mem_ = mem_.get();
    PublishView();
    cv_.SignalAll();
  }
  return WaitForImmutable(since);
}

Status LsmTreeImpl::DropUnflushed() {
  MutexLock wl(&write_mu_);
  MutexLock l(&mu_);
  while (flushing_) cv_.Wait(&mu_);
  imm_.reset();
  mem_ = NewMemTable();
  writer_mem_ = mem_.get();
  PublishView();
  cv_.SignalAll();
  return Status::OK();
}

void LsmTreeImpl::SetFlushLimit(uint64_t limit) {
  MutexLock l(&mu_);
  flush_limit_ = limit;
  cv_.SignalAll();
}

// ---- Reads -----------------------------------------------------------------------------------

Status LsmTreeImpl::Get(std::string_view key, std::string* value) {
  if (closed_.load(std::memory_order_relaxed)) return Status::Unavailable("LSM tree is closed");
  std::shared_ptr<const View> view = GetView();
  LookupKey lk(key);
  LookupResult r = view->mem->Get(lk, value);
  if (r == LookupResult::kAbsent && view->imm != nullptr) r = view->imm->Get(lk, value);
  if (r == LookupResult::kAbsent) {
    RDB_RETURN_IF_ERROR(view->version->Get(lk, BloomHash(key), table_cache_.get(), &r, value));
  }
  if (r == LookupResult::kFound) return Status::OK();
  return Status::NotFound("key not found");
}

std::unique_ptr<LsmIterator> LsmTreeImpl::NewIterator() {
  // The snapshot first: every write up to it is then in the View taken next.
  uint64_t snapshot = last_seq_.load(std::memory_order_acquire);
  std::shared_ptr<const View> view = GetView();
  std::vector<std::unique_ptr<InternalIterator>> children;
  children.push_back(view->mem->NewIterator());
  if (view->imm != nullptr) children.push_back(view->imm->NewIterator());
  view->version->AddIterators(table_cache_, /*fill_cache=*/true, &children);
  return NewDbIterator(NewMergingIterator(std::move(children)), snapshot, std::move(view));
}

uint64_t LsmTreeImpl::flushed_seq() const { return versions_->flushed_seq(); }

Status LsmTreeImpl::background_error() const {
  MutexLock l(&mu_);
  if (!bg_error_.ok()) return bg_error_;
  if (!flush_retry_.last_status.ok()) return flush_retry_.last_status;
  return compact_retry_.last_status;
}

LsmTree::Stats LsmTreeImpl::stats() const {
  MutexLock l(&mu_);
  Stats s = stats_;
  s.memtable_bytes = mem_->ApproximateBytes() + (imm_ != nullptr ? imm_->ApproximateBytes() : 0);
  s.table_count = version_->TableCount();
  s.table_bytes = version_->TotalBytes();
  s.levels = version_->LevelSummary();
  return s;
}

}  // namespace rdb::lsm
