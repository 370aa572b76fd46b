// engine_bench: db_bench-style workloads against the RDeeBee engine, in-process.
//
// Prints one "RESULT" line per benchmark (machine-readable; bench/run.sh builds the table with
// RocksDB's db_bench beside it) and a human summary. Latencies are exact percentiles over every
// operation's duration.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/engine.h"

namespace rdb {
namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string db = "/tmp/rdb-engine-bench";
  std::string benchmarks = "fillseq,fillrandom,readrandom,readseq";
  uint64_t num = 1'000'000;
  int threads = 1;
  double duration_s = 0;  // > 0: run for this long instead of num ops (per thread)
  bool sync = false;
  size_t key_size = 16;
  size_t value_size = 100;
  size_t memtable_bytes = 64ull << 20;
  size_t cache_bytes = 512ull << 20;
};

struct Outcome {
  uint64_t ops = 0;
  double seconds = 0;
  std::vector<uint32_t> latencies_ns;  // per op, capped at ~4.29 s
};

std::string Key(uint64_t k, size_t size) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llu", static_cast<unsigned long long>(k));
  std::string s(buf);
  if (s.size() < size) s.insert(0, size - s.size(), '0');
  return s.substr(s.size() - size);
}

std::string Value(std::mt19937_64& rng, size_t size) {
  std::string v(size, 'x');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8 && i + j < size; j++)
      v[i + j] = static_cast<char>('a' + (r >> (j * 8)) % 26);
  }
  return v;
}

void Report(const std::string& name, const Config& c, Outcome& o, const std::string& extra = "") {
  auto& l = o.latencies_ns;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) -> double {
    if (l.empty()) return 0;
    size_t idx = std::min(l.size() - 1, static_cast<size_t>(p * static_cast<double>(l.size())));
    return l[idx] / 1000.0;
  };
  double ops_s = o.seconds > 0 ? static_cast<double>(o.ops) / o.seconds : 0;
  std::printf(
      "RESULT name=%s threads=%d ops=%llu seconds=%.3f ops_per_sec=%.0f p50_us=%.2f "
      "p99_us=%.2f p999_us=%.2f max_us=%.2f %s\n",
      name.c_str(), c.threads, static_cast<unsigned long long>(o.ops), o.seconds, ops_s, pct(0.50),
      pct(0.99), pct(0.999), l.empty() ? 0.0 : l.back() / 1000.0, extra.c_str());
  std::fflush(stdout);
}

std::unique_ptr<Engine> OpenDb(const Config& c, bool fresh, FsyncPolicy fsync,
                               size_t memtable_bytes) {
  if (fresh) std::filesystem::remove_all(c.db);
  EngineOptions o;
  o.data_dir = c.db;
  o.fsync = fsync;
  o.memtable_bytes = memtable_bytes;
  o.block_cache_bytes = c.cache_bytes;
  auto e = Engine::Open(o);
  if (!e.ok()) {
    std::fprintf(stderr, "open %s: %s\n", c.db.c_str(), e.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(e).value();
}

// Runs op(thread, i, rng) on c.threads threads, num ops each or for duration_s.
template <typename Op>
Outcome RunThreads(const Config& c, uint64_t num_per_thread, Op op) {
  std::vector<Outcome> per(c.threads);
  std::atomic<bool> stop{false};
  auto start = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < c.threads; t++) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + t);
      Outcome& o = per[t];
      o.latencies_ns.reserve(c.duration_s > 0 ? 1 << 20 : num_per_thread);
      for (uint64_t i = 0;
           c.duration_s > 0 ? !stop.load(std::memory_order_relaxed) : i < num_per_thread; i++) {
        auto t0 = Clock::now();
        op(t, i, rng);
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        o.latencies_ns.push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
        o.ops++;
      }
    });
  }
  if (c.duration_s > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(c.duration_s));
    stop = true;
  }
  for (auto& t : ts) t.join();
  Outcome all;
  all.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& o : per) {
    all.ops += o.ops;
    all.latencies_ns.insert(all.latencies_ns.end(), o.latencies_ns.begin(), o.latencies_ns.end());
  }
  return all;
}

