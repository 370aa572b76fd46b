#include "tests/fault/workload.h"

#include <algorithm>
#include <map>
#include <random>

#include "base/clock.h"
#include "client/client.h"

namespace rdb::fault {

namespace {

using test::Expected;
using test::Op;
using test::Outcome;
using SteadyClock = std::chrono::steady_clock;

// Unknown appends a client may retry later by their idempotency id (oldest dropped).
constexpr size_t kRetryablesMax = 64;

client::Expected ToClient(const Expected& e) {
  switch (e.kind) {
    case Expected::Kind::kAny:
      return client::Expected::Any();
    case Expected::Kind::kNoStream:
      return client::Expected::NoStream();
    case Expected::Kind::kExact:
      return client::Expected::Exact(e.version);
  }
  return client::Expected::Any();
}

// An Append's or Delete's outcome. Only what certainly wrote nothing is a failure: an expected-
// version mismatch that names the actual version, a delete of an absent key, a malformed request.
// Everything else (UNAVAILABLE, a deadline, a FAILED_PRECONDITION from a node that lost its
// leadership mid-request, ...) may have been applied.
Outcome WriteOutcome(const Result<client::AppendReply>& r) {
  if (r.ok()) return Outcome::Written(r->first_seq, r->first_version);
  const Status& s = r.status();
  if (s.code() == Code::kFailedPrecondition && s.actual_version().has_value()) {
    return Outcome::Failed(s.code(), s.actual_version(), s.message());
  }
  if (s.code() == Code::kNotFound) return Outcome::NotFound();
  if (s.code() == Code::kInvalidArgument) return Outcome::Failed(s.code(), {}, s.message());
  return Outcome::Unknown(s.ToString());
}

test::RecordedEvent FromEvent(const client::Event& e) {
  return e.kind == client::Kind::kDelete
             ? test::RecordedEvent::Delete(e.key, e.seq, e.version)
             : test::RecordedEvent::Put(e.key, e.seq, e.version, e.payload);
}

}  // namespace

struct Workload::Sub {
  SubscriberLog log;  // guarded by mu
  mutable std::mutex mu;
  client::Subscription* current = nullptr;  // guarded by mu
  SteadyClock::time_point last_message;     // guarded by mu
  std::thread thread;
};

Workload::Workload(WorkloadOptions options, test::History* history)
    : options_(std::move(options)), history_(history), start_(SteadyClock::now()) {}

Workload::~Workload() {
  StopClients();
  StopSubscribers();
}

int Workload::ScopeOf(int subscriber) const {
  if (options_.merged_feed) return -1;
  return static_cast<int>(static_cast<uint32_t>(subscriber) % options_.groups);
}

void Workload::Start() {
  for (int c = 0; c < options_.clients; c++) clients_.emplace_back([this, c] { ClientLoop(c); });
  for (int s = 0; s < options_.subscribers; s++) {
    auto sub = std::make_unique<Sub>();
    sub->log.id = s;
    sub->log.scope = ScopeOf(s);
    // Subscribers 1 and 2 (mod 4) filter on a prefix and ask for `before`: with 2 groups and the
    // per-group feed, each group has one plain and one filtered subscriber.
    if (s % 4 == 1 || s % 4 == 2) {
      sub->log.prefix = kFilteredPrefix;
      sub->log.include_before = true;
    }
    Sub* raw = sub.get();
    subs_.push_back(std::move(sub));
    raw->thread = std::thread([this, raw] { SubscriberLoop(raw); });
  }
  watchdog_ = std::thread([this] { Watchdog(); });
}

void Workload::StopClients() {
  stop_clients_ = true;
  for (auto& t : clients_)
    if (t.joinable()) t.join();
}

void Workload::StopSubscribers() {
  stop_subs_ = true;
  for (auto& s : subs_) {
    std::lock_guard lock(s->mu);
    if (s->current != nullptr) s->current->Cancel();
  }
  for (auto& s : subs_)
    if (s->thread.joinable()) s->thread.join();
  if (watchdog_.joinable()) watchdog_.join();
}

void Workload::ClientLoop(int c) {
  std::mt19937_64 rng(options_.seed * 1000003 + static_cast<uint64_t>(c));
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<std::unique_ptr<client::Client>> conns;
  for (const std::string& address : options_.addresses) {
    client::ClientOptions o;
    o.timeout_seconds = options_.op_timeout_s;
    o.unavailable_retry_seconds = options_.op_timeout_s / 2;
    o.own_connection = true;
    o.route_direct = c % 2 == 0;  // half the clients go straight to leaders, half via any node
    conns.push_back(std::move(client::Client::Connect(address, o)).value());
  }
  std::map<std::string, uint64_t> known;  // last version this client saw per key
  std::vector<Op> retryables;
  const std::string me = "c" + std::to_string(c);
  for (uint64_t n = 0; !stop_clients_.load(); n++) {
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start_).count();
    const int j = uniform(0, options_.keys_per_epoch - 1);
    const std::string key = (j % 2 == 0 ? "a." : "b.") +
                            std::to_string(elapsed / options_.key_epoch_ms) + "-" +
                            std::to_string(j);
    client::Client& conn =
        *conns[static_cast<size_t>(uniform(0, static_cast<int>(conns.size()) - 1))];
    const std::string payload = me + "-" + std::to_string(n);
    const std::string id = uniform(0, 99) < 60 ? me + "-id" + std::to_string(n) : "";
    const int r = uniform(0, 99);
    Expected expected = Expected::Any();
    const int e = uniform(0, 99);
    if (e < 25) expected = Expected::Exact(known.count(key) ? known[key] : 0);
    if (e >= 25 && e < 35) expected = Expected::NoStream();
    if (expected.kind == Expected::Kind::kExact && expected.version == 0) {
      expected = Expected::NoStream();
    }

    Op op;
    if (r < 8 && !retryables.empty()) {
      // Sends an unknown append again by its id: it must come back with the original {seq,
      // version} if it was applied, and write nothing twice. Once answered, it is done.
      const size_t i = static_cast<size_t>(uniform(0, static_cast<int>(retryables.size()) - 1));
      op = retryables[i];
      retryables.erase(retryables.begin() + static_cast<ptrdiff_t>(i));
    } else if (r < 40) {
      op = Op::Append(key, payload, expected, id);
    } else if (r < 48) {
      op = Op::Delete(key, e < 50 ? expected : Expected::Any(), id);
    } else if (r < 75) {
      op = Op::Get(key);
    } else {
      op = Op::ReadStream(key);
    }
    const uint64_t h = history_->Invoke(c, op);
    Outcome out;
    switch (op.kind) {
      case test::OpKind::kAppend:
        out = WriteOutcome(conn.Append(op.key, client::EventInput{op.payload, "fault"},
                                       ToClient(op.expected), op.idempotency_id));
        break;
      case test::OpKind::kDelete:
        out = WriteOutcome(conn.Delete(op.key, ToClient(op.expected), op.idempotency_id));
        break;
      case test::OpKind::kGet: {
        Result<client::Event> g = conn.Get(op.key);
        if (g.ok()) {
          out = Outcome::Value(g->payload, g->version, g->seq);
        } else if (g.status().code() == Code::kNotFound) {
          out = Outcome::NotFound();
        } else {
          out = Outcome::Failed(g.status().code(), {}, g.status().ToString());
        }
        break;
      }
      case test::OpKind::kReadStream: {
        Result<client::ReadReply> rs = conn.ReadStream(op.key, 1, false, 10000);
        if (rs.ok() && rs->next == 0) {
          std::vector<test::RecordedEvent> events;
          for (const client::Event& ev : rs->events) events.push_back(FromEvent(ev));
          out = events.empty() ? Outcome::NotFound() : Outcome::Stream(std::move(events));
        } else if (!rs.ok() && rs.status().code() == Code::kNotFound) {
          out = Outcome::NotFound();
        } else {
          out = Outcome::Failed(rs.ok() ? Code::kAborted : rs.status().code(), {},
                                rs.ok() ? "more than one page" : rs.status().ToString());
        }
        break;
      }
    }
    // What this client learnt of the key's version, for its next exact expectation.
    if (out.type == Outcome::Type::kOk && out.version > 0) known[op.key] = out.version;
    if (out.type == Outcome::Type::kOk && op.kind == test::OpKind::kReadStream) {
      known[op.key] = out.events.empty() ? 0 : out.events.back().version;
    }
    if (out.actual_version.has_value()) known[op.key] = *out.actual_version;
    if (out.type == Outcome::Type::kUnknown && op.kind == test::OpKind::kAppend &&
        !op.idempotency_id.empty()) {
      if (retryables.size() >= kRetryablesMax) retryables.erase(retryables.begin());
      retryables.push_back(op);
    }
    history_->Complete(h, std::move(out));
  }
}

