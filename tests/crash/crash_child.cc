// The crash test's child: appends concurrently with fsync=always and reports each acknowledgement
// on stdout ("A <run> <thread> <i> <key> <first version> <first seq> <events>\n", one write(2) per
// line), until killed.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "tests/crash/crash_payload.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DATA_DIR RUN THREADS\n", argv[0]);
    return 2;
  }
  rdb::EngineOptions options;
  options.data_dir = argv[1];
  options.fsync = rdb::FsyncPolicy::kAlways;
  options.memtable_bytes = 256 << 10;  // flush often so crashes land mid-flush and mid-compaction
  options.segment_bytes_max = 512 << 10;
  const uint64_t run = std::strtoull(argv[2], nullptr, 10);
  const int threads = std::atoi(argv[3]);
  auto engine = rdb::Engine::Open(options);
  if (!engine.ok()) {
    std::fprintf(stderr, "open: %s\n", engine.status().ToString().c_str());
    return 1;
  }
  std::mutex out_mu;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; t++) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(run * 1000 + t);
      for (uint64_t i = 0;; i++) {
        rdb::AppendRequest req;
        const std::string key = rdb::crash::KeyFor(rng());
        req.key = key;
        int n = 1 + static_cast<int>(rng() % 3 == 0 ? rng() % 4 : 0);
        for (int e = 0; e < n; e++) {
          req.events.push_back({rdb::EventKind::kPut, "", rdb::crash::Payload(run, t, i, e)});
        }
        auto r = (*engine)->Append(std::move(req));
        if (!r.ok()) {
          std::fprintf(stderr, "append: %s\n", r.status().ToString().c_str());
          std::_Exit(1);
        }
        char line[256];
        int len = std::snprintf(line, sizeof(line), "A %llu %d %llu %s %llu %llu %d\n",
                                static_cast<unsigned long long>(run), t,
                                static_cast<unsigned long long>(i), key.c_str(),
                                static_cast<unsigned long long>(r->first_version),
                                static_cast<unsigned long long>(r->first_seq), n);
        std::lock_guard lock(out_mu);
        if (::write(1, line, static_cast<size_t>(len)) != len) std::_Exit(1);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
