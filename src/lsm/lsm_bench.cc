// lsm_bench: rough single-threaded throughput of the LSM index with the engine's shapes (keys of
// ~30 bytes, values of ~20 bytes): Puts into the memtable, negative Gets (bloom path), positive
// Gets (block cache path), and write amplification after a random-key load with compaction.
//   lsm_bench [dir] [num_keys] [memtable_mib] [l1_mib] [table_mib]
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "lsm/lsm_tree.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string KeyOf(uint64_t i) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "tenant-01/stream-%016" PRIx64 "/v",
                static_cast<uint64_t>(i * 0x9e3779b97f4a7c15ull));
  return buf;
}

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

int Fail(const rdb::Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "/tmp/rdb-lsm-bench";
  uint64_t n = argc > 2 ? std::stoull(argv[2]) : 2'000'000;
  (void)std::system(("rm -rf " + dir).c_str());
  rdb::LsmOptions o;
  o.memtable_bytes = (argc > 3 ? std::stoull(argv[3]) : 64) << 20;
  o.l1_bytes_max = (argc > 4 ? std::stoull(argv[4]) : 64) << 20;
  o.table_file_bytes_max = (argc > 5 ? std::stoull(argv[5]) : 32) << 20;
  auto opened = rdb::LsmTree::Open(o, dir);
  if (!opened.ok()) return Fail(opened.status(), "open");
  auto tree = std::move(opened).value();
  std::printf("keys=%" PRIu64 " key_bytes=%zu value_bytes=20 memtable=%zu MiB l1=%" PRIu64
              " MiB table=%zu MiB\n",
              n, KeyOf(1).size(), o.memtable_bytes >> 20, o.l1_bytes_max >> 20,
              o.table_file_bytes_max >> 20);

  // 1. Puts into the memtable (the first memtable only: no flush interference).
  std::string value(20, 'v');
  uint64_t mem_n = std::min<uint64_t>(n, o.memtable_bytes / 160);
  auto t = Clock::now();
  for (uint64_t i = 0; i < mem_n; i++) {
    rdb::Status s = tree->Put(KeyOf(i), value, i + 1);
    if (!s.ok()) return Fail(s, "put");
  }
  double secs = Seconds(t);
  std::printf("put (memtable only):       %10.0f ops/s\n", mem_n / secs);

  // 2. The rest, with flushes and compactions running behind.
  t = Clock::now();
  for (uint64_t i = mem_n; i < n; i++) {
    rdb::Status s = tree->Put(KeyOf(i), value, i + 1);
    if (!s.ok()) return Fail(s, "put");
  }
  secs = Seconds(t);
  std::printf("put (with flush/compact):  %10.0f ops/s\n", (n - mem_n) / secs);
  if (auto s = tree->Flush(); !s.ok()) return Fail(s, "flush");
  if (auto s = tree->CompactAll(); !s.ok()) return Fail(s, "compact");

  std::mt19937_64 rng(42);
  const uint64_t gets = 500'000;
  std::string v;
  t = Clock::now();
  for (uint64_t i = 0; i < gets; i++) {
    rdb::Status s = tree->Get(KeyOf(n + rng() % n), &v);
    if (!s.IsNotFound()) return Fail(s, "negative get");
  }
  std::printf("get (absent key):          %10.0f ops/s\n", gets / Seconds(t));

  for (uint64_t i = 0; i < gets; i++) (void)tree->Get(KeyOf(rng() % n), &v);  // warm the cache
  t = Clock::now();
  for (uint64_t i = 0; i < gets; i++) {
    rdb::Status s = tree->Get(KeyOf(rng() % n), &v);
    if (!s.ok()) return Fail(s, "positive get");
  }
  std::printf("get (present key, cached): %10.0f ops/s\n", gets / Seconds(t));

  t = Clock::now();
  auto it = tree->NewIterator();
  uint64_t count = 0;
  for (it->Seek(""); it->Valid(); it->Next()) count++;
  std::printf("scan:                      %10.0f entries/s (%" PRIu64 " entries)\n",
              count / Seconds(t), count);

  auto st = tree->stats();
  double user_bytes = static_cast<double>(n) * (KeyOf(1).size() + value.size());
  std::printf("levels: %s tables=%" PRIu64 " table_bytes=%" PRIu64 " flushes=%" PRIu64
              " compactions=%" PRIu64 " stalls=%" PRIu64 " stall_ms=%" PRIu64 "\n",
              st.levels.c_str(), st.table_count, st.table_bytes, st.flushes, st.compactions,
              st.write_stalls, st.write_stall_micros / 1000);
  std::printf("write amplification: %.2f ((flushed + compacted) / user bytes)\n",
              (st.bytes_flushed + st.bytes_compacted) / user_bytes);
  (void)tree->Close();
  return 0;
}
