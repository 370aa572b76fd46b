#include "tests/support/linearizability.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "tests/support/history.h"

namespace rdb::test {
namespace {

constexpr uint64_t kInf = kTimeInfinity;

// Builds a history with explicit times (a hand-written timeline).
class Builder {
 public:
  Builder& Add(int client, uint64_t call, uint64_t ret, Op op, Outcome out) {
    HistoryEntry e;
    e.id = entries.size();
    e.client = client;
    e.op = std::move(op);
    e.outcome = std::move(out);
    e.invoke_us = call;
    e.complete_us = e.outcome.type == Outcome::Type::kUnknown ? kInf : ret;
    entries.push_back(std::move(e));
    return *this;
  }
  std::vector<HistoryEntry> entries;
};

RecordedEvent Put(uint64_t seq, uint64_t version, std::string payload, std::string key = "k") {
  return RecordedEvent::Put(std::move(key), seq, version, std::move(payload));
}
RecordedEvent Del(uint64_t seq, uint64_t version, std::string key = "k") {
  return RecordedEvent::Delete(std::move(key), seq, version);
}

void ExpectLinearizable(const std::vector<HistoryEntry>& h) {
  const CheckResult r = CheckLinearizable(h);
  EXPECT_TRUE(r.ok()) << r.message << "\n" << FormatEntries(h);
}

CheckResult ExpectViolation(const std::vector<HistoryEntry>& h, const std::string& key = "k") {
  const CheckResult r = CheckLinearizable(h);
  EXPECT_TRUE(r.violation()) << r.message << "\n" << FormatEntries(h);
  EXPECT_EQ(r.key, key);
  return r;
}

// --- History -----------------------------------------------------------------------------------

TEST(History, RecordsStrictlyIncreasingTimesAndUnknownAtInfinity) {
  ManualClock clock;
  History h(&clock);
  const uint64_t a = h.Invoke(1, Op::Append("k", "x"));
  const uint64_t b = h.Invoke(2, Op::Get("k"));
  h.Complete(a, Outcome::Written(1, 1));
  clock.AdvanceMicros(10);
  const uint64_t c = h.Invoke(3, Op::Delete("k"));
  h.Complete(b, Outcome::Value("x", 1, 1));
  h.Complete(c, Outcome::Unknown("deadline exceeded"));
  const uint64_t d = h.Invoke(1, Op::ReadStream("k"));  // never completes
  const std::vector<HistoryEntry> e = h.Entries();
  ASSERT_EQ(e.size(), 4u);
  EXPECT_LT(e[0].invoke_us, e[1].invoke_us);
  EXPECT_LT(e[1].invoke_us, e[0].complete_us);
  EXPECT_LT(e[0].complete_us, e[2].invoke_us);
  EXPECT_EQ(e[2].complete_us, kInf);
  EXPECT_EQ(e[d].complete_us, kInf);
  EXPECT_EQ(e[d].outcome.type, Outcome::Type::kUnknown);
  const std::string text = h.ToString();
  EXPECT_NE(text.find("#0 c1 [0.."), std::string::npos) << text;
  EXPECT_NE(text.find("Append(\"k\", \"x\", expected=any) -> ok seq=1 v=1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("..inf] Delete(\"k\", expected=any) -> unknown (deadline exceeded)"),
            std::string::npos)
      << text;
  EXPECT_TRUE(CheckLinearizable(e).ok());
}

TEST(History, ConcurrentClientsAreRecordedConsistently) {
  History h;
  std::vector<std::thread> threads;
  for (int c = 0; c < 4; ++c) {
    threads.emplace_back([&h, c] {
      for (int i = 0; i < 500; ++i) {
        const uint64_t id = h.Invoke(c, Op::Get("k" + std::to_string(c)));
        h.Complete(id, Outcome::NotFound());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::vector<HistoryEntry> e = h.Entries();
  ASSERT_EQ(e.size(), 2000u);
  for (const HistoryEntry& x : e) EXPECT_LT(x.invoke_us, x.complete_us);
  EXPECT_TRUE(CheckLinearizable(e).ok());
}

TEST(History, FormatsEscapedPayloadsAndFailures) {
  Builder b;
  b.Add(0, 5, 9, Op::Append("k\n", std::string("a\"\x01", 3), Expected::Exact(3), "id1"),
        Outcome::Failed(Code::kFailedPrecondition, 4, "expected 3"));
  const std::string s = FormatEntry(b.entries[0]);
  EXPECT_EQ(s,
            "#0 c0 [5..9] Append(\"k\\x0a\", \"a\\\"\\x01\", expected=3, id=\"id1\") -> failed "
            "FailedPrecondition actual=4 (expected 3)");
}

// --- CheckLinearizable: accepted ----------------------------------------------------------------

TEST(Linearizable, SequentialOperations) {
  Builder b;
  b.Add(0, 0, 1, Op::Get("k"), Outcome::NotFound())
      .Add(0, 2, 3, Op::ReadStream("k"), Outcome::NotFound())
      .Add(0, 4, 5, Op::Append("k", "a", Expected::NoStream()), Outcome::Written(10, 1))
      .Add(0, 6, 7, Op::Get("k"), Outcome::Value("a", 1, 10))
      .Add(0, 8, 9, Op::Append("k", "b", Expected::Exact(1)), Outcome::Written(11, 2))
      .Add(0, 10, 11, Op::Append("k", "c", Expected::Exact(1)),
           Outcome::Failed(Code::kFailedPrecondition, 2))
      .Add(0, 12, 13, Op::Delete("k"), Outcome::Written(12, 3))
      .Add(0, 14, 15, Op::Get("k"), Outcome::NotFound())
      .Add(0, 16, 17, Op::Delete("k"), Outcome::NotFound())
      .Add(0, 18, 19, Op::Append("k", "d", Expected::Exact(3)), Outcome::Written(13, 4))
      .Add(0, 20, 21, Op::ReadStream("k"),
           Outcome::Stream({Put(10, 1, "a"), Put(11, 2, "b"), Del(12, 3), Put(13, 4, "d")}))
      .Add(0, 22, 23, Op::Append("k", "e", Expected::NoStream()),
           Outcome::Failed(Code::kFailedPrecondition, 4))
      .Add(0, 24, 25, Op::Append("k", std::string(9, 'x')),
           Outcome::Failed(Code::kInvalidArgument));
  ExpectLinearizable(b.entries);
}

TEST(Linearizable, ConcurrentAppendsInEitherOrder) {
  // Both appends overlap; the acknowledged versions say b went first. The reads overlap too.
  Builder b;
  b.Add(1, 0, 10, Op::Append("k", "a"), Outcome::Written(6, 2))
      .Add(2, 1, 9, Op::Append("k", "b"), Outcome::Written(5, 1))
      .Add(3, 2, 3, Op::Get("k"), Outcome::NotFound())
      .Add(3, 4, 12, Op::Get("k"), Outcome::Value("b", 1))
      .Add(4, 5, 11, Op::ReadStream("k"), Outcome::Stream({Put(5, 1, "b"), Put(6, 2, "a")}))
      .Add(3, 13, 14, Op::Get("k"), Outcome::Value("a", 2, 6));
  ExpectLinearizable(b.entries);
}

TEST(Linearizable, ConcurrentExpectedVersionRaceHasOneWinner) {
  Builder b;
  b.Add(1, 0, 10, Op::Append("k", "a", Expected::NoStream()),
        Outcome::Failed(Code::kFailedPrecondition, 1))
      .Add(2, 1, 9, Op::Append("k", "b", Expected::NoStream()), Outcome::Written(5, 1))
      .Add(3, 2, 8, Op::Append("k", "c", Expected::Exact(1)), Outcome::Written(7, 2))
      .Add(1, 11, 12, Op::ReadStream("k"), Outcome::Stream({Put(5, 1, "b"), Put(7, 2, "c")}));
  ExpectLinearizable(b.entries);
}

TEST(Linearizable, UnknownWritesMayOrMayNotHaveHappened) {
  Builder b;
  b.Add(1, 0, kInf, Op::Append("k", "a"), Outcome::Unknown("timeout"))
      .Add(2, 1, kInf, Op::Append("k", "lost"), Outcome::Unknown("timeout"))
      .Add(3, 5, 6, Op::Get("k"), Outcome::NotFound())
      .Add(3, 7, 8, Op::Append("k", "b"), Outcome::Written(9, 1))
      .Add(3, 20, 21, Op::ReadStream("k"), Outcome::Stream({Put(9, 1, "b"), Put(12, 2, "a")}))
      .Add(3, 22, 23, Op::Get("k"), Outcome::Value("a", 2, 12));
  ExpectLinearizable(b.entries);
}

TEST(Linearizable, IdempotentRetryReturnsTheOriginalResult) {
  Builder b;
  b.Add(1, 0, kInf, Op::Append("k", "a", Expected::NoStream(), "id-a"), Outcome::Unknown())
      .Add(2, 1, 2, Op::Append("k", "b"), Outcome::Written(8, 2))
      // The retry comes after b: with expected none it would fail, but the id matches.
      .Add(1, 3, 4, Op::Append("k", "a", Expected::NoStream(), "id-a"), Outcome::Written(7, 1))
      .Add(1, 5, 6, Op::Append("k", "a", Expected::NoStream(), "id-a"), Outcome::Written(7, 1))
      .Add(2, 7, 8, Op::Delete("k", Expected::Exact(2), "id-d"), Outcome::Written(9, 3))
      .Add(2, 9, 10, Op::Delete("k", Expected::Exact(2), "id-d"), Outcome::Written(9, 3));
  ExpectLinearizable(b.entries);
}

TEST(Linearizable, KeysAreIndependent) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("x", "a"), Outcome::Written(1, 1))
      .Add(2, 2, 3, Op::Append("y", "a"), Outcome::Written(2, 1))
      .Add(1, 4, 5, Op::Get("x"), Outcome::Value("a", 1))
      .Add(2, 6, 7, Op::Get("z"), Outcome::NotFound());
  ExpectLinearizable(b.entries);
}

// --- CheckLinearizable: rejected ----------------------------------------------------------------

TEST(Linearizable, RejectsStaleReadAfterCompletedWrite) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(1, 2, 3, Op::Append("k", "b"), Outcome::Written(2, 2))
      .Add(2, 4, 5, Op::Get("k"), Outcome::Value("a", 1, 1));
  const CheckResult r = ExpectViolation(b.entries);
  EXPECT_NE(r.message.find("Get(\"k\") -> ok value=\"a\""), std::string::npos) << r.message;
}

TEST(Linearizable, RejectsLostAcknowledgedAppend) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(2, 2, 3, Op::ReadStream("k"), Outcome::NotFound());
  ExpectViolation(b.entries);
}

TEST(Linearizable, RejectsTwoAppendsAcknowledgedWithTheSameVersion) {
  Builder b;
  b.Add(1, 0, 5, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(2, 1, 6, Op::Append("k", "b"), Outcome::Written(2, 1));
  ExpectViolation(b.entries);
}

TEST(Linearizable, RejectsExpectedVersionSuccessThatContradictsOrder) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(2, 2, 3, Op::Append("k", "b", Expected::NoStream()), Outcome::Written(2, 2));
  ExpectViolation(b.entries);
  Builder c;  // a precondition failure that reports a version the key never had then
  c.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(2, 2, 3, Op::Append("k", "b", Expected::Exact(5)),
           Outcome::Failed(Code::kFailedPrecondition, 2));
  ExpectViolation(c.entries);
  Builder d;  // a precondition failure although the expectation held
  d.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(2, 2, 3, Op::Append("k", "b", Expected::Exact(1)),
           Outcome::Failed(Code::kFailedPrecondition));
  ExpectViolation(d.entries);
}

TEST(Linearizable, RejectsReadOfNeverWrittenValue) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(2, 0, 3, Op::Get("k"), Outcome::Value("ghost", 1));
  ExpectViolation(b.entries);
  Builder c;  // a failed append is definitely not applied
  c.Add(1, 0, 1, Op::Append("k", "a", Expected::Exact(7)),
        Outcome::Failed(Code::kFailedPrecondition, 0))
      .Add(2, 2, 3, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a")}));
  ExpectViolation(c.entries);
}

TEST(Linearizable, RejectsDeletedKeyThatStillReadsAndVersionReset) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(1, 2, 3, Op::Delete("k"), Outcome::Written(2, 2))
      .Add(2, 4, 5, Op::Get("k"), Outcome::Value("a", 1));
  ExpectViolation(b.entries);
  Builder c;  // versions survive a delete
  c.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(1, 2, 3, Op::Delete("k"), Outcome::Written(2, 2))
      .Add(1, 4, 5, Op::Append("k", "b", Expected::NoStream()), Outcome::Written(3, 1));
  ExpectViolation(c.entries);
}

TEST(Linearizable, RejectsSeqThatGoesBackwardsWithTheVersion) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("k", "a"), Outcome::Written(10, 1))
      .Add(1, 2, 3, Op::Append("k", "b"), Outcome::Written(5, 2));
  ExpectViolation(b.entries);
}

