// rdb-bench --api stream: the append workload over EventStore.AppendStream. Each client is one
// stream with one append in flight (the next is sent when the previous is acknowledged), so a
// client is still "one event per request, each acknowledged on its own"; the streams share
// --connections TCP connections. No threads per client: acks arrive on gRPC's threads, which send
// the next append (closed loop) or hand the client to one pacing thread (--rate), which sends it
// at its intended time; latency is measured from that time, as in the unary loop.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <thread>
#include <vector>

#include "client/client.h"
#include "tools/rdb-bench/workload.h"

namespace rdb::bench {

namespace {

using Clock = std::chrono::steady_clock;

class Pacer;

// One client: its stream, its schedule and its own counts (touched by one thread at a time: its
// single append in flight orders them).
struct Writer {
  const BenchOptions* o = nullptr;
  uint32_t index = 0;
  client::AppendStream* stream = nullptr;
  Pacer* pacer = nullptr;  // --rate only
  std::mt19937_64 rng;
  client::StreamAppend append;
  Clock::time_point start, end, intended;
  std::chrono::duration<double> interval{0};
  uint64_t sent = 0;
  BenchResult local;
  std::function<void()> finished;

  // The next append's intended time, or nullopt when the run is over.
  std::optional<Clock::time_point> NextTime() {
    if (o->ops > 0 && sent >= o->ops / o->clients + (index < o->ops % o->clients ? 1 : 0))
      return std::nullopt;
    Clock::time_point t = Clock::now();
    if (o->rate > 0) {
      t = start +
          std::chrono::duration_cast<Clock::duration>(
              interval * (static_cast<double>(sent) + static_cast<double>(index) / o->clients));
    }
    if (o->ops == 0 && (o->rate > 0 ? t : Clock::now()) >= end) return std::nullopt;
    return t;
  }

  void Send(Clock::time_point when) {
    intended = when;
    sent++;
    append.key = KeyName(o->key_prefix, o->keys == KeyPattern::kSequential
                                            ? (index + sent * o->clients) % o->key_space
                                            : rng() % o->key_space);
    stream->Send(append, [this](Result<client::AppendReply> r) { Acked(r.status()); });
  }

  void Acked(const Status& st);
  void Schedule();
};

// --rate: sends each client's next append at its intended time, from one thread.
class Pacer {
 public:
  Pacer() : thread_([this] { Run(); }) {}
  ~Pacer() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Add(Clock::time_point when, Writer* w) {
    {
      std::lock_guard<std::mutex> l(mu_);
      due_.emplace(when, w);
    }
    cv_.notify_all();
  }

 private:
  using Entry = std::pair<Clock::time_point, Writer*>;
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const { return a.first > b.first; }
  };
  void Run() {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      if (due_.empty()) {
        cv_.wait(l);
        continue;
      }
      Entry e = due_.top();
      if (Clock::now() < e.first) {
        cv_.wait_until(l, e.first);
        continue;
      }
      due_.pop();
      l.unlock();
      e.second->Send(e.first);
      l.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Entry, std::vector<Entry>, Later> due_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the rest is built
};

void Writer::Acked(const Status& st) {
  auto ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - intended).count());
  if (st.ok()) {
    local.requests++;
    local.events += o->batch;
    local.bytes += o->batch * o->payload_bytes;
    local.latency_ns.Record(ns);
    local.append_ns.Record(ns);
  } else {
    local.errors[std::string(CodeName(st.code())) + ": " + st.message().substr(0, 80)]++;
  }
  Schedule();
}

void Writer::Schedule() {
  std::optional<Clock::time_point> next = NextTime();
  if (!next) return finished();
  if (pacer != nullptr && *next > Clock::now()) return pacer->Add(*next, this);
  Send(*next);
}

}  // namespace

Result<BenchResult> RunStreamBench(const BenchOptions& o) {
  if (o.target != Target::kRdeebee || o.workload != Workload::kAppend || o.route_groups)
    return Status::InvalidArgument(
        "--api stream drives rdb-server's append workload only (no --target etcd, get, mixed or "
        "--route-groups)");
  const uint32_t connections = StreamConnections(o);
  client::ClientOptions co;
  co.timeout_seconds = o.timeout_s;
  co.own_connection = true;
  std::vector<std::unique_ptr<client::Client>> conns;
  for (uint32_t i = 0; i < connections; i++) {
    RDB_ASSIGN_OR_RETURN(auto c, client::Client::Connect(o.server, co));
    RDB_RETURN_IF_ERROR(c->WaitUntilReady(o.timeout_s));
    conns.push_back(std::move(c));
  }
  std::vector<std::unique_ptr<client::AppendStream>> streams;
  for (uint32_t i = 0; i < o.clients; i++)
    streams.push_back(conns[i % connections]->OpenAppendStream());

  std::mutex mu;
  std::condition_variable cv;
  uint32_t running = o.clients;
  std::unique_ptr<Pacer> pacer;
  if (o.rate > 0) pacer = std::make_unique<Pacer>();
  std::vector<Writer> writers(o.clients);
  const Clock::time_point start = Clock::now();
  const double per_client_rate = o.rate / o.clients;
  for (uint32_t i = 0; i < o.clients; i++) {
    Writer& w = writers[i];
    w.o = &o;
    w.index = i;
    w.stream = streams[i].get();
    w.pacer = pacer.get();
    w.rng.seed(0x9E3779B97F4A7C15ull * (i + 1));
    w.append.events.assign(o.batch, client::EventInput{RandomPayload(o.payload_bytes, i), ""});
    w.start = start;
    w.end = start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(o.duration_s));
    if (per_client_rate > 0) w.interval = std::chrono::duration<double>(1.0 / per_client_rate);
    w.finished = [&] {
      std::lock_guard<std::mutex> l(mu);
      if (--running == 0) cv.notify_all();
    };
  }
  for (Writer& w : writers) w.Schedule();
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return running == 0; });
  }
  BenchResult total;
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  pacer.reset();
  for (auto& s : streams) {
    Status st = s->Close(o.timeout_s);
    if (!st.ok()) total.errors["stream: " + st.message().substr(0, 80)]++;
  }
  for (Writer& w : writers) {
    total.requests += w.local.requests;
    total.events += w.local.events;
    total.bytes += w.local.bytes;
    total.latency_ns.Merge(w.local.latency_ns);
    total.append_ns.Merge(w.local.append_ns);
    for (const auto& [k, v] : w.local.errors) total.errors[k] += v;
  }
  return total;
}

}  // namespace rdb::bench
