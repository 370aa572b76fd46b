#include "etcd/watcher.h"

#include <algorithm>

#include "etcd/internal.h"

namespace rdb::etcd {

namespace {
constexpr int64_t kReconnectBackoffMinMs = 50;
}  // namespace

Result<std::unique_ptr<Watcher>> Watcher::Start(Client* client, WatchOptions options,
                                                EventCallback on_events, EndCallback on_end) {
  if (client == nullptr || !on_events)
    return Status::InvalidArgument("etcd watch: a client and an event callback are required");
  if (options.key.empty()) return Status::InvalidArgument("etcd watch: empty key");
  if (options.start_revision < 0)
    return Status::InvalidArgument("etcd watch: negative start revision");
  std::unique_ptr<Watcher> w(
      new Watcher(client, std::move(options), std::move(on_events), std::move(on_end)));
  w->thread_ = std::thread([p = w.get()] { p->Run(); });
  Status result;
  {
    absl::MutexLock lock(&w->mu_);
    bool done = w->mu_.AwaitWithTimeout(absl::Condition(w.get(), &Watcher::Settled),
                                        absl::Milliseconds(client->options().timeout_ms));
    if (!done) {
      result = Status::Unavailable("etcd watch " + client->current_endpoint() +
                                   ": not confirmed within " +
                                   std::to_string(client->options().timeout_ms) + " ms");
    } else if (!w->created_) {
      result = w->status_;
    }
  }
  if (!result.ok()) return result;  // the destructor stops the thread
  return w;
}

Watcher::Watcher(Client* client, WatchOptions options, EventCallback on_events, EndCallback on_end)
    : client_(client),
      options_(std::move(options)),
      on_events_(std::move(on_events)),
      on_end_(std::move(on_end)) {
  next_revision_ = options_.start_revision;
}

Watcher::~Watcher() { Cancel(); }

bool Watcher::Settled() const { return created_ || ended_; }

void Watcher::Cancel() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    if (ctx_ != nullptr) ctx_->TryCancel();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

int64_t Watcher::next_revision() const {
  absl::MutexLock lock(&mu_);
  return next_revision_;
}

Status Watcher::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

int64_t Watcher::compact_revision() const {
  absl::MutexLock lock(&mu_);
  return compact_revision_;
}

void Watcher::End(const Status& why, int64_t compact_revision) {
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    status_ = why;
    compact_revision_ = compact_revision;
    if (stop_) return;
  }
  if (on_end_) on_end_(why);
}

void Watcher::Run() {
  size_t index = client_->current_index();
  int64_t backoff_ms = kReconnectBackoffMinMs;
  while (RunStream(index)) {
    reconnects_.fetch_add(1, std::memory_order_relaxed);
    {
      absl::MutexLock lock(&mu_);
      if (created_) backoff_ms = kReconnectBackoffMinMs;  // it worked once: retry promptly
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(backoff_ms));
      if (stop_) return;
    }
    backoff_ms = std::min(backoff_ms * 2, std::max<int64_t>(options_.reconnect_backoff_max_ms,
                                                            kReconnectBackoffMinMs));
    index = client_->current_index();
  }
}

bool Watcher::RunStream(size_t index) {
  Endpoint& ep = client_->endpoint(index);
  grpc::ClientContext ctx;
  pb::WatchRequest req;
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return false;
    ctx_ = &ctx;
    auto* create = req.mutable_create_request();
    create->set_key(options_.key);
    if (!options_.range_end.empty()) create->set_range_end(options_.range_end);
    create->set_start_revision(next_revision_);
    create->set_prev_kv(options_.prev_kv);
  }
  auto stream = ep.watch->Watch(&ctx);
  bool keep_going = true;
  if (stream->Write(req)) {
    pb::WatchResponse resp;
    std::vector<WatchEvent> events;
    while (stream->Read(&resp)) {
      if (resp.compact_revision() > 0) {
        int64_t from = next_revision();
        End(Status::FailedPrecondition("etcd watch " + ep.address + ": revision " +
                                       std::to_string(from) + " is compacted (history starts at " +
                                       std::to_string(resp.compact_revision()) + ")"),
            resp.compact_revision());
        keep_going = false;
        break;
      }
      if (resp.canceled()) {
        End(Status::FailedPrecondition("etcd watch " + ep.address +
                                       " cancelled by etcd: " + resp.cancel_reason()),
            0);
        keep_going = false;
        break;
      }
      if (resp.created()) {
        absl::MutexLock lock(&mu_);
        if (next_revision_ == 0) next_revision_ = resp.header().revision() + 1;
        created_ = true;
        continue;
      }
      if (resp.events_size() == 0) continue;  // progress notification
      events.clear();
      for (const auto& e : resp.events()) events.push_back(FromProto(e));
      {
        // Before the callback: whoever it wakes sees next_revision() past what it delivered (a
        // resume happens on this thread, after the callback, so nothing is skipped).
        absl::MutexLock lock(&mu_);
        next_revision_ = events.back().kv.mod_revision + 1;
      }
      on_events_(events);
    }
  }
  ctx.TryCancel();
  grpc::Status s = stream->Finish();
  absl::MutexLock lock(&mu_);
  ctx_ = nullptr;
  if (stop_ || !keep_going) return false;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) client_->FailedOver(index);
  return true;
}

}  // namespace rdb::etcd