TEST(Linearizable, RejectsRetryThatWritesTwice) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("k", "a", Expected::Any(), "id"), Outcome::Written(1, 1))
      .Add(1, 2, 3, Op::Append("k", "a", Expected::Any(), "id"), Outcome::Written(2, 2));
  ExpectViolation(b.entries);
}

TEST(Linearizable, ReportsTheKeyAndAMinimalFailingSubHistory) {
  Builder b;
  // Key "other" is fine; key "k" has many harmless operations and one stale read in the middle.
  uint64_t t = 0;
  uint64_t seq = 0;
  for (int i = 1; i <= 20; ++i) {
    b.Add(1, t, t + 1, Op::Append("k", "v" + std::to_string(i)), Outcome::Written(++seq, i));
    b.Add(2, t + 2, t + 3, Op::Get("k"), Outcome::Value("v" + std::to_string(i), i));
    b.Add(3, t, t + 3, Op::Append("other", "o" + std::to_string(i)), Outcome::Written(++seq, i));
    t += 4;
    if (i == 10) b.Add(2, t, t + 1, Op::Get("k"), Outcome::Value("v9", 9));  // stale
    t += 2;
  }
  const CheckResult r = ExpectViolation(b.entries);
  // The cut drops everything after the stale read, and the reads it does not need.
  EXPECT_NE(r.message.find("Get(\"k\") -> ok value=\"v9\" v=9"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("other"), std::string::npos) << r.message;
  EXPECT_EQ(r.message.find("v11"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("a failing sub-history of 11 of its 41"), std::string::npos)
      << r.message;
  EXPECT_NE(r.message.find("longest linearization found (10 ops)"), std::string::npos) << r.message;
}

TEST(Linearizable, AnswersUnknownWhenTheSearchIsTooBig) {
  Builder b;
  // Many concurrent unknown appends and a read that matches none of their orders.
  for (int i = 0; i < 7; ++i) {
    b.Add(i, 0, kInf, Op::Append("k", "u" + std::to_string(i)), Outcome::Unknown());
  }
  b.Add(20, 1, 2, Op::ReadStream("k"), Outcome::Stream({Put(0, 1, "nope")}));
  LinearizabilityOptions options;
  options.search_steps_max = 1000;
  const CheckResult r = CheckLinearizable(b.entries, options);
  EXPECT_EQ(r.verdict, CheckResult::Verdict::kUnknown) << r.message;
  EXPECT_EQ(r.key, "k");
  // Unbounded, the same history is a violation (the read shows a value nobody wrote).
  EXPECT_TRUE(CheckLinearizable(b.entries).violation());
}

// --- A random concurrent linearizable history ---------------------------------------------------

// The reference model, applied in linearization order to produce outcomes.
struct Sim {
  std::vector<RecordedEvent> events;
  std::map<std::string, std::pair<uint64_t, uint64_t>> ids;  // id -> seq, version
  uint64_t next_seq = 1;

  Outcome Apply(const Op& op) {
    const uint64_t n = events.size();
    const bool present = n > 0 && events.back().kind == RecordedEvent::Kind::kPut;
    switch (op.kind) {
      case OpKind::kGet:
        return present ? Outcome::Value(events.back().payload, n, events.back().seq)
                       : Outcome::NotFound();
      case OpKind::kReadStream:
        return n == 0 ? Outcome::NotFound() : Outcome::Stream(events);
      case OpKind::kAppend:
      case OpKind::kDelete:
        break;
    }
    if (auto it = ids.find(op.idempotency_id); !op.idempotency_id.empty() && it != ids.end()) {
      return Outcome::Written(it->second.first, it->second.second);
    }
    if ((op.expected.kind == Expected::Kind::kNoStream && n != 0) ||
        (op.expected.kind == Expected::Kind::kExact && n != op.expected.version)) {
      return Outcome::Failed(Code::kFailedPrecondition, n);
    }
    if (op.kind == OpKind::kDelete && !present) return Outcome::NotFound();
    const uint64_t seq = next_seq++;
    events.push_back(op.kind == OpKind::kDelete ? Del(seq, n + 1, op.key)
                                                : Put(seq, n + 1, op.payload, op.key));
    if (!op.idempotency_id.empty()) ids[op.idempotency_id] = {seq, n + 1};
    return Outcome::Written(seq, n + 1);
  }
};

// `ops` operations by `clients` concurrent clients on `keys` keys: each operation takes effect at
// a random point inside its interval; some writes end unknown (applied or not) and are retried.
std::vector<HistoryEntry> RandomHistory(uint64_t seed, int ops, int clients, int keys) {
  std::mt19937_64 rng(seed);
  auto rand = [&](uint64_t n) { return rng() % n; };
  struct Planned {
    uint64_t call, point, ret;
    int client;
    Op op;
    bool unknown, applied;
  };
  std::vector<Planned> plan;
  std::vector<uint64_t> clock(clients, 0);
  std::map<std::string, uint64_t> version_guess;
  for (int i = 0; i < ops; ++i) {
    const int c = static_cast<int>(rand(clients));
    const std::string key = "k" + std::to_string(rand(keys));
    Planned p;
    p.client = c;
    p.call = clock[c] + rand(5);
    p.point = p.call + 1 + rand(20);
    p.ret = p.point + 1 + rand(20);
    clock[c] = p.ret + 1;
    const uint64_t r = rand(100);
    const uint64_t guess = version_guess[key] + rand(3);
    if (r < 35) {
      p.op = Op::Append(key, "p" + std::to_string(i), Expected::Any(), "id" + std::to_string(i));
    } else if (r < 50) {
      p.op = Op::Append(key, "p" + std::to_string(i), Expected::Exact(guess > 0 ? guess - 1 : 0));
    } else if (r < 55) {
      p.op = Op::Delete(key);
    } else if (r < 80) {
      p.op = Op::Get(key);
    } else {
      p.op = Op::ReadStream(key);
    }
    p.unknown = (p.op.kind == OpKind::kAppend || p.op.kind == OpKind::kDelete) && rand(10) == 0;
    p.applied = !p.unknown || rand(2) == 0;
    plan.push_back(p);
    if (p.unknown && !p.op.idempotency_id.empty()) {  // the client retries with the same id
      Planned retry = p;
      retry.call = clock[c] + rand(5);
      retry.point = retry.call + 1 + rand(20);
      retry.ret = retry.point + 1 + rand(20);
      clock[c] = retry.ret + 1;
      retry.unknown = false;
      retry.applied = true;
      plan.push_back(retry);
    }
  }
  std::vector<size_t> order(plan.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return plan[a].point < plan[b].point; });
  std::map<std::string, Sim> sims;
  uint64_t global_seq = 1;
  std::vector<Outcome> outcomes(plan.size());
  for (size_t i : order) {
    Sim& sim = sims[plan[i].op.key];
    sim.next_seq = global_seq;
    if (plan[i].applied) outcomes[i] = sim.Apply(plan[i].op);
    global_seq = std::max(global_seq, sim.next_seq);
    if (plan[i].unknown) outcomes[i] = Outcome::Unknown("timeout");
    if (const auto& o = outcomes[i]; o.type == Outcome::Type::kFailed) {
      version_guess[plan[i].op.key] = *o.actual_version;
    } else if (o.type == Outcome::Type::kOk && o.version > 0) {
      version_guess[plan[i].op.key] = o.version;
    }
  }
  Builder b;
  for (size_t i = 0; i < plan.size(); ++i) {
    b.Add(plan[i].client, plan[i].call * 10 + static_cast<uint64_t>(plan[i].client),
          plan[i].ret * 10 + static_cast<uint64_t>(plan[i].client), plan[i].op, outcomes[i]);
  }
  return b.entries;
}

TEST(Linearizable, RandomConcurrentHistoriesAreAcceptedQuickly) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    // 300 operations on one key by 10 clients: the hard case (one big partition).
    const std::vector<HistoryEntry> h = RandomHistory(seed, 300, 10, 1);
    const auto start = std::chrono::steady_clock::now();
    const CheckResult r = CheckLinearizable(h);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(r.ok()) << "seed " << seed << ": " << r.message << "\n" << FormatEntries(h);
    EXPECT_LT(s, 10.0) << "seed " << seed;
  }
  const std::vector<HistoryEntry> many = RandomHistory(42, 3000, 8, 10);
  EXPECT_TRUE(CheckLinearizable(many).ok());
}