void Append(Engine& db, std::string key, std::string value) {
  AppendRequest req;
  req.key = std::move(key);
  req.events.push_back({EventKind::kPut, "", std::move(value)});
  auto r = db.Append(std::move(req));
  if (!r.ok()) {
    std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
}

long MaxRssMiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

void Fill(const Config& c, const std::string& name, bool random) {
  auto db = OpenDb(c, true, c.sync ? FsyncPolicy::kAlways : FsyncPolicy::kNever, c.memtable_bytes);
  const uint64_t per_thread = c.num / c.threads;
  Outcome o = RunThreads(c, per_thread, [&](int t, uint64_t i, std::mt19937_64& rng) {
    uint64_t k = random ? rng() % c.num : t * per_thread + i;
    Append(*db, Key(k, c.key_size), Value(rng, c.value_size));
  });
  Engine::Stats s = db->stats();
  uint64_t user = o.ops * (c.key_size + c.value_size);
  double wamp =
      user ? static_cast<double>(s.log_bytes + s.index.bytes_flushed + s.index.bytes_compacted) /
                 static_cast<double>(user)
           : 0;
  char extra[256];
  std::snprintf(extra, sizeof(extra), "group_commits=%llu syncs=%llu write_amp=%.2f rss_mib=%ld",
                static_cast<unsigned long long>(s.group_commits),
                static_cast<unsigned long long>(s.log_syncs), wamp, MaxRssMiB());
  Report(name, c, o, extra);
  (void)db->Close();
}

void ReadRandom(const Config& c) {
  auto db = OpenDb(c, false, FsyncPolicy::kNever, c.memtable_bytes);
  uint64_t found = 0;
  std::atomic<uint64_t> found_total{0};
  Outcome o = RunThreads(c, c.num / c.threads, [&](int, uint64_t, std::mt19937_64& rng) {
    auto e = db->Get(Key(rng() % c.num, c.key_size));
    if (e.ok()) found_total.fetch_add(1, std::memory_order_relaxed);
  });
  found = found_total.load();
  Report("readrandom", c, o, "found=" + std::to_string(found));
  (void)db->Close();
}

void ReadSeq(const Config& c) {
  auto db = OpenDb(c, false, FsyncPolicy::kNever, c.memtable_bytes);
  Outcome o;
  auto start = Clock::now();
  uint64_t from = 0;
  for (;;) {
    ReadAllRequest req;
    req.from_seq = from;
    req.limit = kReadLimitMax;
    auto t0 = Clock::now();
    auto r = db->ReadAll(req);
    if (!r.ok()) {
      std::fprintf(stderr, "ReadAll: %s\n", r.status().ToString().c_str());
      std::exit(1);
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    // Per-event latency: a page's time spread over its events.
    for (size_t i = 0; i < r->events.size(); i++) {
      o.latencies_ns.push_back(static_cast<uint32_t>(ns / std::max<size_t>(1, r->events.size())));
    }
    o.ops += r->events.size();
    if (r->next == 0) break;
    from = r->next;
  }
  o.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Report("readseq", c, o);
  (void)db->Close();
}

// Writes num events into a memtable large enough to hold them all, closes without flushing, and
// times the reopen (which replays the log into the index).
void Reopen(const Config& c) {
  {
    auto db = OpenDb(c, true, FsyncPolicy::kNever, 4ull << 30);
    std::mt19937_64 rng(7);
    for (uint64_t i = 0; i < c.num; i++)
      Append(*db, Key(rng() % c.num, c.key_size), Value(rng, c.value_size));
    (void)db->Close();
  }
  auto t0 = Clock::now();
  auto db = OpenDb(c, false, FsyncPolicy::kNever, 4ull << 30);
  Outcome o;
  o.ops = 1;
  o.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  o.latencies_ns.push_back(static_cast<uint32_t>(std::min(o.seconds * 1e9, 4.29e9)));
  Report("reopen", c, o, "events=" + std::to_string(c.num));
  (void)db->Close();
}

}  // namespace
}  // namespace rdb

int main(int argc, char** argv) {
  rdb::Config c;
  CLI::App app{"engine_bench: db_bench-style workloads against the RDeeBee engine"};
  app.add_option("--db", c.db, "data directory (destroyed by fill benchmarks)");
  app.add_option("--benchmarks", c.benchmarks,
                 "comma-separated: fillseq, fillrandom, readrandom, readseq, reopen");
  app.add_option("--num", c.num, "operations (keys) per benchmark");
  app.add_option("--threads", c.threads, "concurrent threads");
  app.add_option("--duration", c.duration_s, "seconds to run fill benchmarks (0 = --num ops)");
  app.add_flag("--sync", c.sync, "fsync=always (acknowledged means durable)");
  app.add_option("--key_size", c.key_size, "key bytes");
  app.add_option("--value_size", c.value_size, "payload bytes");
  app.add_option("--memtable_bytes", c.memtable_bytes, "memtable budget");
  app.add_option("--cache_bytes", c.cache_bytes, "block cache budget");
  CLI11_PARSE(app, argc, argv);
  std::string list = c.benchmarks + ",";
  for (size_t pos = 0, next; (next = list.find(',', pos)) != std::string::npos; pos = next + 1) {
    std::string b = list.substr(pos, next - pos);
    if (b == "fillseq")
      rdb::Fill(c, b, false);
    else if (b == "fillrandom")
      rdb::Fill(c, b, true);
    else if (b == "readrandom")
      rdb::ReadRandom(c);
    else if (b == "readseq")
      rdb::ReadSeq(c);
    else if (b == "reopen")
      rdb::Reopen(c);
    else if (!b.empty()) {
      std::fprintf(stderr, "unknown benchmark %s\n", b.c_str());
      return 2;
    }
  }
  return 0;
}
