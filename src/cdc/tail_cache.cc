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
  if (thread_.joinable()) thread_.join();
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
  return {ring_.size(), ring_bytes_, window_begin_, end_};
}

void TailCache::Publish(std::shared_ptr<TailChunk> chunk) {
  {
    std::lock_guard lock(mu_);
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
}

void TailCache::Run() {
  uint64_t end;
  {
    std::lock_guard lock(mu_);
    end = end_;
  }
  std::unique_ptr<LogReader> reader;
  ReadRecord pending;
  bool have_pending = false;
  auto fail = [&](const Status& s) {
    spdlog::error("cdc tail cache stopped after seq {}: {}; subscribers read the log themselves",
                  end, s.ToString());
    std::lock_guard lock(mu_);
    failed_ = true;
  };
  uint64_t waited = end;  // above `end` only while a record straddles the committed end
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    const uint64_t last = engine_->WaitForSeq(waited, options_.poll_ms);
    if (last <= waited) continue;
    if (reader == nullptr) {
      auto r = engine_->NewLogReader(end + 1);
      if (!r.ok()) return fail(r.status());
      reader = std::move(r).value();
    }
    // Publish everything committed up to `last`, in chunks.
    auto chunk = std::make_shared<TailChunk>();
    chunk->begin = end;
    for (;;) {
      if (!have_pending) {
        Result<bool> more = reader->Next(&pending);
        if (!more.ok()) return fail(more.status());
        if (!*more) break;
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
        Publish(std::move(chunk));
        chunk = std::make_shared<TailChunk>();
        chunk->begin = end;
      }
    }
    // The last chunk reaches the committed end (gaps included), unless a record straddles it.
    uint64_t chunk_end = last;
    if (have_pending && pending.record.first_seq <= last) chunk_end = pending.record.first_seq - 1;
    if (chunk_end > end) {
      chunk->end = chunk_end;
      end = chunk_end;
      Publish(std::move(chunk));
    }
    waited = std::max(end, have_pending ? last : end);
  }
}

}  // namespace rdb::cdc