TEST(Linearizable, RandomHistoriesWithOneCorruptedReadAreRejected) {
  int rejected = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    std::vector<HistoryEntry> h = RandomHistory(seed, 120, 4, 1);
    // Make the last successful Get claim a value one version older than it saw.
    for (size_t i = h.size(); i-- > 0;) {
      Outcome& o = h[i].outcome;
      if (h[i].op.kind == OpKind::kGet && o.type == Outcome::Type::kOk && o.version > 1) {
        o.value = "never-written";
        break;
      }
    }
    const CheckResult r = CheckLinearizable(h);
    EXPECT_TRUE(r.violation()) << "seed " << seed << ": " << r.message;
    rejected += r.violation() ? 1 : 0;
  }
  EXPECT_EQ(rejected, 10);
}

// --- CheckNoLostAcks ----------------------------------------------------------------------------

std::vector<HistoryEntry> AckHistory() {
  Builder b;
  b.Add(1, 0, 1, Op::Append("a", "a1"), Outcome::Written(1, 1))
      .Add(2, 0, 3, Op::Append("b", "b1", Expected::Any(), "id-b1"), Outcome::Unknown())
      .Add(2, 4, 5, Op::Append("b", "b1", Expected::Any(), "id-b1"), Outcome::Written(2, 1))
      .Add(1, 2, 3, Op::Delete("a"), Outcome::Written(3, 2))
      .Add(3, 6, kInf, Op::Append("c", "c1"), Outcome::Unknown())     // applied
      .Add(3, 7, kInf, Op::Append("c", "maybe"), Outcome::Unknown())  // not applied
      .Add(1, 8, 9, Op::Append("a", "x", Expected::NoStream()),
           Outcome::Failed(Code::kFailedPrecondition, 2));
  return b.entries;
}

