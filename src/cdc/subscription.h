// Subscription: one subscriber's cursor over the committed log. Reads from its start position in
// seq order, filters, derives each change's op (CREATE/UPDATE/DELETE from the event kind and the
// record's "creates" flag) and its before image, and hands matching changes to a sink.
//
// Catch-up and live tail are one code path: the cursor always continues after position(), either
// with its own LogReader (behind the TailCache's window, or without a cache) or from the shared
// TailCache chunks (inside the window); it switches between the two by seq, so no change is
// skipped or repeated. It never reads past the engine's last_seq() (committed, and under
// fsync=always durable). Semantics: docs/cdc.md.
//
// Thread-safety: not thread-safe; one thread at a time. The engine and cache must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "cdc/change.h"
#include "cdc/tail_cache.h"
#include "engine/engine.h"

namespace rdb::cdc {

struct SubscriptionOptions {
  enum class Start : uint8_t { kEarliest, kLatest, kAfterSeq };
  Start start = Start::kEarliest;
  uint64_t after_seq = 0;  // kAfterSeq: changes with seq > after_seq
  Filter filter;
  bool include_before = false;
};

// Bounds on one Poll.
struct PollLimits {
  size_t changes_max = 1000;            // changes handed to the sink
  size_t bytes_max = 1 << 20;           // approximate bytes of those changes
  size_t events_scanned_max = 1 << 17;  // events looked at (bounds a poll over non-matching ones)
};

class Subscription {
 public:
  // Resolves the start (kLatest = after the engine's last_seq() now). kNotFound if the start
  // position is no longer in the log (retention; see RetainedAfter). Validates the filter.
  // cache may be null (the subscription then always reads the log itself); otherwise the
  // subscription is one of the cache's users (TailCache::AddUser) until it is destroyed.
  static Result<std::unique_ptr<Subscription>> Open(Engine* engine, TailCache* cache,
                                                    const SubscriptionOptions& options);

  // The lowest position a subscription may start after: the log holds every seq above it. The log
  // is never trimmed yet, so this is 0; retention will raise it.
  static uint64_t RetainedAfter(Engine* engine);

  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Every matching change with seq <= position() has been handed to a sink; every seq <= position()
  // has been looked at. Starts at the resolved start position.
  uint64_t position() const { return position_; }
  // True if the last Poll stopped at a limit (more is committed right now).
  bool more() const { return more_; }
  // True if the last Poll was served by the cache and reached its end (the live tail).
  bool live() const { return live_; }

  // How often this subscription opened its own LogReader (caught up from behind the cache's
  // window) and how many cache chunks it read (tests and metrics).
  uint64_t reader_opens() const { return reader_opens_; }
  uint64_t chunks_read() const { return chunks_read_; }

  using Sink = std::function<void(const ChangeView&)>;
  // Hands the committed changes after position() to sink, in seq order, within limits. Never
  // waits for new commits. Returns the number of changes handed over.
  Result<size_t> Poll(const Sink& sink, const PollLimits& limits = {});

  // Waits until something after position() may have been committed, or timeout (for callers
  // without a dispatcher: tests, tools).
  void WaitForMore(uint64_t timeout_ms);

 private:
  Subscription(Engine* engine, TailCache* cache, SubscriptionOptions options, uint64_t start);

  struct PollState;
  // Hands over events of record r with seq in (position_, end]. Returns false at a limit.
  Result<bool> Process(const LogRecord& r, uint64_t end, const Sink& sink, PollState* st);
  Result<bool> PollReader(const Sink& sink, PollState* st);
  Result<bool> PollCache(const Sink& sink, PollState* st, bool* lagging);

  Engine* const engine_;
  TailCache* const cache_;
  const SubscriptionOptions options_;
  uint64_t position_;
  bool more_ = false;
  bool live_ = false;
  // Own reader (catch-up mode) and the record it read but not yet fully handed over.
  std::unique_ptr<LogReader> reader_;
  ReadRecord pending_;
  bool have_pending_ = false;
  uint64_t reader_opens_ = 0;
  uint64_t chunks_read_ = 0;
  std::string before_;  // the before image read from the engine (valid during a sink call)
};

}  // namespace rdb::cdc
