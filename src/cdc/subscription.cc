#include "cdc/subscription.h"

#include <algorithm>

namespace rdb::cdc {

struct Subscription::PollState {
  const PollLimits& limits;
  size_t changes = 0;
  size_t bytes = 0;
  size_t scanned = 0;
  bool Full() const {
    return changes >= limits.changes_max || bytes >= limits.bytes_max ||
           scanned >= limits.events_scanned_max;
  }
};

uint64_t Subscription::RetainedAfter(Engine*) { return 0; }

Result<std::unique_ptr<Subscription>> Subscription::Open(Engine* engine, TailCache* cache,
                                                         const SubscriptionOptions& options) {
  RDB_RETURN_IF_ERROR(ValidateFilter(options.filter));
  // Before the start is resolved: a cache that was idle restarts at last_seq() now, so a
  // subscription from kLatest starts inside its window.
  if (cache != nullptr) cache->AddUser();
  uint64_t start = 0;
  switch (options.start) {
    case SubscriptionOptions::Start::kEarliest:
      start = RetainedAfter(engine);
      break;
    case SubscriptionOptions::Start::kLatest:
      start = engine->last_seq();
      break;
    case SubscriptionOptions::Start::kAfterSeq:
      start = options.after_seq;
      if (start < RetainedAfter(engine)) {
        if (cache != nullptr) cache->RemoveUser();
        return Status::NotFound("position " + std::to_string(start) +
                                " is no longer in the log (the earliest is after seq " +
                                std::to_string(RetainedAfter(engine)) + ")");
      }
      break;
  }
  return std::unique_ptr<Subscription>(new Subscription(engine, cache, options, start));
}

Subscription::Subscription(Engine* engine, TailCache* cache, SubscriptionOptions options,
                           uint64_t start)
    : engine_(engine), cache_(cache), options_(std::move(options)), position_(start) {}

Subscription::~Subscription() {
  if (cache_ != nullptr) cache_->RemoveUser();
}

Result<size_t> Subscription::Poll(const Sink& sink, const PollLimits& limits) {
  PollState st{limits};
  more_ = false;
  live_ = false;
  for (;;) {
    bool lagging = cache_ == nullptr;
    if (!lagging) {
      RDB_ASSIGN_OR_RETURN(bool go_on, PollCache(sink, &st, &lagging));
      if (!lagging) {
        // The cache serves this position: a reader from an earlier catch-up is stale.
        reader_.reset();
        have_pending_ = false;
        more_ = go_on;
        live_ = !go_on;
        return st.changes;
      }
    }
    // Behind the cache's window (or no cache): read the log; PollReader returns true when the
    // position reached the window, so the cache takes over.
    RDB_ASSIGN_OR_RETURN(bool switched, PollReader(sink, &st));
    if (!switched) return st.changes;
  }
}

Result<bool> Subscription::PollCache(const Sink& sink, PollState* st, bool* lagging) {
  *lagging = false;
  for (;;) {
    if (st->Full()) return true;
    std::shared_ptr<const TailChunk> chunk;
    uint64_t end = 0;
    switch (cache_->Find(position_, &chunk, &end)) {
      case TailCache::Lookup::kLagging:
        *lagging = true;
        return false;
      case TailCache::Lookup::kCaughtUp:
        return false;
      case TailCache::Lookup::kFound:
        break;
    }
    chunks_read_++;
    for (const ReadRecord& rr : chunk->records) {
      if (rr.record.last_seq() <= position_) continue;
      RDB_ASSIGN_OR_RETURN(bool go_on, Process(rr.record, chunk->end, sink, st));
      if (!go_on) return true;
    }
    position_ = std::max(position_, chunk->end);
  }
}

Result<bool> Subscription::PollReader(const Sink& sink, PollState* st) {
  const uint64_t end = engine_->last_seq();
  for (;;) {
    if (cache_ != nullptr) {
      std::shared_ptr<const TailChunk> chunk;
      uint64_t cache_end = 0;
      if (cache_->Find(position_, &chunk, &cache_end) != TailCache::Lookup::kLagging) {
        reader_.reset();
        have_pending_ = false;
        return true;
      }
    }
    if (st->Full()) {
      more_ = true;
      return false;
    }
    if (!have_pending_) {
      if (reader_ == nullptr) {
        RDB_ASSIGN_OR_RETURN(reader_, engine_->NewLogReader(position_ + 1));
        reader_opens_++;
      }
      RDB_ASSIGN_OR_RETURN(bool got, reader_->Next(&pending_));
      if (!got) {
        // Everything published is read, and published >= end: nothing else is <= end.
        position_ = std::max(position_, end);
        return false;
      }
      have_pending_ = true;
    }
    const LogRecord& r = pending_.record;
    if (r.first_seq > end) {
      position_ = std::max(position_, end);
      return false;
    }
    RDB_ASSIGN_OR_RETURN(bool go_on, Process(r, end, sink, st));
    if (position_ >= r.last_seq()) have_pending_ = false;
    if (!go_on) {
      more_ = true;
      return false;
    }
    if (have_pending_) {  // a record straddling the committed end (cluster mode)
      return false;
    }
  }
}

Result<bool> Subscription::Process(const LogRecord& r, uint64_t end, const Sink& sink,
                                   PollState* st) {
  const uint64_t last = std::min(r.last_seq(), end);
  if (last <= position_) return true;
  if (!options_.filter.MatchesKey(r.key)) {
    st->scanned += last - position_;
    position_ = last;
    return true;
  }
  for (uint64_t seq = std::max(position_ + 1, r.first_seq); seq <= last; seq++) {
    if (st->Full()) return false;
    st->scanned++;
    const size_t i = seq - r.first_seq;
    const LogEvent& e = r.events[i];
    if (!options_.filter.MatchesType(e.event_type)) {
      position_ = seq;
      continue;
    }
    ChangeView v;
    v.seq = seq;
    v.key = r.key;
    v.version = r.first_version + i;
    v.event_type = e.event_type;
    v.timestamp_ms = r.timestamp_ms;
    if (e.kind == EventKind::kDelete) {
      v.op = ChangeOp::kDelete;
    } else {
      v.op = e.creates ? ChangeOp::kCreate : ChangeOp::kUpdate;
      v.after = e.payload;
    }
    if (options_.include_before && v.op != ChangeOp::kCreate && v.version > 1) {
      if (i > 0) {
        if (r.events[i - 1].kind == EventKind::kPut) v.before = r.events[i - 1].payload;
      } else {
        ReadStreamRequest req;
        req.key.assign(r.key);
        req.from_version = v.version - 1;
        req.limit = 1;
        RDB_ASSIGN_OR_RETURN(ReadResult prev, engine_->ReadStream(req));
        if (!prev.events.empty() && prev.events[0].kind == EventKind::kPut) {
          before_ = std::move(prev.events[0].payload);
          v.before = before_;
        }
      }
    }
    sink(v);
    st->changes++;
    st->bytes += 48 + v.key.size() + v.event_type.size() + (v.after ? v.after->size() : 0) +
                 (v.before ? v.before->size() : 0);
    position_ = seq;
  }
  return true;
}

void Subscription::WaitForMore(uint64_t timeout_ms) {
  if (more_) return;
  if (cache_ != nullptr) {
    cache_->WaitPast(position_, timeout_ms);
  } else {
    engine_->WaitForSeq(position_, timeout_ms);
  }
}

}  // namespace rdb::cdc