std::vector<RecordedEvent> AckLog() {
  return {Put(1, 1, "a1", "a"), Put(2, 1, "b1", "b"), Del(3, 2, "a"), Put(7, 1, "c1", "c")};
}

TEST(NoLostAcks, AcceptsEveryAckPresentAndUnknownsEitherWay) {
  const CheckResult r = CheckNoLostAcks(AckHistory(), AckLog());
  EXPECT_TRUE(r.ok()) << r.message;
  EXPECT_NE(r.message.find("3 acknowledged writes"), std::string::npos) << r.message;
}

TEST(NoLostAcks, RejectsLostAcknowledgedAppend) {
  std::vector<RecordedEvent> log = AckLog();
  log.erase(log.begin() + 1);  // b1
  const CheckResult r = CheckNoLostAcks(AckHistory(), log);
  EXPECT_TRUE(r.violation());
  EXPECT_EQ(r.key, "b");
  EXPECT_NE(r.message.find("acknowledged write lost"), std::string::npos) << r.message;
}

TEST(NoLostAcks, RejectsWrongSeqOrPayloadAtTheAcknowledgedVersion) {
  std::vector<RecordedEvent> log = AckLog();
  log[0].seq = 9;
  EXPECT_TRUE(CheckNoLostAcks(AckHistory(), log).violation());
  log = AckLog();
  log[0].payload = "other";
  EXPECT_TRUE(CheckNoLostAcks(AckHistory(), log).violation());
}

