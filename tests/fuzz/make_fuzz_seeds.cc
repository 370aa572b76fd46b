// Seeds the fuzzers' corpora with real files: builds a small database through rdb::Engine (a small
// memtable, so that the index has SSTables and a manifest with several edits, and zstd block
// compression), then copies its log segment, tables and manifest into the corpus directories of
// the raw modes of fuzz_log_segment, fuzz_sst_table and fuzz_manifest (byte 0 = the mode, then the
// file image). scripts/run-fuzzers.sh runs it before the fuzzers; existing seeds are overwritten.
//
//   make_fuzz_seeds CORPUS_ROOT      (e.g. build/fuzz-corpus)
#include <cstdio>
#include <string>

#include "engine/engine.h"
#include "io/env.h"
#include "lsm/format.h"
#include "tests/fuzz/fuzz_util.h"

namespace rdb {
namespace {

int Fail(const Status& s) {
  std::fprintf(stderr, "make_fuzz_seeds: %s\n", s.ToString().c_str());
  return 1;
}

Status WriteSeed(const std::string& root, const std::string& fuzzer, const std::string& name,
                 char mode, const std::string& src) {
  Env* env = Env::Posix();
  std::string data;
  RDB_RETURN_IF_ERROR(ReadFileToString(env, src, &data));
  // A log segment's preallocated zero tail: keep a little of it, not megabytes.
  const size_t end = data.find_last_not_of('\0');
  if (end != std::string::npos && data.size() - end > 64) data.resize(end + 1 + 64);
  RDB_RETURN_IF_ERROR(env->CreateDirs(JoinPath(root, fuzzer)));
  return WriteFileAtomic(env, JoinPath(JoinPath(root, fuzzer), name), std::string(1, mode) + data);
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds CORPUS_ROOT\n");
    return 2;
  }
  const std::string root = argv[1];
  const std::string data_dir = fuzz::ScratchDir() + "/seed-db";
  EngineOptions o;
  o.data_dir = data_dir;
  o.fsync = FsyncPolicy::kNever;
  o.memtable_bytes = 16 << 10;
  o.compression = Compression::kZstd;
  {
    auto engine = Engine::Open(o);
    if (!engine.ok()) return Fail(engine.status());
    for (int i = 0; i < 600 && (*engine)->stats().index.table_count < 2; i++) {
      AppendRequest req;
      req.key = "key-" + std::to_string(i % 50);
      req.idempotency_id = i % 7 == 0 ? "id-" + std::to_string(i) : "";
      const int events = 1 + i % 3;
      for (int e = 0; e < events; e++) {
        req.events.push_back({i % 11 == 10 ? EventKind::kDelete : EventKind::kPut,
                              i % 2 ? "Changed" : "", std::string(20 + i % 40, 'a' + i % 26)});
        if (req.events.back().kind == EventKind::kDelete) req.events.back().payload.clear();
      }
      auto r = (*engine)->Append(req);
      if (!r.ok() && r.status().code() != Code::kNotFound) return Fail(r.status());
    }
    Status s = (*engine)->Close();
    if (!s.ok()) return Fail(s);
  }
  Env* env = Env::Posix();
  Status s = WriteSeed(root, "fuzz_log_segment", "seed-segment", '\0',
                       JoinPath(data_dir, "log/0000000000000001.log"));
  if (!s.ok()) return Fail(s);
  const std::string index = JoinPath(data_dir, "index");
  auto children = env->GetChildren(index);
  if (!children.ok()) return Fail(children.status());
  int tables = 0;
  for (const std::string& c : *children) {
    uint64_t number = 0;
    lsm::FileType type = lsm::ParseFileName(c, &number);
    if (type == lsm::FileType::kTable) {
      s = WriteSeed(root, "fuzz_sst_table", "seed-" + c, '\0', JoinPath(index, c));
      tables++;
    } else if (type == lsm::FileType::kManifest) {
      s = WriteSeed(root, "fuzz_manifest", "seed-" + c, '\0', JoinPath(index, c));
    }
    if (!s.ok()) return Fail(s);
  }
  std::printf("make_fuzz_seeds: seeded %s with a log segment, %d tables and the manifest\n",
              root.c_str(), tables);
  return 0;
}

}  // namespace
}  // namespace rdb

int main(int argc, char** argv) { return rdb::Main(argc, argv); }
