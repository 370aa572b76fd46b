#include "tools/rdb-sink-postgres/sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace rdb::sink {
namespace {

using Clock = std::chrono::steady_clock;

// Errors that a new subscription would meet again: give up instead of retrying forever.
bool FatalServerError(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
    case Code::kNotFound:
    case Code::kNotSupported:
      return true;
    default:
      return false;
  }
}

int NextBackoff(int ms, int max_ms) { return std::min(ms * 2, max_ms); }

// A subscription together with the client it came from.
class OwningSubscription final : public client::Subscription {
 public:
  OwningSubscription(std::unique_ptr<client::Client> client,
                     std::unique_ptr<client::Subscription> sub)
      : client_(std::move(client)), sub_(std::move(sub)) {}
  ~OwningSubscription() override { sub_.reset(); }
  Status Next(std::vector<client::Change>* changes, uint64_t* checkpoint) override {
    return sub_->Next(changes, checkpoint);
  }
  void Cancel() override { sub_->Cancel(); }

 private:
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::Subscription> sub_;
};

}  // namespace

Sink::Sink(SinkOptions options, std::unique_ptr<PgStore> store)
    : options_(std::move(options)), store_(std::move(store)) {
  options_.batch_max = std::max<size_t>(options_.batch_max, 1);
  options_.queue_changes_max = std::max(options_.queue_changes_max, options_.batch_max);
  if (!options_.subscribe) {
    options_.subscribe =
        [server = options_.server](
            const client::SubscribeOptions& so) -> Result<std::unique_ptr<client::Subscription>> {
      client::ClientOptions co;
      co.own_connection = true;  // a fresh channel: a failed one waits out gRPC's own backoff
      RDB_ASSIGN_OR_RETURN(std::unique_ptr<client::Client> client,
                           client::Client::Connect(server, co));
      RDB_ASSIGN_OR_RETURN(std::unique_ptr<client::Subscription> sub, client->Subscribe(so));
      // The subscription must not outlive its client's channel: keep the client with it.
      return std::unique_ptr<client::Subscription>(
          new OwningSubscription(std::move(client), std::move(sub)));
    };
  }
}

Sink::~Sink() {
  Stop();
  if (reader_.joinable()) reader_.join();
}

void Sink::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  if (live_ != nullptr) live_->Cancel();
  cv_.notify_all();
}

bool Sink::Backoff(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

bool Sink::Push(std::vector<client::Change>* changes, uint64_t checkpoint) {
  std::unique_lock<std::mutex> lock(mu_);
  // Back-pressure: while the queue is full, the stream is not read and gRPC flow control holds
  // the server.
  cv_.wait(lock, [this] { return stopping_ || queued_changes_ < options_.queue_changes_max; });
  if (stopping_) return false;
  queued_changes_ += changes->size();
  for (client::Change& c : *changes) queue_.emplace_back(std::move(c));
  if (checkpoint != 0) queue_.emplace_back(checkpoint);
  cv_.notify_all();
  return true;
}

Status Sink::ReadOne(uint64_t* after_seq, bool* received) {
  client::SubscribeOptions so;
  so.start = *after_seq == 0 ? client::SubscribeOptions::Start::kEarliest
                             : client::SubscribeOptions::Start::kAfterSeq;
  so.after_seq = *after_seq;
  so.key_prefixes = options_.prefixes;
  so.event_types = options_.types;
  auto sub = options_.subscribe(so);
  if (!sub.ok()) return sub.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status::OK();
    live_ = sub->get();
  }
  spdlog::info("subscribed to {} after seq {}", options_.server, *after_seq);
  Status status;
  std::vector<client::Change> changes;
  while (true) {
    changes.clear();
    uint64_t checkpoint = 0;
    status = (*sub)->Next(&changes, &checkpoint);
    if (!status.ok()) break;
    *received = true;
    if (!changes.empty()) *after_seq = std::max(*after_seq, changes.back().seq);
    *after_seq = std::max(*after_seq, checkpoint);
    if (!Push(&changes, checkpoint)) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  live_ = nullptr;
  return status;
}

void Sink::ReadLoop(uint64_t after_seq) {
  int backoff_ms = options_.backoff_initial_ms;
  while (true) {
    bool received = false;
    Status status = ReadOne(&after_seq, &received);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      if (FatalServerError(status)) {
        reader_error_ = status;
        cv_.notify_all();
        return;
      }
    }
    if (received) backoff_ms = options_.backoff_initial_ms;
    spdlog::warn("subscription to {} ended: {}; resubscribing after seq {} in {} ms",
                 options_.server, status.ToString(), after_seq, backoff_ms);
    if (!Backoff(backoff_ms)) return;
    backoff_ms = NextBackoff(backoff_ms, options_.backoff_max_ms);
  }
}