TEST(NoLostAcks, RejectsTwoAppendsAcknowledgedWithTheSameVersion) {
  Builder b;
  b.Add(1, 0, 5, Op::Append("k", "a"), Outcome::Written(1, 1))
      .Add(2, 1, 6, Op::Append("k", "b"), Outcome::Written(2, 1));
  EXPECT_TRUE(CheckNoLostAcks(b.entries, {Put(1, 1, "a"), Put(2, 2, "b")}).violation());
  EXPECT_TRUE(CheckNoLostAcks(b.entries, {Put(1, 1, "a")}).violation());
}

TEST(NoLostAcks, RejectsNeverWrittenAndDuplicatedEvents) {
  std::vector<RecordedEvent> log = AckLog();
  log.push_back(Put(8, 2, "ghost", "c"));
  CheckResult r = CheckNoLostAcks(AckHistory(), log);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("never written"), std::string::npos) << r.message;
  log = AckLog();
  log.push_back(Put(8, 2, "x", "a"));  // the failed append
  EXPECT_TRUE(CheckNoLostAcks(AckHistory(), log).violation());
  log = AckLog();
  log.push_back(Put(8, 2, "b1", "b"));  // the retried append written twice
  r = CheckNoLostAcks(AckHistory(), log);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("at most 1"), std::string::npos) << r.message;
}

