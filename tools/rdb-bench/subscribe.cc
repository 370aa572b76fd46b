#include "tools/rdb-bench/subscribe.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <vector>

#include "base/histogram.h"
#include "client/client.h"
#include "cluster/routing.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"
#include "tools/rdb-bench/report.h"
#include "tools/rdb-bench/subscribe_common.h"
#include "tools/rdb-bench/workload.h"

namespace rdb::bench {

namespace sub {

namespace {

namespace pb = ::rdeebee::v1;

Result<std::unique_ptr<client::Client>> Connect(const SubscribeBenchOptions& o,
                                                const std::string& address) {
  client::ClientOptions co;
  co.timeout_seconds = o.timeout_s;
  co.own_connection = true;
  RDB_ASSIGN_OR_RETURN(auto c, client::Client::Connect(address, co));
  RDB_RETURN_IF_ERROR(c->WaitUntilReady(o.timeout_s));
  return c;
}

// The node subscribers attach to (and whose status is read).
const std::string& SubscribeServer(const SubscribeBenchOptions& o) {
  return o.subscribe_server.empty() ? o.server : o.subscribe_server;
}

// A cluster run (--subscribe-server or --route-groups): seqs are sparse, and the log's end is the
// highest last_seq of the nodes involved.
bool ClusterRun(const SubscribeBenchOptions& o) {
  return !o.subscribe_server.empty() || o.route_groups;
}

std::vector<std::string> WriteAddresses(const SubscribeBenchOptions& o) {
  std::vector<std::string> out;
  if (!o.route_groups) return {o.server};
  size_t start = 0;
  while (start <= o.server.size()) {
    size_t comma = o.server.find(',', start);
    if (comma == std::string::npos) comma = o.server.size();
    if (comma > start) out.push_back(o.server.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Result<std::unique_ptr<client::Client>> Connect(const SubscribeBenchOptions& o) {
  return Connect(o, SubscribeServer(o));
}

// A writer: one connection, or (route_groups) one per group's leader 1, each request sent to its
// key's group.
struct Writer {
  std::vector<std::unique_ptr<client::Client>> c;
  client::Client* For(const std::string& key) {
    if (c.size() == 1) return c[0].get();
    return c[cluster::GroupOfKey(key, static_cast<uint32_t>(c.size()))].get();
  }
};

Result<Writer> ConnectWriter(const SubscribeBenchOptions& o) {
  Writer w;
  for (const std::string& a : WriteAddresses(o)) {
    RDB_ASSIGN_OR_RETURN(auto c, Connect(o, a));
    w.c.push_back(std::move(c));
  }
  return w;
}

// The log's last seq: the subscriber's node's, or in a cluster run the highest of every node
// involved (a follower's or a leader's group log ends where its group's does).
Result<uint64_t> LastSeq(const SubscribeBenchOptions& o) {
  std::vector<std::string> addresses = {SubscribeServer(o)};
  if (ClusterRun(o)) {
    for (const std::string& a : WriteAddresses(o)) addresses.push_back(a);
  }
  uint64_t last = 0;
  for (const std::string& a : addresses) {
    RDB_ASSIGN_OR_RETURN(auto c, Connect(o, a));
    RDB_ASSIGN_OR_RETURN(auto st, c->GetStatus());
    last = std::max<uint64_t>(last, st.last_seq);
  }
  return last;
}

// Subscriber connections, at most streams_per_connection streams each.
Result<std::vector<std::unique_ptr<client::Client>>> ConnectSubscribers(
    const SubscribeBenchOptions& o) {
  std::vector<std::unique_ptr<client::Client>> conns;
  const uint32_t n = (o.subscribers + o.streams_per_connection - 1) / o.streams_per_connection;
  for (uint32_t i = 0; i < n; i++) {
    RDB_ASSIGN_OR_RETURN(auto c, Connect(o));
    conns.push_back(std::move(c));
  }
  return conns;
}

// --- catch-up (through the client library: Client::Subscribe / Next, one thread per subscriber)

struct PreloadResult {
  uint64_t events = 0;
  double seconds = 0;
};

Result<PreloadResult> PreloadEvents(const SubscribeBenchOptions& o) {
  std::vector<Writer> clients;
  for (uint32_t i = 0; i < o.preload_clients; i++) {
    RDB_ASSIGN_OR_RETURN(auto c, ConnectWriter(o));
    clients.push_back(std::move(c));
  }
  const uint64_t requests = (o.events + o.preload_batch - 1) / o.preload_batch;
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> written{0};
  std::mutex mu;
  Status first_error;
  const uint64_t start = NowNs();
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < o.preload_clients; t++) {
    threads.emplace_back([&, t] {
      std::vector<client::EventInput> batch(o.preload_batch,
                                            client::EventInput{Payload(o.payload_bytes, t), ""});
      for (uint64_t r; (r = next.fetch_add(1)) < requests;) {
        const uint64_t n = std::min<uint64_t>(o.preload_batch, o.events - r * o.preload_batch);
        if (n != batch.size()) batch.resize(n);
        const std::string key = KeyName(o.key_prefix, r % o.key_space);
        auto reply = clients[t].For(key)->Append(key, batch);
        if (!reply.ok()) {
          std::lock_guard lock(mu);
          if (first_error.ok()) first_error = reply.status();
          return;
        }
        written.fetch_add(n);
      }
    });
  }
  for (auto& t : threads) t.join();
  RDB_RETURN_IF_ERROR(first_error);
  return PreloadResult{written.load(), Seconds(NowNs() - start)};
}

int RunCatchup(const SubscribeBenchOptions& o, bool json, const std::string& fsync) {
  PreloadResult pre;
  if (o.preload) {
    if (!json) {
      std::printf("preloading %llu events (%u per request, %u clients)...\n",
                  static_cast<unsigned long long>(o.events), o.preload_batch, o.preload_clients);
      std::fflush(stdout);
    }
    auto r = PreloadEvents(o);
    if (!r.ok()) {
      std::fprintf(stderr, "rdb-bench: preload failed: %s\n", r.status().ToString().c_str());
      return 1;
    }
    pre = *r;
  }
  auto st = LastSeq(o);
  if (!st.ok()) {
    std::fprintf(stderr, "rdb-bench: status: %s\n", st.status().ToString().c_str());
    return 1;
  }
  const uint64_t target = *st;  // read until a change or checkpoint reaches it
  if (target == 0) {
    std::fprintf(stderr, "rdb-bench: the log is empty; nothing to catch up on\n");
    return 1;
  }
  auto conns = ConnectSubscribers(o);
  if (!conns.ok()) {
    std::fprintf(stderr, "rdb-bench: %s\n", conns.status().ToString().c_str());
    return 1;
  }

  struct Sub {
    uint64_t changes = 0, bytes = 0;
    uint64_t first_ns = 0, last_ns = 0;  // since the Subscribe call
    uint64_t messages = 0;
    std::string error;
  };
  std::vector<Sub> subs(o.subscribers);
  CpuWindow cpu(o.server_pid);
  cpu.Begin();
  const uint64_t start = NowNs();
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < o.subscribers; i++) {
    threads.emplace_back([&, i] {
      Sub& s = subs[i];
      const uint64_t t0 = NowNs();
      client::SubscribeOptions so;
      so.start = client::SubscribeOptions::Start::kEarliest;
      auto sub = (*conns)[i / o.streams_per_connection]->Subscribe(so);
      if (!sub.ok()) {
        s.error = ErrorText(sub.status());
        return;
      }
      std::vector<client::Change> changes;
      for (uint64_t seen = 0; seen < target;) {
        changes.clear();
        uint64_t checkpoint = 0;
        Status ns = (*sub)->Next(&changes, &checkpoint);
        if (!ns.ok()) {
          s.error = ErrorText(ns);
          return;
        }
        const uint64_t now = NowNs() - t0;
        s.messages++;
        for (const client::Change& c : changes) {
          s.bytes += c.key.size() + (c.after ? c.after->size() : 0);
        }
        if (!changes.empty()) {
          if (s.changes == 0) s.first_ns = now;
          s.changes += changes.size();
          seen = std::max(seen, changes.back().seq);
          s.last_ns = now;
        }
        seen = std::max(seen, checkpoint);
      }
      (*sub)->Cancel();
    });
  }
  for (auto& t : threads) t.join();
  const double wall = Seconds(NowNs() - start);
  cpu.End();

  CatchupReport r;
  r.target = "rdeebee";
  r.server = SubscribeServer(o);
  r.fsync = fsync;
  r.log_last = target;
  r.preload_events = pre.events;
  r.preload_seconds = pre.seconds;
  uint64_t slowest_ns = 0;
  for (const Sub& s : subs) {
    r.changes += s.changes;
    r.bytes += s.bytes;
    r.messages += s.messages;
    slowest_ns = std::max(slowest_ns, s.last_ns);
    if (!s.error.empty()) r.errors[s.error]++;
  }
  r.seconds = Seconds(std::max<uint64_t>(slowest_ns, 1));
  r.first_change_ms = subs.empty() ? 0.0 : static_cast<double>(subs[0].first_ns) / 1e6;
  r.server_cpu = cpu.Server(wall);
  r.bench_cpu = cpu.Self(wall);
  return PrintCatchup(o, r, json);
}

// --- live (gRPC's callback API: every stream is served by gRPC's own few threads) ---

// One Subscribe stream from LATEST. Its messages are tallied in OnReadDone, on a gRPC thread; one
// read is outstanding at a time, so the tally needs no lock.
class LiveReader final : public grpc::ClientReadReactor<pb::SubscribeResponse> {
 public:
  LiveReader(const AckTimes* acks, const AckTimes* sends, uint64_t base)
      : acks_(acks), sends_(sends), base_(base) {
    req_.set_start(pb::START_POSITION_LATEST);
  }

  void Start(pb::EventStore::Stub* stub) {
    stub->async()->Subscribe(&ctx_, &req_, this);
    StartRead(&msg_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended: OnDone follows
    const uint64_t now = NowNs();
    uint64_t seen = msg_.has_checkpoint() ? msg_.checkpoint().seq() : 0;
    const auto& changes = msg_.changes();
    if (!changes.empty()) {
      const uint64_t last = changes[changes.size() - 1].seq();
      if (last > base_) tally.messages++;
      for (const pb::ChangeEvent& c : changes) {
        if (c.seq() > base_) tally.Receive(*acks_, *sends_, c.seq(), now);
      }
      seen = std::max(seen, last);
    }
    if (seen > seen_.load()) seen_.store(seen);
    ready_.store(true);
    StartRead(&msg_);
  }

  void OnDone(const grpc::Status& s) override {
    std::lock_guard lock(mu_);
    if (!s.ok() || !stopping_) {
      error_ = s.ok() ? "the server ended the subscription"
                      : "grpc " + std::to_string(s.error_code()) + ": " +
                            s.error_message().substr(0, 80);
      if (stopping_ && s.error_code() == grpc::StatusCode::CANCELLED) error_.clear();
    }
    done_ = true;
    ready_.store(true);
    cv_.notify_all();
  }

  // Ends the stream and waits for OnDone.
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      if (done_) return;
    }
    ctx_.TryCancel();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return done_; });
  }

