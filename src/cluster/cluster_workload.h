// A workload for the cluster's end-to-end tests: appends with idempotency ids retried through
// several nodes until acknowledged, linearizable Gets through every node, both recorded in a
// History (tests/support/history.h); and checks of what nodes' own logs hold.
#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_fixture.h"
#include "tests/support/history.h"
#include "tests/support/linearizability.h"

namespace rdb::test {

struct Acked {
  std::string key;
  std::string payload;
  uint64_t seq = 0;
  uint64_t version = 0;
};

// One append through `address`, with an idempotency id.
inline grpc::Status AppendVia(const std::string& address, const std::string& key,
                              const std::string& payload, const std::string& id,
                              pb::AppendResponse* resp) {
  pb::AppendRequest req;
  req.set_key(key);
  req.add_events()->set_payload(payload);
  req.set_idempotency_id(id);
  return Call(address, [&](pb::EventStore::Stub* st, grpc::ClientContext* ctx) {
    return st->Append(ctx, req, resp);
  });
}

// Retries (same id, so at most once) through the given nodes in turn until acknowledged or
// timeout_ms passes.
inline bool AppendWithRetry(const std::vector<std::string>& addresses, const std::string& key,
                            const std::string& payload, const std::string& id, Acked* out,
                            int timeout_ms = 15000) {
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  for (size_t attempt = 0; SteadyClock::now() < deadline; attempt++) {
    pb::AppendResponse resp;
    grpc::Status s = AppendVia(addresses[attempt % addresses.size()], key, payload, id, &resp);
    if (s.ok()) {
      *out = {key, payload, resp.first_seq(), resp.first_version()};
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The node's own log: a ReadAll marked as forwarded is served from the local engine (an
// ordinary one in cluster mode merges every group's log).
inline std::vector<pb::Event> LocalLog(const std::string& address) {
  pb::ReadAllRequest req;
  req.set_limit(10000);
  pb::ReadAllResponse resp;
  grpc::Status s = Call(address, [&](pb::EventStore::Stub* st, grpc::ClientContext* ctx) {
    ctx->AddMetadata("rdb-forwarded", "1");
    return st->ReadAll(ctx, req, &resp);
  });
  if (!s.ok()) {
    std::cerr << "ReadAll on " << address << ": " << s.error_message() << "\n";
    return {};
  }
  return {resp.events().begin(), resp.events().end()};
}

inline std::string Summary(const std::vector<pb::Event>& log) {
  std::string out;
  for (const auto& e : log) out += std::to_string(e.seq()) + ":" + e.key() + " ";
  return out;
}

inline bool SameLog(const std::vector<pb::Event>& a, const std::vector<pb::Event>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++) {
    if (a[i].seq() != b[i].seq() || a[i].key() != b[i].key() || a[i].version() != b[i].version() ||
        a[i].payload() != b[i].payload()) {
      return false;
    }
  }
  return true;
}

// Every acknowledged write is in `log` with its seq, version and payload; versions per key have
// no gaps; seqs strictly increase.
inline void ExpectHolds(const std::vector<pb::Event>& log, const std::vector<Acked>& acked,
                        const std::string& who, bool unique_payloads = false) {
  std::map<uint64_t, const pb::Event*> by_seq;
  std::map<std::string, uint64_t> versions;
  std::map<std::string, int> payloads;
  uint64_t prev = 0;
  for (const auto& e : log) {
    EXPECT_GT(e.seq(), prev) << who;
    prev = e.seq();
    by_seq[e.seq()] = &e;
    EXPECT_EQ(e.version(), ++versions[e.key()]) << who << ": " << e.key();
    if (unique_payloads) {
      EXPECT_EQ(++payloads[e.payload()], 1)
          << who << ": payload (idempotency id) " << e.payload() << " written twice";
    }
  }
  for (const Acked& a : acked) {
    auto it = by_seq.find(a.seq);
    ASSERT_NE(it, by_seq.end()) << who << " lost acknowledged seq " << a.seq << " (" << a.key
                                << ")";
    EXPECT_EQ(it->second->key(), a.key);
    EXPECT_EQ(it->second->payload(), a.payload);
    EXPECT_EQ(it->second->version(), a.version);
  }
}

// Background writers: each appends to keys key0..key9 with unique idempotency ids, retrying every
// write through the given nodes until it is acknowledged (so no write is left unknown).
// Every operation's invocation and completion goes into `history` (one logical append per id,
// however many retries it took).
class Writers {
 public:
  Writers(History* history, std::vector<std::string> via, int threads = 3,
          int retry_timeout_ms = 20000)
      : history_(history), via_(std::move(via)) {
    for (int w = 0; w < threads; w++) {
      threads_.emplace_back([this, w, retry_timeout_ms] {
        for (int i = 0; !stop_.load(); i++) {
          Acked a;
          const std::string key = "key" + std::to_string((w * 7 + i) % 10);
          const std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
          const uint64_t op = history_->Invoke(w, Op::Append(key, id, Expected::Any(), id));
          if (!AppendWithRetry(via_, key, id, id, &a, retry_timeout_ms)) {
            history_->Complete(op, Outcome::Unknown("not acknowledged in time"));
            failed_++;
            return;
          }
          history_->Complete(op, Outcome::Written(a.seq, a.version));
          std::lock_guard lock(mu_);
          acked_.push_back(a);
        }
      });
    }
  }
  ~Writers() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  size_t count() {
    std::lock_guard lock(mu_);
    return acked_.size();
  }
  // Waits until `more` writes past the current count are acknowledged.
  bool Progress(size_t more, int timeout_ms = 10000) {
    const size_t target = count() + more;
    return WaitFor([&] { return count() >= target; }, timeout_ms);
  }
  std::vector<Acked> acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  int failed() const { return failed_.load(); }

 private:
  History* const history_;
  std::vector<std::string> via_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_{0};
  std::mutex mu_;
  std::vector<Acked> acked_;
  std::vector<std::thread> threads_;
};

// Background readers: Get of key0..key9 through each node in turn (a node forwards it to the
// key's leader 1, which serves it only while it is sure to be leader 1), into `history`.
class Readers {
 public:
  Readers(History* history, std::vector<std::string> via, int threads = 2, int pause_ms = 2)
      : history_(history), via_(std::move(via)) {
    for (int r = 0; r < threads; r++) {
      threads_.emplace_back([this, r, pause_ms] {
        for (int i = 0; !stop_.load(); i++) {
          const std::string key = "key" + std::to_string((r * 3 + i) % 10);
          const uint64_t op = history_->Invoke(100 + r, Op::Get(key));
          pb::GetRequest req;
          req.set_key(key);
          pb::GetResponse resp;
          grpc::Status s =
              Call(via_[i % via_.size()], [&](pb::EventStore::Stub* st, grpc::ClientContext* ctx) {
                return st->Get(ctx, req, &resp);
              });
          if (s.ok()) {
            history_->Complete(op, Outcome::Value(resp.event().payload(), resp.event().version(),
                                                  resp.event().seq()));
            reads_++;
          } else if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
            history_->Complete(op, Outcome::NotFound());
            reads_++;
          } else {
            history_->Complete(op, Outcome::Failed(Code::kUnavailable));
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
        }
      });
    }
  }
  ~Readers() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int reads() const { return reads_.load(); }

 private:
  History* const history_;
  std::vector<std::string> via_;
  std::atomic<bool> stop_{false};
  std::atomic<int> reads_{0};
  std::vector<std::thread> threads_;
};

// Every event of the database, merged across groups in seq order (ReadAll page by page through
// `address`; system records excluded, as in a subscription without include_system).
inline std::vector<pb::Event> GlobalLog(const std::string& address) {
  std::vector<pb::Event> out;
  uint64_t from = 0;
  for (int pages = 0; pages < 10000; pages++) {
    pb::ReadAllRequest req;
    req.set_from_seq(from);
    req.set_limit(10000);
    pb::ReadAllResponse resp;
    grpc::Status s = Call(address, [&](pb::EventStore::Stub* st, grpc::ClientContext* ctx) {
      return st->ReadAll(ctx, req, &resp);
    });
    if (!s.ok()) {
      ADD_FAILURE() << "ReadAll through " << address << ": " << s.error_message();
      return out;
    }
    out.insert(out.end(), resp.events().begin(), resp.events().end());
    if (resp.next_seq() == 0) break;
    from = resp.next_seq();
  }
  return out;
}

inline std::vector<RecordedEvent> Recorded(const std::vector<pb::Event>& log) {
  std::vector<RecordedEvent> out;
  for (const pb::Event& e : log) {
    out.push_back(e.kind() == pb::EVENT_KIND_DELETE
                      ? RecordedEvent::Delete(e.key(), e.seq(), e.version())
                      : RecordedEvent::Put(e.key(), e.seq(), e.version(), e.payload()));
  }
  return out;
}

// A Subscribe stream through one node, recorded on a thread of its own: every change, and every
// checkpoint with the last change seq received before it.
class FeedRecorder {
 public:
  // after_seq == kLatest: START_POSITION_LATEST.
  static constexpr uint64_t kLatest = ~uint64_t{0};
  // group: a consumer group (its committed position, if any, wins over after_seq).
  FeedRecorder(std::string address, uint64_t after_seq, std::string group = "")
      : address_(std::move(address)), group_(std::move(group)) {
    thread_ = std::thread([this, after_seq] { Run(after_seq); });
  }
  ~FeedRecorder() { Stop(); }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      if (ctx_ != nullptr) ctx_->TryCancel();
    }
    if (thread_.joinable()) thread_.join();
  }
  // The stream ended by itself (not through Stop).
  bool ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }
  grpc::Status status() {
    std::lock_guard lock(mu_);
    return status_;
  }
  std::vector<RecordedEvent> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  uint64_t last_seq() {
    std::lock_guard lock(mu_);
    return events_.empty() ? 0 : events_.back().seq;
  }
  uint64_t checkpoint() {
    std::lock_guard lock(mu_);
    return checkpoints_.empty() ? 0 : checkpoints_.back();
  }
  // The opening message's checkpoint (where the stream starts); false before it came.
  bool opening(uint64_t* seq) {
    std::lock_guard lock(mu_);
    if (checkpoints_.empty()) return false;
    *seq = checkpoints_.front();
    return true;
  }
  // "" or what is wrong with the checkpoints: one went backwards, or fell below a change already
  // received in or before its message.
  std::string CheckpointProblems() {
    std::lock_guard lock(mu_);
    return problems_;
  }
  // Waits until a change with seq >= seq (or a checkpoint at or past it) arrived.
  // False at once if the stream ends first.
  bool WaitPast(uint64_t seq, int timeout_ms) {
    auto reached = [&] { return last_seq() >= seq || checkpoint() >= seq; };
    WaitFor([&] { return reached() || ended(); }, timeout_ms, 5);
    return reached();
  }