TEST(NoLostAcks, RejectsVersionGapsAndDuplicateSeqs) {
  std::vector<RecordedEvent> log = AckLog();
  log[3].version = 2;  // c starts at 2
  CheckResult r = CheckNoLostAcks(AckHistory(), log);
  EXPECT_TRUE(r.violation());
  EXPECT_EQ(r.key, "c");
  log = AckLog();
  log[3].seq = 2;
  r = CheckNoLostAcks(AckHistory(), log);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("appears twice"), std::string::npos) << r.message;
  log = AckLog();
  log[2].seq = 1;  // a's delete before its put, and a duplicate
  EXPECT_TRUE(CheckNoLostAcks(AckHistory(), log).violation());
}

TEST(NoLostAcks, RejectsSeqsOutOfRealTimeOrder) {
  Builder b;
  b.Add(1, 0, 1, Op::Append("x", "a"), Outcome::Written(5, 1))
      .Add(2, 2, 3, Op::Append("y", "b"), Outcome::Written(4, 1));
  const CheckResult r = CheckNoLostAcks(b.entries, {Put(5, 1, "a", "x"), Put(4, 1, "b", "y")});
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("real-time order"), std::string::npos) << r.message;
}

// --- CheckListAppend ----------------------------------------------------------------------------

TEST(ListAppend, AcceptsGrowingAndConcurrentReads) {
  Builder b;
  b.Add(1, 0, 1, Op::ReadStream("k"), Outcome::NotFound())
      .Add(1, 2, 3, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a")}))
      .Add(2, 4, 10, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a"), Put(2, 2, "b")}))
      .Add(3, 5, 9, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a")}))  // concurrent
      .Add(1, 11, 12, Op::ReadStream("k"),
           Outcome::Stream({Put(1, 1, "a"), Put(2, 2, "b"), Del(3, 3)}))
      .Add(1, 13, 14, Op::ReadStream("j"), Outcome::Stream({Put(4, 1, "z", "j")}))
      .Add(2, 15, kInf, Op::ReadStream("k"), Outcome::Unknown());
  const CheckResult r = CheckListAppend(b.entries);
  EXPECT_TRUE(r.ok()) << r.message;
}

TEST(ListAppend, RejectsReadThatIsNotAPrefixOfALaterOne) {
  Builder b;
  b.Add(1, 0, 1, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a"), Put(2, 2, "b")}))
      .Add(2, 2, 3, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a")}));
  CheckResult r = CheckListAppend(b.entries);
  EXPECT_TRUE(r.violation());
  EXPECT_EQ(r.key, "k");
  EXPECT_NE(r.message.find("not a prefix of a later one"), std::string::npos) << r.message;

  Builder c;  // concurrent, but they disagree on version 2
  c.Add(1, 0, 5, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a"), Put(2, 2, "b")}))
      .Add(2, 1, 6, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a"), Put(3, 2, "c")}));
  r = CheckListAppend(c.entries);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("disagree at version 2"), std::string::npos) << r.message;

  Builder d;  // a hole in one read
  d.Add(1, 0, 5, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a"), Put(3, 3, "c")}));
  EXPECT_TRUE(CheckListAppend(d.entries).violation());

  Builder e;  // a later read that lost everything
  e.Add(1, 0, 1, Op::ReadStream("k"), Outcome::Stream({Put(1, 1, "a")}))
      .Add(2, 2, 3, Op::ReadStream("k"), Outcome::NotFound());
  EXPECT_TRUE(CheckListAppend(e.entries).violation());
}

// --- CheckStream --------------------------------------------------------------------------------

std::vector<RecordedEvent> Log() {
  return {Put(1, 1, "a", "x"), Put(2, 1, "b", "y"), Del(5, 2, "x"), Put(9, 2, "c", "y")};
}

TEST(Stream, AcceptsTheLogItsPrefixAndAResumedTail) {
  EXPECT_TRUE(CheckStream("s1", Log(), Log(), 0, true).ok());
  const std::vector<RecordedEvent> log = Log();
  EXPECT_TRUE(CheckStream("s2", {log[0], log[1]}, log, 0, false).ok());
  EXPECT_TRUE(CheckStream("s3", {log[2], log[3]}, log, 2, true).ok());
  EXPECT_TRUE(CheckStream("s4", {}, log, 9, true).ok());
  // Seqs only (no content) are enough.
  RecordedEvent bare;
  bare.seq = 5;
  bare.kind = RecordedEvent::Kind::kDelete;
  EXPECT_TRUE(CheckStream("s5", {bare}, log, 2, false).ok());
}

TEST(Stream, RejectsDuplicateGapInventedAndReordered) {
  const std::vector<RecordedEvent> log = Log();
  CheckResult r = CheckStream("dup", {log[0], log[1], log[1]}, log, 0, false);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("duplicate seq 2"), std::string::npos) << r.message;
  r = CheckStream("gap", {log[0], log[2]}, log, 0, false);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("gap: seq 2 was skipped"), std::string::npos) << r.message;
  r = CheckStream("order", {log[1], log[0]}, log, 0, false);
  EXPECT_TRUE(r.violation());
  r = CheckStream("invented", {log[0], log[1], Put(3, 2, "zz", "x")}, log, 0, false);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("not in the committed log"), std::string::npos) << r.message;
  r = CheckStream("beyond", {log[0], log[1], log[2], log[3], Put(10, 3, "q", "y")}, log, 0, false);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("beyond the committed log"), std::string::npos) << r.message;
  r = CheckStream("from", {log[1]}, log, 1, false);
  EXPECT_TRUE(r.ok()) << r.message;
  r = CheckStream("from", {log[0], log[1]}, log, 1, false);  // resumed but replayed seq 1
  EXPECT_TRUE(r.violation());
}

TEST(Stream, RejectsWrongContentAndMissingTail) {
  const std::vector<RecordedEvent> log = Log();
  RecordedEvent changed = log[1];
  changed.payload = "B";
  CheckResult r = CheckStream("content", {log[0], changed}, log, 0, false);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("but the log has"), std::string::npos) << r.message;
  r = CheckStream("tail", {log[0], log[1]}, log, 0, true);
  EXPECT_TRUE(r.violation());
  EXPECT_NE(r.message.find("missing the tail of the log from seq 5"), std::string::npos)
      << r.message;
}

}  // namespace
}  // namespace rdb::test
