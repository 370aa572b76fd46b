// Real-process crash test: a child appends concurrently with fsync=always and reports every
// acknowledgement; the parent kill -9s it at a random moment, reopens the database and checks it
// against the oracle of acknowledged appends:
//   - every acknowledged event is present, byte-identical, at its version and seq;
//   - nothing that was never written appears (every stored payload is one the child generated,
//     under the key, version and seq order it was generated for);
//   - per key, versions are 1..n without gaps; globally, seqs strictly increase in ReadAll;
//   - the index agrees with the log (Get and ReadStream match ReadAll).
// Iterations accumulate on one data directory, so recovery of a recovered database is exercised.
// RDB_CRASH_ITERATIONS overrides the default count (make crash-test runs 200). A watchdog bounds a
// run of N iterations to 60 s + N x RDB_CRASH_SECONDS_PER_ITERATION (tests/crash/CMakeLists.txt),
// so a hang fails within minutes instead of waiting for ctest's timeout, which is sized for 200.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "engine/engine.h"
#include "tests/crash/crash_payload.h"
#include "tests/support/temp_dir.h"

namespace rdb {
namespace {

struct Ack {
  uint64_t run, i, version, seq;
  int thread, events;
  std::string key;
};

// Starts the child with stdout on a pipe; returns its pid and the pipe's read end.
std::pair<pid_t, int> StartChild(const std::string& dir, uint64_t run, int threads) {
  int fds[2];
  RDB_CHECK(::pipe(fds) == 0);
  pid_t pid = ::fork();
  RDB_CHECK(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    std::string run_s = std::to_string(run), threads_s = std::to_string(threads);
    ::execl(RDB_CRASH_CHILD, RDB_CRASH_CHILD, dir.c_str(), run_s.c_str(), threads_s.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Reads the child's output for about run_ms, then kills it with SIGKILL and reads what is left.
std::string RunAndKill(pid_t pid, int fd, int run_ms) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
  char buf[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    timeval tv{0, 5000};
    if (::select(fd + 1, &set, nullptr, nullptr, &tv) > 0) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_TRUE(WIFSIGNALED(status))
      << "the child exited on its own (status " << status << "); its stderr says why";
  return out;
}

std::vector<Ack> ParseAcks(const std::string& out) {
  std::vector<Ack> acks;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a line cut by the kill has no newline: not an acknowledgement we saw
    Ack a;
    char tag;
    std::istringstream ls(line);
    if (ls >> tag >> a.run >> a.thread >> a.i >> a.key >> a.version >> a.seq >> a.events &&
        tag == 'A') {
      acks.push_back(a);
    }
  }
  return acks;
}

// Parses "<run>:<thread>:<i>:<e>:..." and checks the bytes are exactly what the child generates.
bool IsGeneratedPayload(const std::string& p) {
  unsigned long long run, i;
  int thread, e;
  if (std::sscanf(p.c_str(), "%llu:%d:%llu:%d:", &run, &thread, &i, &e) != 4) return false;
  return crash::Payload(run, thread, i, e) == p;
}

void VerifyDatabase(const std::string& dir, const std::vector<Ack>& acks) {
  EngineOptions options;
  options.data_dir = dir;
  options.memtable_bytes = 256 << 10;
  options.segment_bytes_max = 512 << 10;
  auto opened = Engine::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Engine& db = **opened;

  // The whole log, in seq order.
  std::map<std::string, uint64_t> last_version;
  std::map<std::string, std::string> last_payload;
  std::map<std::pair<std::string, uint64_t>, Event> by_version;
  uint64_t prev_seq = 0, from = 0;
  for (;;) {
    ReadAllRequest req;
    req.from_seq = from;
    req.limit = kReadLimitMax;
    auto r = db.ReadAll(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (Event& e : r->events) {
      ASSERT_GT(e.seq, prev_seq) << "seqs must strictly increase";
      prev_seq = e.seq;
      ASSERT_TRUE(IsGeneratedPayload(e.payload)) << "never-written bytes at seq " << e.seq;
      ASSERT_EQ(e.version, last_version[e.key] + 1) << "version gap on " << e.key;
      last_version[e.key] = e.version;
      last_payload[e.key] = e.payload;
      by_version[{e.key, e.version}] = e;
    }
    if (r->next == 0) break;
    from = r->next;
  }
  // Every acknowledged event is there, byte-identical.
  for (const Ack& a : acks) {
    for (int e = 0; e < a.events; e++) {
      auto it = by_version.find({a.key, a.version + e});
      ASSERT_NE(it, by_version.end())
          << "lost acknowledged append: " << a.key << " v" << a.version + e;
      EXPECT_EQ(it->second.seq, a.seq + e);
      EXPECT_EQ(it->second.payload, crash::Payload(a.run, a.thread, a.i, e));
    }
  }
  // The index agrees with the log.
  for (const auto& [key, version] : last_version) {
    auto state = db.GetKeyState(key);
    ASSERT_TRUE(state.ok());
    ASSERT_EQ(state->version, version) << key;
    auto got = db.Get(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status().ToString();
    ASSERT_EQ(got->payload, last_payload[key]);
    ReadStreamRequest rs;
    rs.key = key;
    rs.direction = Direction::kBackward;
    rs.limit = 1;
    auto h = db.ReadStream(rs);
    ASSERT_TRUE(h.ok());
    ASSERT_EQ(h->events.size(), 1u);
    ASSERT_EQ(h->events[0].seq, got->seq);
  }
  ASSERT_TRUE(db.Close().ok());
}

// Aborts the test process (after killing the current child) if the run outlives its budget. The
// data directory is left behind for inspection.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds budget, uint64_t seed, std::string dir)
      : thread_([this, budget, seed, dir = std::move(dir)] {
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, budget, [&] { return done_; })) return;
          std::fprintf(stderr,
                       "crash test: over its time budget of %lld s in iteration %d (seed %llu); "
                       "data left in %s\n",
                       static_cast<long long>(budget.count()), iteration.load(),
                       static_cast<unsigned long long>(seed), dir.c_str());
          if (pid_t pid = child.load(); pid > 0) ::kill(pid, SIGKILL);
          std::abort();
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  std::atomic<int> iteration{0};
  std::atomic<pid_t> child{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

TEST(CrashTest, KillNineLosesNoAcknowledgedAppend) {
  int iterations = 20;
  if (const char* env = std::getenv("RDB_CRASH_ITERATIONS")) iterations = std::atoi(env);
  uint64_t seed = std::random_device{}();
  if (const char* env = std::getenv("RDB_CRASH_SEED")) seed = std::strtoull(env, nullptr, 10);
  std::printf("crash test: %d iterations, seed %llu (RDB_CRASH_SEED reproduces the timing)\n",
              iterations, static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  test::TempDir dir;
  Watchdog watchdog(
      std::chrono::seconds(60 + int64_t{iterations} * RDB_CRASH_SECONDS_PER_ITERATION), seed,
      dir.path());
  std::vector<Ack> all_acks;
  for (int it = 0; it < iterations; it++) {
    watchdog.iteration = it;
    auto [pid, fd] = StartChild(dir.path(), it + 1, 4);
    watchdog.child = pid;
    int run_ms = 50 + static_cast<int>(rng() % 400);
    std::vector<Ack> acks = ParseAcks(RunAndKill(pid, fd, run_ms));
    watchdog.child = 0;
    all_acks.insert(all_acks.end(), acks.begin(), acks.end());
    SCOPED_TRACE("iteration " + std::to_string(it) + " after " + std::to_string(run_ms) + " ms, " +
                 std::to_string(acks.size()) + " acks");
    VerifyDatabase(dir.path(), all_acks);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(all_acks.size(), 0u);
}

}  // namespace
}  // namespace rdb
