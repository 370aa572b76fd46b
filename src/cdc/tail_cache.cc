#include "cdc/tail_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace rdb::cdc {

namespace {
size_t RecordBytes(const ReadRecord& r) {
  return r.buffer.capacity() + r.record.events.capacity() * sizeof(LogEvent) + sizeof(ReadRecord);
}
}  // namespace

TailCache::TailCache(Engine* engine, TailCacheOptions options)
    : engine_(engine), options_(options) {}

TailCache::~TailCache() { Stop(); }

void TailCache::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  window_begin_ = end_ = engine_->last_seq();
  thread_ = std::thread([this] { Run(); });
}

void TailCache::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TailCache::AddUser() {
  {
    std::lock_guard lock(mu_);
    if (users_++ > 0) return;
    // A first user: restart the window, empty, at the committed end now. Whatever the thread is
    // reading for an earlier generation is dropped (Publish checks the generation), so the ring
    // stays one contiguous range of seqs.
    ring_.clear();
    ring_bytes_ = 0;
    window_begin_ = end_ = std::max(end_, engine_->last_seq());
    generation_++;
  }
  run_cv_.notify_all();
  cv_.notify_all();  // end_ may have moved
}

void TailCache::RemoveUser() {
  std::lock_guard lock(mu_);
  if (users_ > 0) users_--;
  // The thread notices within poll_ms and goes idle.
}

TailCache::Lookup TailCache::Find(uint64_t position, std::shared_ptr<const TailChunk>* chunk,
                                  uint64_t* end) const {
  std::lock_guard lock(mu_);
  *end = end_;
  if (failed_ || position < window_begin_) return Lookup::kLagging;
  if (position >= end_) return Lookup::kCaughtUp;
  // The first chunk whose end is above position (chunks are contiguous and in order).
  auto it = std::upper_bound(
      ring_.begin(), ring_.end(), position,
      [](uint64_t p, const std::shared_ptr<const TailChunk>& c) { return p < c->end; });
  if (it == ring_.end()) return Lookup::kCaughtUp;  // unreachable: position < end_
  *chunk = *it;
  return Lookup::kFound;
}

uint64_t TailCache::end() const {
  std::lock_guard lock(mu_);
  return end_;
}

uint64_t TailCache::WaitPast(uint64_t position, uint64_t timeout_ms) const {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return end_ > position || stop_; });
  return end_;
}

TailCache::Stats TailCache::stats() const {
  std::lock_guard lock(mu_);
  Stats st;
  st.chunks = ring_.size();
  st.bytes = ring_bytes_;
  st.window_begin = window_begin_;
  st.end = end_;
  st.users = users_;
  st.active = active_;
  st.records_read = records_read_.load(std::memory_order_relaxed);
  st.restarts = generation_;
  return st;
}

bool TailCache::Publish(std::shared_ptr<TailChunk> chunk, uint64_t gen) {
  {
    std::lock_guard lock(mu_);
    if (gen != generation_) return false;  // restarted meanwhile: the chunk is from before
    ring_bytes_ += chunk->bytes;
    end_ = chunk->end;
    ring_.push_back(std::move(chunk));
    while (ring_bytes_ > options_.bytes_max && ring_.size() > 1) {
      ring_bytes_ -= ring_.front()->bytes;
      ring_.pop_front();
      window_begin_ = ring_.front()->begin;
    }
  }
  cv_.notify_all();
  return true;
}

void TailCache::Run() {
  uint64_t gen = 0;
  uint64_t end = 0;
  uint64_t waited = 0;  // above `end` only while a record straddles the committed end
  bool synced = false;  // gen/end/waited match generation_
  std::unique_ptr<LogReader> reader;
  ReadRecord pending;
  bool have_pending = false;
  auto fail = [&](const Status& s) {
    spdlog::error("cdc tail cache stopped after seq {}: {}; subscribers read the log themselves",
                  end, s.ToString());
    std::lock_guard lock(mu_);
    failed_ = true;
    active_ = false;
  };
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (users_ == 0 && !stop_) {
        // Idle: drop the ring (nobody reads it; the next user restarts the window) and wait for a
        // user on our own condition variable, not on the engine's commits.
        active_ = false;
        ring_.clear();
        ring_bytes_ = 0;
        window_begin_ = end_;
        reader.reset();
        pending = ReadRecord();
        have_pending = false;
        synced = false;
        run_cv_.wait(lock, [&] { return users_ > 0 || stop_; });
      }
      if (stop_) return;
      active_ = true;
      if (!synced || gen != generation_) {
        gen = generation_;
        end = waited = end_;
        reader.reset();
        pending = ReadRecord();
        have_pending = false;
        synced = true;
      }
    }
    const uint64_t last = engine_->WaitForSeq(waited, options_.poll_ms);
    if (last <= waited) continue;
    if (reader == nullptr) {
      auto r = engine_->NewLogReader(end + 1);
      if (!r.ok()) return fail(r.status());
      reader = std::move(r).value();
    }
    // Publish everything committed up to `last`, in chunks.
    bool restarted = false;
    auto chunk = std::make_shared<TailChunk>();
    chunk->begin = end;
    for (;;) {
      if (!have_pending) {
        Result<bool> more = reader->Next(&pending);
        if (!more.ok()) return fail(more.status());
        if (!*more) break;
        records_read_.fetch_add(1, std::memory_order_relaxed);
        have_pending = true;
      }
      // A record is visible to subscribers only once all its seqs are committed.
      if (pending.record.last_seq() > last) break;
      chunk->bytes += RecordBytes(pending);
      chunk->records.push_back(std::move(pending));
      pending = ReadRecord();
      have_pending = false;
      if (chunk->records.size() >= options_.chunk_records_max ||
          chunk->bytes >= options_.chunk_bytes_max) {
        chunk->end = chunk->records.back().record.last_seq();
        end = chunk->end;
        if (!Publish(std::move(chunk), gen)) {
          restarted = true;
          break;
        }
        chunk = std::make_shared<TailChunk>();
        chunk->begin = end;
      }
    }
    if (restarted) continue;  // the top of the loop resyncs with the new window
    // The last chunk reaches the committed end (gaps included), unless a record straddles it.
    uint64_t chunk_end = last;
    if (have_pending && pending.record.first_seq <= last) chunk_end = pending.record.first_seq - 1;
    if (chunk_end > end) {
      chunk->end = chunk_end;
      end = chunk_end;
      if (!Publish(std::move(chunk), gen)) continue;
    }
    waited = std::max(end, have_pending ? last : end);
  }
}

}  // namespace rdb::cdc
