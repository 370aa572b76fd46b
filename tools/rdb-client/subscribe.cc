// rdb-client subscribe [--from earliest|latest|SEQ] [--prefix P]... [--type T]... [--group G]
//                      [--before] [--count N] [--json]
// Prints one line per change (docs/cli.md). With --group, commits the group's position after
// printing (see GroupCommitter): at checkpoints, every kCommitEveryChanges changes and on exit.
// Ctrl-C (or SIGTERM) ends it cleanly, exit code 0.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

constexpr uint64_t kCommitEveryChanges = 1000;

int g_signal_pipe[2] = {-1, -1};
std::atomic<bool> g_interrupted{false};

void OnSignal(int) {
  g_interrupted.store(true);
  char c = 1;
  ssize_t ignored = write(g_signal_pipe[1], &c, 1);
  (void)ignored;
}

// Cancels the subscription when SIGINT/SIGTERM arrives (a signal handler may not call into gRPC).
class SignalWatcher {
 public:
  explicit SignalWatcher(client::Subscription* sub) {
    if (pipe2(g_signal_pipe, O_CLOEXEC) != 0) return;
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    thread_ = std::thread([this, sub] {
      pollfd p{g_signal_pipe[0], POLLIN, 0};
      while (!stop_.load()) {
        if (poll(&p, 1, 100) > 0) {
          sub->Cancel();
          return;
        }
      }
    });
  }
  ~SignalWatcher() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The group's position: the last seq printed (or covered by a checkpoint) and committed. A commit
// is itself a (system) record in the log, so checkpoints alone would make an idle consumer commit
// forever: after checkpoints with no change printed, it commits only once the position moved by
// kCheckpointCommitSeqs (and always when forced: --count reached, Ctrl-C).
class GroupCommitter {
 public:
  static constexpr uint64_t kCheckpointCommitSeqs = 1000;

  GroupCommitter(client::Client* c, std::string group) : c_(c), group_(std::move(group)) {}
  void Printed(uint64_t seq) {
    processed_ = std::max(processed_, seq);
    printed_ = true;
  }
  void Checkpoint(uint64_t seq) { processed_ = std::max(processed_, seq); }
  Status Commit(bool force) {
    if (group_.empty() || processed_ <= committed_) return Status::OK();
    if (!force && !printed_ && processed_ - committed_ < kCheckpointCommitSeqs) return Status::OK();
    auto r = c_->CommitGroupPosition(group_, processed_);
    if (!r.ok()) return r.status();
    committed_ = *r;
    printed_ = false;
    return Status::OK();
  }

 private:
  client::Client* c_;
  std::string group_;
  uint64_t processed_ = 0;
  uint64_t committed_ = 0;
  bool printed_ = false;  // changes printed since the last commit
};

Result<client::SubscribeOptions> ParseOptions(const Options& o) {
  client::SubscribeOptions so;
  if (o.from.empty() || o.from == "earliest") {
    so.start = client::SubscribeOptions::Start::kEarliest;
  } else if (o.from == "latest") {
    so.start = client::SubscribeOptions::Start::kLatest;
  } else {
    auto seq = ParseSeq(o.from);
    if (!seq.ok()) {
      return Status::InvalidArgument("--from must be earliest, latest or a seq, got '" + o.from +
                                     "'");
    }
    so.start = client::SubscribeOptions::Start::kAfterSeq;
    so.after_seq = *seq;
  }
  so.key_prefixes = o.prefixes;
  so.event_types = o.event_types;
  so.include_before = o.before;
  so.group = o.group;
  return so;
}

int RunSubscribe(const Options& o, client::Client& c) {
  auto so = ParseOptions(o);
  if (!so.ok()) return UsageError(so.status().message());
  auto sub = c.Subscribe(*so);
  if (!sub.ok()) return Fail(sub.status());
  SignalWatcher watcher(sub->get());
  GroupCommitter committer(&c, o.group);
  uint64_t printed = 0, since_commit = 0;
  std::vector<client::Change> changes;
  for (;;) {
    changes.clear();
    uint64_t checkpoint = 0;
    Status s = (*sub)->Next(&changes, &checkpoint);
    if (!s.ok()) {
      if (g_interrupted.load()) break;  // Ctrl-C: a clean end
      Status cs = committer.Commit(/*force=*/true);
      (void)cs;  // the stream's error is the one to report
      return Fail(s);
    }
    bool done = false;
    for (const client::Change& ch : changes) {
      std::cout << (o.json ? ChangeJson(ch) : ChangeLine(ch)) << "\n";
      committer.Printed(ch.seq);
      printed++;
      since_commit++;
      if (o.count > 0 && printed >= o.count) {
        done = true;
        break;
      }
    }
    // A checkpoint covers the message's changes; with --count the rest were not printed.
    if (checkpoint > 0 && !done) {
      if (o.json) std::cout << CheckpointJson(checkpoint) << "\n";
      committer.Checkpoint(checkpoint);
    }
    std::cout.flush();
    if (done || checkpoint > 0 || since_commit >= kCommitEveryChanges) {
      Status cs = committer.Commit(/*force=*/done);
      if (!cs.ok()) return Fail(cs);
      since_commit = 0;
    }
    if (done) return kExitOk;
  }
  std::cout.flush();
  Status cs = committer.Commit(/*force=*/true);
  if (!cs.ok()) return Fail(cs);
  return kExitOk;
}

}  // namespace

Verb SubscribeVerb() {
  return {"subscribe",
          "Follow the changes after a position, one line each (Ctrl-C to stop)",
          {"from", "prefix", "group", "before", "count"},
          false,
          RunSubscribe};
}

}  // namespace rdb::cli