  bool ready() const { return ready_.load(); }
  uint64_t seen() const { return seen_.load(); }
  std::string error() const {
    std::lock_guard lock(mu_);
    return error_;
  }

  LiveTally tally;

 private:
  const AckTimes* const acks_;
  const AckTimes* const sends_;
  const uint64_t base_;
  grpc::ClientContext ctx_;
  pb::SubscribeRequest req_;
  pb::SubscribeResponse msg_;
  std::atomic<uint64_t> seen_{0};  // highest seq covered by a change or checkpoint received
  std::atomic<bool> ready_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool done_ = false;
  std::string error_;
};

// A gRPC connection of its own (not shared with the writers' or other subscribers'), ready.
Result<std::unique_ptr<pb::EventStore::Stub>> ConnectStub(const SubscribeBenchOptions& o) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  const std::string& server = SubscribeServer(o);
  auto channel = grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args);
  if (!channel) return Status::Unavailable("cannot create a channel to " + server);
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
  if (!channel->WaitForConnected(deadline))
    return Status::Unavailable("cannot connect to " + server);
  return pb::EventStore::NewStub(channel);
}

int RunLive(const SubscribeBenchOptions& o, bool json, const std::string& fsync) {
  auto fail = [](const Status& st) {
    std::fprintf(stderr, "rdb-bench: %s\n", st.ToString().c_str());
    return 1;
  };
  auto st = LastSeq(o);
  if (!st.ok()) return fail(st.status());
  const uint64_t base = *st;
  AckTimes acks(base, ClusterRun(o)), sends(base, ClusterRun(o));
  if (!acks.ok() || !sends.ok())
    return fail(Status::ResourceExhausted("cannot reserve the ack-time table"));

  // Subscribers from LATEST, streams_per_connection per connection, established before any write.
  std::vector<std::unique_ptr<pb::EventStore::Stub>> stubs;
  for (uint32_t i = 0;
       i < (o.subscribers + o.streams_per_connection - 1) / o.streams_per_connection; i++) {
    auto stub = ConnectStub(o);
    if (!stub.ok()) return fail(stub.status());
    stubs.push_back(std::move(stub).value());
  }
  std::vector<std::unique_ptr<LiveReader>> subs;
  auto cancel_all = [&] {
    for (auto& s : subs) s->Stop();
  };
  for (uint32_t i = 0; i < o.subscribers; i++) {
    subs.push_back(std::make_unique<LiveReader>(&acks, &sends, base));
    subs.back()->Start(stubs[i / o.streams_per_connection].get());
  }
  const uint64_t ready_deadline = NowNs() + static_cast<uint64_t>(o.drain_timeout_s * 1e9);
  for (auto& s : subs) {
    while (!s->ready() && NowNs() < ready_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& s : subs) {
    if (!s->ready() || !s->error().empty()) {
      std::string e = s->ready() ? s->error() : "a subscription was not established in time";
      cancel_all();
      return fail(Status::Unavailable(e));
    }
  }

  // Writers: single-event appends, open loop at rate/writers each, or closed loop.
  std::vector<Writer> writers;
  for (uint32_t i = 0; i < o.writers; i++) {
    auto c = ConnectWriter(o);
    if (!c.ok()) {
      cancel_all();
      return fail(c.status());
    }
    writers.push_back(std::move(c).value());
  }
  CpuWindow cpu(o.server_pid);
  LiveReport r;
  r.target = "rdeebee";
  r.server = SubscribeServer(o);
  r.fsync = fsync;
  r.subscriber_connections = stubs.size();
  const uint64_t target = RunWriters(
      o, &acks, &sends, &cpu, &r,
      [&](uint32_t w, const std::string& key, const std::string& payload) -> Result<Written> {
        const std::vector<client::EventInput> batch(o.batch, client::EventInput{payload, ""});
        RDB_ASSIGN_OR_RETURN(auto reply, writers[w].For(key)->Append(key, batch));
        if (reply.last_seq - reply.first_seq + 1 != o.batch)
          return Status::Corruption("an append of " + std::to_string(o.batch) +
                                    " events got seqs " + std::to_string(reply.first_seq) + ".." +
                                    std::to_string(reply.last_seq));
        return Written{reply.first_seq, reply.last_seq};
      });
  // Drain: every subscriber reaches the last acknowledged seq, or the timeout.
  const uint64_t drain_start = NowNs();
  const uint64_t drain_deadline = drain_start + static_cast<uint64_t>(o.drain_timeout_s * 1e9);
  bool drained = true;
  for (auto& s : subs) {
    while (s->seen() < target && s->error().empty() && NowNs() < drain_deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (s->seen() < target) drained = false;
  }
  r.drain_seconds = Seconds(NowNs() - drain_start);
  cancel_all();
  std::vector<LiveTally*> tallies;
  for (auto& s : subs) {
    tallies.push_back(&s->tally);
    if (!s->error().empty()) r.errors["subscriber: " + s->error()]++;
  }
  if (!drained) r.errors["subscriber did not reach the last acknowledged seq in time"]++;
  MergeTallies(acks, sends, tallies, &r);
  return PrintLive(o, r, json);
}

}  // namespace

uint64_t RunWriters(const SubscribeBenchOptions& o, AckTimes* acks, AckTimes* sends, CpuWindow* cpu,
                    LiveReport* report, const WriteFn& write) {
  struct WriterResult {
    uint64_t appended = 0;  // events
    uint64_t requests = 0;
    uint64_t max_seq = 0;
    Histogram ack_ns;  // from the intended send time (fixed rate) or the send
    std::map<std::string, uint64_t> errors;
  };
  std::vector<WriterResult> wres(o.writers);
  cpu->Begin();
  const uint64_t start = NowNs();
  const uint64_t end = start + static_cast<uint64_t>(o.duration_s * 1e9);
  std::vector<std::thread> writer_threads;
  for (uint32_t w = 0; w < o.writers; w++) {
    writer_threads.emplace_back([&, w] {
      WriterResult& r = wres[w];
      std::mt19937_64 rng(0x9E3779B97F4A7C15ull * (w + 1));
      const std::string payload = Payload(o.payload_bytes, w);
      const auto groups = static_cast<uint32_t>(WriteAddresses(o).size());  // only_group's
      // Per writer, between requests: the rate is in events, each request carries o.batch.
      const double interval_ns = o.rate > 0 ? 1e9 * o.writers * o.batch / o.rate : 0;
      for (uint64_t sent = 0;; sent++) {
        uint64_t intended = NowNs();
        if (interval_ns > 0) {
          intended =
              start + static_cast<uint64_t>(interval_ns * (static_cast<double>(sent) +
                                                           static_cast<double>(w) / o.writers));
          if (intended >= end) break;
          const uint64_t now = NowNs();
          if (intended > now) std::this_thread::sleep_for(std::chrono::nanoseconds(intended - now));
        }
        if (intended >= end || NowNs() >= end) break;  // a late schedule does not extend the run
        std::string key = KeyName(o.key_prefix, rng() % o.key_space);
        while (o.only_group >= 0 &&
               cluster::GroupOfKey(key, groups) != static_cast<uint32_t>(o.only_group))
          key = KeyName(o.key_prefix, rng() % o.key_space);
        const uint64_t send = NowNs();
        auto seqs = write(w, key, payload);
        const uint64_t ack = NowNs();
        if (!seqs.ok()) {
          r.errors[ErrorText(seqs.status())]++;
          continue;
        }
        // Every event of the request is timed from the request's send and acknowledgement.
        for (uint64_t seq = seqs->first; seq <= seqs->last; seq++) {
          sends->Set(seq, send);
          acks->Set(seq, ack);
        }
        r.appended += seqs->last - seqs->first + 1;
        r.requests++;
        r.max_seq = std::max(r.max_seq, seqs->last);
        r.ack_ns.Record(ack - intended);
      }
    });
  }
  for (auto& t : writer_threads) t.join();
  report->seconds = Seconds(NowNs() - start);
  cpu->End();
  report->server_cpu = cpu->Server(report->seconds);
  report->bench_cpu = cpu->Self(report->seconds);
  uint64_t target = 0;
  for (const WriterResult& r : wres) {
    report->appended += r.appended;
    report->requests += r.requests;
    target = std::max(target, r.max_seq);
    report->append_ns.Merge(r.ack_ns);
    for (const auto& [k, v] : r.errors) report->errors[k] += v;
  }
  return target;
}

void MergeTallies(const AckTimes& acks, const AckTimes& sends, std::vector<LiveTally*> tallies,
                  LiveReport* r) {
  for (LiveTally* t : tallies) {
    for (const auto& [seq, at] : t->deferred) {
      // Not acknowledged: a failed write, or outside the table.
      if (!t->Record(acks, sends, seq, at)) r->unmatched++;
    }
    t->deferred.clear();
    r->all.latency_ns.Merge(t->latency_ns);
    r->all.e2e_ns.Merge(t->e2e_ns);
    r->all.received += t->received;
    r->all.messages += t->messages;
    r->all.before_ack += t->before_ack;
    if (t->received < r->appended) r->missing += r->appended - t->received;
  }
}

int PrintCatchup(const SubscribeBenchOptions& o, const CatchupReport& r, bool json) {
  const double eps = static_cast<double>(r.changes) / r.seconds;
  const double mbps = static_cast<double>(r.bytes) / r.seconds / 1e6;
  const double preload_eps =
      r.preload_seconds > 0 ? static_cast<double>(r.preload_events) / r.preload_seconds : 0.0;
  if (json) {
    nlohmann::ordered_json j;
    j["target"] = r.target;
    j["server"] = r.server;
    j["server_fsync"] = r.fsync;
    j["workload"] = "subscribe-catchup";
    j["payload_bytes"] = o.payload_bytes;
    j["key_space"] = o.key_space;
    j["subscribers"] = o.subscribers;
    j[r.target == "etcd" ? "last_revision" : "log_last_seq"] = r.log_last;
    j["preload_events"] = r.preload_events;
    j["preload_seconds"] = r.preload_seconds;
    j["preload_events_per_sec"] = preload_eps;
    j["changes"] = r.changes;
    j["messages"] = r.messages;
    j["seconds"] = r.seconds;
    j["first_change_ms"] = r.first_change_ms;
    j["events_per_sec"] = eps;
    j["mb_per_sec"] = mbps;
    j["server_cpu_cores"] = r.server_cpu;
    j["bench_cpu_cores"] = r.bench_cpu;
    j["errors"] = r.errors;
    std::cout << j.dump() << "\n";
  } else {
    std::printf(
        "rdb-bench: %s %s (fsync %s), workload subscribe-catchup, %u subscriber(s) from %s "
        "(payload %zu B, %llu keys)\n",
        r.target.c_str(), r.server.c_str(), r.fsync.c_str(), o.subscribers,
        r.target == "etcd" ? "the first preload revision" : "EARLIEST", o.payload_bytes,
        static_cast<unsigned long long>(o.key_space));
    if (r.preload_events > 0) {
      std::printf("preload: %llu events in %.2f s (%.0f events/s)\n",
                  static_cast<unsigned long long>(r.preload_events), r.preload_seconds,
                  preload_eps);
    }
    std::printf("%llu changes in %llu messages in %.2f s: %.0f events/s, %.2f MB/s (key+payload)\n",
                static_cast<unsigned long long>(r.changes),
                static_cast<unsigned long long>(r.messages), r.seconds, eps, mbps);
    if (!r.server_cpu.is_null())
      std::printf("server CPU: %.2f cores\n", r.server_cpu.get<double>());
    std::printf("rdb-bench CPU: %.2f cores\n", r.bench_cpu);
    for (const auto& [k, v] : r.errors)
      std::printf("error x%llu: %s\n", static_cast<unsigned long long>(v), k.c_str());
  }
  return r.errors.empty() ? 0 : 1;
}

int PrintLive(const SubscribeBenchOptions& o, const LiveReport& r, bool json) {
  const double eps = static_cast<double>(r.appended) / r.seconds;
  const double per_message =
      r.all.messages > 0 ? static_cast<double>(r.all.received) / r.all.messages : 0.0;
  if (json) {
    nlohmann::ordered_json j;
    j["target"] = r.target;
    j["server"] = r.server;
    j["server_fsync"] = r.fsync;
    j["workload"] = "subscribe-live";
    j["payload_bytes"] = o.payload_bytes;
    j["key_space"] = o.key_space;
    j["subscribers"] = o.subscribers;
    j["subscriber_connections"] = r.subscriber_connections;
    j["writers"] = o.writers;
    j["rate"] = o.rate;
    j["batch"] = o.batch;
    j["seconds"] = r.seconds;
    j["appended"] = r.appended;
    j["requests"] = r.requests;
    j["events_per_sec"] = eps;
    j["delivered"] = r.all.received;
    j["delivered_per_sec"] = static_cast<double>(r.all.received) / r.seconds;
    j["changes_per_message"] = per_message;
    j["latency_us"] = LatencyJson(r.all.latency_ns);
    j["send_to_receipt_us"] = LatencyJson(r.all.e2e_ns);
    j["append_latency_us"] = LatencyJson(r.append_ns);
    j["before_ack"] = r.all.before_ack;
    j["unmatched"] = r.unmatched;
    j["missing"] = r.missing;
    j["drain_seconds"] = r.drain_seconds;
    j["server_cpu_cores"] = r.server_cpu;
    j["bench_cpu_cores"] = r.bench_cpu;
    j["errors"] = r.errors;
    std::cout << j.dump() << "\n";
  } else {
    char rate_buf[32];
    std::snprintf(rate_buf, sizeof rate_buf, "%.0f events/s", o.rate);
    char batch_buf[32] = "single-event";
    if (o.batch > 1) std::snprintf(batch_buf, sizeof batch_buf, "%u-event", o.batch);
    std::printf(
        "rdb-bench: %s %s (fsync %s), workload subscribe-live, %u subscriber(s) on %zu "
        "connection(s), %u writers, %s %s at %s, payload %zu B, %llu keys\n",
        r.target.c_str(), r.server.c_str(), r.fsync.c_str(), o.subscribers,
        r.subscriber_connections, o.writers, batch_buf, r.target == "etcd" ? "puts" : "appends",
        o.rate > 0 ? rate_buf : "max", o.payload_bytes,
        static_cast<unsigned long long>(o.key_space));
    std::printf(
        "%llu events appended (%llu requests) in %.2f s: %.0f events/s; %llu changes delivered "
        "(%.0f/s); %.1f changes per message; drained in %.2f s\n",
        static_cast<unsigned long long>(r.appended), static_cast<unsigned long long>(r.requests),
        r.seconds, eps, static_cast<unsigned long long>(r.all.received),
        static_cast<double>(r.all.received) / r.seconds, per_message, r.drain_seconds);
    PrintLatency("ack->rx", r.all.latency_ns);
    PrintLatency("send->rx", r.all.e2e_ns);
    PrintLatency("append", r.append_ns);
    std::printf("received before the writer saw the ack: %llu; unmatched: %llu; missing: %llu\n",
                static_cast<unsigned long long>(r.all.before_ack),
                static_cast<unsigned long long>(r.unmatched),
                static_cast<unsigned long long>(r.missing));
    if (!r.server_cpu.is_null())
      std::printf("server CPU: %.2f cores\n", r.server_cpu.get<double>());
    std::printf("rdb-bench CPU: %.2f cores\n", r.bench_cpu);
    for (const auto& [k, v] : r.errors)
      std::printf("error x%llu: %s\n", static_cast<unsigned long long>(v), k.c_str());
  }
  return r.errors.empty() && r.missing == 0 ? 0 : 1;
}

}  // namespace sub

int RunSubscribeBench(const SubscribeBenchOptions& o, bool json, const std::string& fsync) {
  sub::NowNs();  // fix the clock's epoch
  if (o.etcd) return o.live ? sub::RunEtcdLive(o, json) : sub::RunEtcdCatchup(o, json);
  return o.live ? sub::RunLive(o, json, fsync) : sub::RunCatchup(o, json, fsync);
}

}  // namespace rdb::bench