void Workload::SubscriberLoop(Sub* sub) {
  std::mt19937_64 rng(options_.seed * 7919 + static_cast<uint64_t>(sub->log.id));
  std::vector<std::string> candidates;
  for (size_t i = 0; i < options_.addresses.size(); i++) {
    if (sub->log.scope < 0 || options_.node_groups[i] == static_cast<uint32_t>(sub->log.scope)) {
      candidates.push_back(options_.addresses[i]);
    }
  }
  // Resumes after the last change or checkpoint it got, as a consumer that persists both would.
  uint64_t position = 0;
  while (!stop_subs_.load()) {
    const std::string& address =
        candidates[std::uniform_int_distribution<size_t>(0, candidates.size() - 1)(rng)];
    client::ClientOptions o;
    o.timeout_seconds = 0;
    o.own_connection = true;
    auto conn = std::move(client::Client::Connect(address, o)).value();
    client::SubscribeOptions so;
    so.start = position == 0 ? client::SubscribeOptions::Start::kEarliest
                             : client::SubscribeOptions::Start::kAfterSeq;
    so.after_seq = position;
    so.checkpoint_interval_ms = kSubscriberCheckpointMs;
    if (!sub->log.prefix.empty()) so.key_prefixes = {sub->log.prefix};
    so.include_before = sub->log.include_before;
    Result<std::unique_ptr<client::Subscription>> opened = conn->Subscribe(so);
    if (!opened.ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    std::unique_ptr<client::Subscription> stream = std::move(opened).value();
    int connection = 0;
    {
      std::lock_guard lock(sub->mu);
      sub->current = stream.get();
      sub->last_message = SteadyClock::now();
      connection = sub->log.connections++;
    }
    if (stop_subs_.load()) stream->Cancel();
    while (true) {
      std::vector<client::Change> changes;
      uint64_t checkpoint = 0;
      Status st = stream->Next(&changes, &checkpoint);
      std::lock_guard lock(sub->mu);
      if (!st.ok()) {
        if (sub->log.errors.size() < kSubscriberErrorsMax) {
          sub->log.errors.push_back(address + ": " + st.ToString());
        }
        sub->current = nullptr;
        break;
      }
      sub->last_message = SteadyClock::now();
      for (const client::Change& ch : changes) {
        sub->log.received.push_back(
            ch.op == client::ChangeOp::kDelete
                ? test::RecordedEvent::Delete(ch.key, ch.seq, ch.version)
                : test::RecordedEvent::Put(ch.key, ch.seq, ch.version, ch.after.value_or("")));
        if (sub->log.include_before) sub->log.befores.push_back(ch.before);
        position = std::max(position, ch.seq);
      }
      if (checkpoint != 0) {
        sub->log.checkpoints.push_back(
            {sub->log.received.size(), checkpoint, connection, Clock::Real()->NowMicros()});
        position = std::max(position, checkpoint);
      }
    }
    if (!stop_subs_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Workload::Watchdog() {
  while (!stop_subs_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto now = SteadyClock::now();
    for (auto& s : subs_) {
      std::lock_guard lock(s->mu);
      if (s->current != nullptr &&
          now - s->last_message > std::chrono::milliseconds(kSubscriberStallMs)) {
        s->current->Cancel();
        s->last_message = now;
      }
    }
  }
}

bool Workload::WaitSubscribers(const std::function<uint64_t(const SubscriberLog&)>& target,
                               int timeout_ms) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    bool all = true;
    for (auto& s : subs_) {
      std::lock_guard lock(s->mu);
      all = all && s->log.last_seq() >= target(s->log);
    }
    if (all) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::vector<SubscriberLog> Workload::subscriber_logs() const {
  std::vector<SubscriberLog> out;
  for (const auto& s : subs_) {
    std::lock_guard lock(s->mu);
    out.push_back(s->log);
  }
  return out;
}

}  // namespace rdb::fault