Status Sink::Flush(Batch* batch, ApplyError* stopped_at) {
  int backoff_ms = options_.backoff_initial_ms;
  while (true) {
    uint64_t before = store_->position();
    Status s = store_->Apply(*batch, stopped_at);
    if (s.ok()) {
      if (!batch->changes.empty() || store_->position() != before)
        spdlog::debug("committed {} changes, position {}", batch->changes.size(),
                      store_->position());
      batch->changes.clear();
      return s;
    }
    if (s.code() != Code::kUnavailable) return s;
    // The database is away: reconnect (which reloads the position, so a commit whose answer was
    // lost is not applied again) and retry.
    while (true) {
      spdlog::warn("PostgreSQL: {}; retrying in {} ms", s.message(), backoff_ms);
      if (!Backoff(backoff_ms)) return Status::OK();  // stopping: the batch rolls back
      backoff_ms = NextBackoff(backoff_ms, options_.backoff_max_ms);
      s = store_->Reconnect();
      if (s.ok()) break;
      if (s.code() != Code::kUnavailable) return s;
    }
    spdlog::info("PostgreSQL reconnected; sink position {}", store_->position());
  }
}

Status Sink::Run(ApplyError* stopped_at) {
  reader_ = std::thread([this, after = store_->position()] { ReadLoop(after); });
  Batch batch;
  batch.position = store_->position();
  Clock::time_point first_pending{};
  bool checkpoint_moved = false;
  while (true) {
    bool stopping = false;
    Status reader_error;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [&] { return stopping_ || !reader_error_.ok() || !queue_.empty(); };
      if (batch.changes.empty()) {
        cv_.wait_for(lock, std::chrono::milliseconds(500), ready);
      } else {
        cv_.wait_until(lock, first_pending + std::chrono::milliseconds(options_.batch_ms), ready);
      }
      while (!queue_.empty() && batch.changes.size() < options_.batch_max) {
        Entry& e = queue_.front();
        if (auto* c = std::get_if<client::Change>(&e)) {
          if (batch.changes.empty()) first_pending = Clock::now();
          batch.position = std::max(batch.position, c->seq);
          batch.changes.push_back(std::move(*c));
          queued_changes_--;
        } else {
          uint64_t cp = std::get<uint64_t>(e);
          if (cp > batch.position) {
            batch.position = cp;
            checkpoint_moved = true;
          }
        }
        queue_.pop_front();
      }
      cv_.notify_all();  // room in the queue for the reader
      stopping = stopping_;
      reader_error = reader_error_;
    }
    bool due = batch.changes.size() >= options_.batch_max ||
               (!batch.changes.empty() &&
                Clock::now() >= first_pending + std::chrono::milliseconds(options_.batch_ms)) ||
               (batch.changes.empty() && checkpoint_moved) || stopping || !reader_error.ok();
    if (due) {
      Status s = Flush(&batch, stopped_at);
      checkpoint_moved = false;
      if (!s.ok()) {
        Stop();
        return s;
      }
    }
    if (!reader_error.ok()) {
      Stop();
      return reader_error;
    }
    if (stopping) return Status::OK();
  }
}

}  // namespace rdb::sink