 private:
  void Run(uint64_t after_seq) {
    auto stub = Stub(address_);
    grpc::ClientContext ctx;
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      ctx_ = &ctx;
    }
    pb::SubscribeRequest req;
    if (after_seq == kLatest) {
      req.set_start(pb::START_POSITION_LATEST);
    } else {
      req.set_start(pb::START_POSITION_AFTER_SEQ);
      req.set_after_seq(after_seq);
    }
    req.set_checkpoint_interval_ms(100);
    req.set_group(group_);
    auto reader = stub->Subscribe(&ctx, req);
    pb::SubscribeResponse msg;
    while (reader->Read(&msg)) {
      std::lock_guard lock(mu_);
      for (const pb::ChangeEvent& c : msg.changes()) {
        events_.push_back(c.op() == pb::CHANGE_OP_DELETE
                              ? RecordedEvent::Delete(c.key(), c.seq(), c.version())
                              : RecordedEvent::Put(c.key(), c.seq(), c.version(), c.after()));
      }
      if (msg.has_checkpoint()) {
        const uint64_t cp = msg.checkpoint().seq();
        if (!checkpoints_.empty() && cp < checkpoints_.back() && problems_.empty())
          problems_ =
              "checkpoint " + std::to_string(cp) + " after " + std::to_string(checkpoints_.back());
        if (!events_.empty() && cp < events_.back().seq && problems_.empty())
          problems_ = "checkpoint " + std::to_string(cp) + " below change " +
                      std::to_string(events_.back().seq);
        checkpoints_.push_back(cp);
      }
    }
    grpc::Status s = reader->Finish();
    std::lock_guard lock(mu_);
    ctx_ = nullptr;
    status_ = s;
    ended_ = !stop_;
  }

  const std::string address_;
  const std::string group_;
  std::mutex mu_;
  grpc::ClientContext* ctx_ = nullptr;
  bool stop_ = false;
  bool ended_ = false;
  grpc::Status status_;
  std::vector<RecordedEvent> events_;
  std::vector<uint64_t> checkpoints_;
  std::string problems_;
  std::thread thread_;
};

// The recorded history is linearizable per key, and `log` (every event of the database after the
// run) holds every acknowledged write and nothing never written (tests/support/linearizability.h).
inline void ExpectHistoryHolds(const History& history, const std::vector<pb::Event>& log) {
  std::vector<RecordedEvent> final_log;
  for (const pb::Event& e : log) {
    final_log.push_back(e.kind() == pb::EVENT_KIND_DELETE
                            ? RecordedEvent::Delete(e.key(), e.seq(), e.version())
                            : RecordedEvent::Put(e.key(), e.seq(), e.version(), e.payload()));
  }
  const std::vector<HistoryEntry> entries = history.Entries();
  CheckResult lin = CheckLinearizable(entries);
  EXPECT_TRUE(lin.ok()) << "not linearizable (" << entries.size() << " ops): " << lin.message;
  CheckResult acks = CheckNoLostAcks(entries, final_log);
  EXPECT_TRUE(acks.ok()) << acks.message;
  std::cerr << "history: " << entries.size() << " operations checked\n";
}

}  // namespace rdb::test
