// Subscriptions against a real Engine in a temp dir: filters, ops, before images, start
// positions, exactly-once across catch-up -> live tail with writers at full speed (checked against
// ReadAll as the model), resume after S.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cdc/subscription.h"
#include "cdc/tail_cache.h"
#include "cdc/testing/log_read_counter.h"
#include "io/fault_env.h"
#include "tests/support/temp_dir.h"

namespace rdb::cdc {
namespace {

class CdcTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(FsyncPolicy::kNever, Env::Posix()); }
  void Open(FsyncPolicy fsync, Env* env) {
    if (engine_) {
      ASSERT_TRUE(engine_->Close().ok());
    }
    EngineOptions o;
    o.data_dir = dir_.path();
    o.env = env;
    o.memtable_bytes = 1 << 20;
    o.segment_bytes_max = 256 << 10;
    o.fsync = fsync;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
  }
  void TearDown() override {
    if (cache_) cache_->Stop();
    (void)engine_->Close();  // may fail after an injected sync error
  }

  AppendResult Put(const std::string& key, std::vector<std::string> payloads,
                   const std::string& type = "", bool system = false) {
    AppendRequest r;
    r.key = key;
    r.system = system;
    for (auto& p : payloads) r.events.push_back(EventData{EventKind::kPut, type, p});
    auto res = engine_->Append(std::move(r));
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? *res : AppendResult{};
  }
  AppendResult Put(const std::string& key, const std::string& payload,
                   const std::string& type = "") {
    return Put(key, std::vector<std::string>{payload}, type);
  }
  uint64_t Del(const std::string& key) {
    auto r = engine_->Delete(key, ExpectedVersion::Any());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->first_seq : 0;
  }

  std::unique_ptr<Subscription> Open(SubscriptionOptions o, bool with_cache = false) {
    auto s = Subscription::Open(engine_.get(), with_cache ? cache_.get() : nullptr, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // Everything committed now.
  std::vector<Change> Drain(Subscription* s, PollLimits limits = {}) {
    std::vector<Change> out;
    for (;;) {
      auto n = s->Poll([&](const ChangeView& v) { out.push_back(Change::From(v)); }, limits);
      EXPECT_TRUE(n.ok()) << n.status().ToString();
      if (!n.ok() || (*n == 0 && !s->more())) return out;
    }
  }

  void StartCache(TailCacheOptions o = {}) {
    cache_ = std::make_unique<TailCache>(engine_.get(), o);
    cache_->Start();
  }

  test::TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<TailCache> cache_;
};

TEST_F(CdcTest, OpsAndBeforeImages) {
  Put("a", "1");                                 // CREATE
  Put("a", std::vector<std::string>{"2", "3"});  // UPDATE (before 1), UPDATE (before 2, in-record)
  Del("a");                                      // DELETE (before 3)
  Put("a", "4");                                 // CREATE after DELETE: no before
  Put("b", "x");
  SubscriptionOptions o;
  o.include_before = true;
  auto s = Open(o);
  auto c = Drain(s.get());
  ASSERT_EQ(c.size(), 6u);
  EXPECT_EQ(c[0].op, ChangeOp::kCreate);
  EXPECT_FALSE(c[0].before);
  EXPECT_EQ(*c[0].after, "1");
  EXPECT_EQ(c[1].op, ChangeOp::kUpdate);
  EXPECT_EQ(*c[1].before, "1");
  EXPECT_EQ(c[2].op, ChangeOp::kUpdate);
  EXPECT_EQ(*c[2].before, "2");
  EXPECT_EQ(c[2].version, 3u);
  EXPECT_EQ(c[3].op, ChangeOp::kDelete);
  EXPECT_EQ(*c[3].before, "3");
  EXPECT_FALSE(c[3].after);
  EXPECT_EQ(c[4].op, ChangeOp::kCreate);
  EXPECT_FALSE(c[4].before);
  EXPECT_EQ(c[4].version, 5u);
  EXPECT_EQ(c[5].key, "b");
  for (size_t i = 1; i < c.size(); i++) EXPECT_GT(c[i].seq, c[i - 1].seq);

  o.include_before = false;
  auto s2 = Open(o);
  auto c2 = Drain(s2.get());
  ASSERT_EQ(c2.size(), 6u);
  for (const auto& ch : c2) EXPECT_FALSE(ch.before);
}

// fsync=always: an append whose fdatasync failed was written to the log file but never
// acknowledged; no subscription may deliver it (they stop at the engine's committed last_seq).
TEST_F(CdcTest, OnlyCommittedDurableEventsAreDelivered) {
  FaultEnv fault(Env::Posix());
  engine_.reset();
  Open(FsyncPolicy::kAlways, &fault);
  StartCache();
  for (int i = 0; i < 20; i++) Put("k", std::to_string(i));
  SubscriptionOptions o;
  auto cached = Open(o, /*with_cache=*/true);
  auto own = Open(o);
  ASSERT_EQ(cache_->WaitPast(19, 10000), 20u);
  ASSERT_EQ(Drain(cached.get()).size(), 20u);
  ASSERT_EQ(Drain(own.get()).size(), 20u);
  fault.InjectError(FaultEnv::Op::kSync, Status::IoError("EIO (injected)"), 1);
  AppendRequest r;
  r.key = "k";
  r.events.push_back(EventData{EventKind::kPut, "", "never acknowledged"});
  ASSERT_FALSE(engine_->Append(std::move(r)).ok());
  EXPECT_EQ(engine_->last_seq(), 20u);
  EXPECT_TRUE(Drain(cached.get()).empty());
  EXPECT_TRUE(Drain(own.get()).empty());
  EXPECT_EQ(Drain(Open(o).get()).size(), 20u);  // a fresh reader from the start, too
  EXPECT_EQ(cache_->end(), 20u);
  cache_->Stop();
  (void)engine_->Close();
  engine_.reset();
  Open(FsyncPolicy::kAlways, Env::Posix());
}

TEST_F(CdcTest, FiltersAndSystemKeys) {
  Put("order/1", "a", "Placed");
  Put("order/2", "b", "Shipped");
  Put("user/1", "c", "Placed");
  Put("zzz", "d", "Placed");
  Put("$group/x", std::vector<std::string>{"5"}, "", /*system=*/true);
  SubscriptionOptions o;
  o.filter.key_prefixes = {"order/", "user/"};
  o.filter.event_types = {"Placed"};
  auto c = Drain(Open(o).get());
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].key, "order/1");
  EXPECT_EQ(c[1].key, "user/1");
  EXPECT_EQ(c[1].event_type, "Placed");

  SubscriptionOptions all;
  EXPECT_EQ(Drain(Open(all).get()).size(), 4u);  // '$' keys left out
  all.filter.include_system = true;
  auto sys = Drain(Open(all).get());
  ASSERT_EQ(sys.size(), 5u);
  EXPECT_EQ(sys[4].key, "$group/x");

  // A filter that matches nothing still advances the position (what checkpoints report).
  SubscriptionOptions none;
  none.filter.key_prefixes = {"nothing/"};
  auto s = Open(none);
  EXPECT_TRUE(Drain(s.get()).empty());
  EXPECT_EQ(s->position(), engine_->last_seq());
}

TEST_F(CdcTest, FilterLimits) {
  Filter f;
  f.key_prefixes.assign(kPrefixesMax + 1, "p");
  EXPECT_NE(ValidateFilter(f).message().find("subscribe_prefixes_max"), std::string::npos);
  f.key_prefixes = {std::string(kPrefixBytesMax + 1, 'p')};
  EXPECT_NE(ValidateFilter(f).message().find("subscribe_prefix_bytes_max"), std::string::npos);
  f.key_prefixes.clear();
  f.event_types.assign(kTypesMax + 1, "t");
  EXPECT_NE(ValidateFilter(f).message().find("subscribe_types_max"), std::string::npos);
  f.event_types = {std::string(kTypeBytesMax + 1, 't')};
  EXPECT_NE(ValidateFilter(f).message().find("subscribe_type_bytes_max"), std::string::npos);
  EXPECT_TRUE(ValidateCheckpointInterval(0).ok());
  EXPECT_TRUE(ValidateCheckpointInterval(10).ok());
  EXPECT_FALSE(ValidateCheckpointInterval(9).ok());
  EXPECT_FALSE(ValidateCheckpointInterval(60001).ok());
  EXPECT_TRUE(ValidateGroupName("a.b_c-D9").ok());
  EXPECT_FALSE(ValidateGroupName("").ok());
  EXPECT_FALSE(ValidateGroupName("a/b").ok());
  EXPECT_FALSE(ValidateGroupName(std::string(129, 'a')).ok());
}

TEST_F(CdcTest, StartPositions) {
  for (int i = 0; i < 10; i++) Put("k" + std::to_string(i), "v");
  const uint64_t last = engine_->last_seq();
  SubscriptionOptions o;
  o.start = SubscriptionOptions::Start::kLatest;
  auto latest = Open(o);
  EXPECT_EQ(latest->position(), last);
  EXPECT_TRUE(Drain(latest.get()).empty());
  o.start = SubscriptionOptions::Start::kAfterSeq;
  o.after_seq = last - 3;
  auto after = Open(o);
  auto c = Drain(after.get());
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].seq, last - 2);
  o.after_seq = last + 100;  // beyond the end: waits
  auto ahead = Open(o);
  EXPECT_TRUE(Drain(ahead.get()).empty());
  EXPECT_EQ(ahead->position(), last + 100);

  Put("new", "v");
  auto c2 = Drain(latest.get());
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(c2[0].key, "new");
  EXPECT_TRUE(Drain(ahead.get()).empty());
}

TEST_F(CdcTest, LimitsSplitBatchesAndResumeAfterS) {
  for (int i = 0; i < 50; i++) Put("k" + std::to_string(i % 7), std::vector<std::string>(3, "p"));
  SubscriptionOptions o;
  auto whole = Drain(Open(o).get());
  ASSERT_EQ(whole.size(), 150u);
  // Small limits cut records in the middle; resuming after the last seq seen continues exactly.
  std::vector<Change> pieced;
  uint64_t after = 0;
  while (pieced.size() < whole.size()) {
    o.start = SubscriptionOptions::Start::kAfterSeq;
    o.after_seq = after;
    auto s = Open(o);
    PollLimits l;
    l.changes_max = 4;
    auto n = s->Poll([&](const ChangeView& v) { pieced.push_back(Change::From(v)); }, l);
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(*n, std::min<size_t>(4, whole.size() - (pieced.size() - *n)));
    after = pieced.back().seq;
  }
  ASSERT_EQ(pieced.size(), whole.size());
  for (size_t i = 0; i < whole.size(); i++) {
    EXPECT_EQ(pieced[i].seq, whole[i].seq);
    EXPECT_EQ(pieced[i].op, whole[i].op);
  }
}

// The model: every non-system event in the log, in seq order.
std::vector<Event> ReadAllEvents(Engine* engine) {
  std::vector<Event> out;
  uint64_t from = 0;
  for (;;) {
    ReadAllRequest r;
    r.from_seq = from;
    r.limit = kReadLimitMax;
    auto res = engine->ReadAll(r);
    EXPECT_TRUE(res.ok());
    if (!res.ok()) return out;
    for (auto& e : res->events) out.push_back(std::move(e));
    if (res->next == 0) return out;
    from = res->next;
  }
}

// Catch-up -> live with writers at full speed: the subscriber opens from EARLIEST over a preloaded
// log while the writers start, and keeps reading while they append as fast as they can. The writers
// go on until the subscriber has reached the committed end several times while they were still
// running (so the catch-up -> live switch happens under full write load, by construction, not by
// luck of timing), then stop; the subscriber reads until it has everything, and its stream must be
// the model's (ReadAll) exactly: no gap, no duplicate, strictly increasing. With a tiny cache
// window the subscriber also falls out of it and comes back repeatedly; without a cache it reads
// the log itself all along.
void CatchUpToLive(Engine* engine, TailCache* cache, bool* failed) {
  constexpr int kPreload = 5000, kWriters = 4, kPerWriterMin = 3000, kPerWriterMax = 200000;
  constexpr int kCaughtUpPollsWhileWriting = 20;
  for (int i = 0; i < kPreload; i++) {
    AppendRequest r;
    r.key = "pre" + std::to_string(i % 100);
    r.events.push_back(EventData{EventKind::kPut, "", std::string(100, 'x')});
    ASSERT_TRUE(engine->Append(std::move(r)).ok());
  }
  SubscriptionOptions o;  // EARLIEST
  auto sub = Subscription::Open(engine, cache, o);
  ASSERT_TRUE(sub.ok());
  ASSERT_EQ((*sub)->position(), 0u);
  std::atomic<int> caught_up_while_writing{0};  // polls that reached the committed end
  std::atomic<int> writers_running{kWriters};
  std::atomic<bool> give_up{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; w++) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriterMax && !give_up.load(); i++) {
        if (i >= kPerWriterMin && caught_up_while_writing.load() >= kCaughtUpPollsWhileWriting) {
          break;
        }
        AppendRequest r;
        r.key = "w" + std::to_string(w) + "/" + std::to_string(i % 50);
        int n = 1 + i % 3;
        for (int k = 0; k < n; k++)
          r.events.push_back(EventData{EventKind::kPut, "", std::to_string(i)});
        ASSERT_TRUE(engine->Append(std::move(r)).ok());
      }
      writers_running--;
    });
  }
  std::vector<Change> got;
  int live_polls_while_writing = 0;
  uint64_t changes_while_writing = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(25);
  for (;;) {
    const bool writing = writers_running.load() > 0;
    PollLimits l;
    l.changes_max = 333;
    auto n = (*sub)->Poll([&](const ChangeView& v) { got.push_back(Change::From(v)); }, l);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (writing) changes_while_writing += *n;
    if (!(*sub)->more()) {  // reached the committed end (as of this poll)
      if (writing && got.size() > static_cast<size_t>(kPreload)) {
        caught_up_while_writing++;
        if ((*sub)->live()) live_polls_while_writing++;
      }
      if (!writing && (*sub)->position() >= engine->last_seq()) break;
      if (*n == 0) (*sub)->WaitForMore(5);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      give_up.store(true);
      for (auto& w : writers) w.join();
      FAIL() << "timed out with " << got.size() << " changes";
    }
  }
  for (auto& w : writers) w.join();
  // The switch happened while the writers were running, and most of the stream was read then.
  EXPECT_GE(caught_up_while_writing.load(), kCaughtUpPollsWhileWriting);
  EXPECT_GT(changes_while_writing, static_cast<uint64_t>(kPreload));
  if (cache != nullptr) {
    EXPECT_GT(live_polls_while_writing, 0);
  }
  std::vector<Event> model = ReadAllEvents(engine);
  ASSERT_GE(model.size(), static_cast<size_t>(kPreload + kWriters * kPerWriterMin));
  ASSERT_EQ(got.size(), model.size());
  for (size_t i = 0; i < model.size(); i++) {
    if (i > 0) {
      ASSERT_GT(got[i].seq, got[i - 1].seq) << i;
    }
    ASSERT_EQ(got[i].seq, model[i].seq) << i;
    ASSERT_EQ(got[i].key, model[i].key);
    ASSERT_EQ(got[i].version, model[i].version);
    ASSERT_EQ(*got[i].after, model[i].payload);
  }
  if (cache != nullptr) {
    // It read the shared cache, and fell out of its small window at least once.
    EXPECT_GT((*sub)->chunks_read(), 0u);
    EXPECT_GE((*sub)->reader_opens(), 1u);
  } else {
    EXPECT_EQ((*sub)->chunks_read(), 0u);
  }
  *failed = false;
}

TEST_F(CdcTest, CatchUpToLiveExactlyOnceWithCache) {
  TailCacheOptions co;
  co.bytes_max = 64 << 10;  // a few chunks: the subscriber falls out of the window and back
  co.chunk_records_max = 64;
  StartCache(co);
  bool failed = true;
  CatchUpToLive(engine_.get(), cache_.get(), &failed);
  EXPECT_FALSE(failed);
  EXPECT_GT(cache_->stats().end, 0u);
}

TEST_F(CdcTest, CatchUpToLiveExactlyOnceWithoutCache) {
  bool failed = true;
  CatchUpToLive(engine_.get(), nullptr, &failed);
  EXPECT_FALSE(failed);
}

// 100 live subscribers share the log reading: the cache thread reads each committed record once
// and every subscriber is served from its chunks. Checked three ways, so that a regression to a
// reader per subscriber fails: the cache read exactly the records written; no subscriber opened a
// LogReader of its own; and the bytes read from the log's segment files (counted by the Env,
// beneath all CDC code) are about one copy of what was written, not 100.
TEST_F(CdcTest, CacheSharedByManySubscribers) {
  testing::LogReadCountingEnv counting(Env::Posix());
  Open(FsyncPolicy::kNever, &counting);
  constexpr int kSubs = 100, kRecords = 3000, kReaders = 2;
  for (int i = 0; i < 200; i++) Put("old" + std::to_string(i % 9), std::to_string(i));
  StartCache();
  const uint64_t records_read0 = cache_->stats().records_read;
  SubscriptionOptions o;
  o.start = SubscriptionOptions::Start::kLatest;
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int i = 0; i < kSubs; i++) subs.push_back(Open(o, true));
  ASSERT_EQ(cache_->stats().users, static_cast<uint64_t>(kSubs));
  const uint64_t start = engine_->last_seq();
  const uint64_t log_bytes0 = engine_->stats().log_bytes;
  const uint64_t read0 = counting.log_bytes_read();

  // The subscribers poll (two threads, 50 subscribers each) while the writer appends.
  std::atomic<bool> writer_done{false};
  std::thread writer([&] {
    for (int i = 0; i < kRecords; i++) {
      Put("k" + std::to_string(i % 9), std::vector<std::string>(1 + i % 2, std::to_string(i)));
    }
    writer_done.store(true);
  });
  std::vector<std::vector<Change>> got(kSubs);
  std::vector<std::thread> readers;
  std::atomic<bool> timed_out{false};
  for (int t = 0; t < kReaders; t++) {
    readers.emplace_back([&, t] {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(25);
      for (;;) {
        const bool done = writer_done.load();
        const uint64_t last = engine_->last_seq();
        bool all = true;
        for (int i = t; i < kSubs; i += kReaders) {
          auto n = subs[i]->Poll([&](const ChangeView& v) { got[i].push_back(Change::From(v)); });
          EXPECT_TRUE(n.ok());
          all = all && subs[i]->position() >= last;
        }
        if (done && all) return;
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out.store(true);
          return;
        }
        subs[t]->WaitForMore(2);
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  ASSERT_FALSE(timed_out.load());
  const uint64_t log_bytes_written = engine_->stats().log_bytes - log_bytes0;
  const uint64_t log_bytes_read = counting.log_bytes_read() - read0;

  std::vector<Event> model;
  for (Event& e : ReadAllEvents(engine_.get())) {
    if (e.seq > start) model.push_back(std::move(e));
  }
  ASSERT_EQ(model.size(), static_cast<size_t>(kRecords + kRecords / 2));
  uint64_t reader_opens = 0;
  for (int i = 0; i < kSubs; i++) {
    ASSERT_EQ(got[i].size(), model.size()) << i;
    for (size_t k = 0; k < model.size(); k++) ASSERT_EQ(got[i][k].seq, model[k].seq) << i;
    EXPECT_GT(subs[i]->chunks_read(), 0u) << i;
    reader_opens += subs[i]->reader_opens();
  }
  EXPECT_EQ(reader_opens, 0u);
  EXPECT_EQ(cache_->stats().records_read - records_read0, static_cast<uint64_t>(kRecords));
  // One pass over the new log bytes (plus a little: a record straddling a read chunk's end is
  // read again whole); a reader per subscriber would read ~100 copies.
  ASSERT_GT(log_bytes_written, 0u);
  EXPECT_LE(log_bytes_read, 2 * log_bytes_written + (64 << 10))
      << "read " << log_bytes_read << " bytes of log for " << log_bytes_written << " written";
  EXPECT_GE(log_bytes_read, log_bytes_written / 2);
  subs.clear();
  cache_->Stop();
  (void)engine_->Close();
  engine_.reset();
  Open(FsyncPolicy::kNever, Env::Posix());  // TearDown closes an engine that outlives `counting`
}

// The cache reads nothing and does not follow commits while it has no users; the first
// subscription restarts it at the committed end, and subscriptions opened (and closed, so the cache
// goes idle and restarts) while writers run at full speed get exactly the model's stream: the ones
// starting before the restarted window read the log themselves and switch over by seq.
TEST_F(CdcTest, TailCacheIdleWithoutSubscribersAndExactAfterRestarts) {
  TailCacheOptions co;
  co.poll_ms = 5;
  co.chunk_records_max = 64;
  StartCache(co);
  for (int i = 0; i < 2000; i++) Put("idle" + std::to_string(i % 30), std::to_string(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  TailCache::Stats st = cache_->stats();
  EXPECT_EQ(st.records_read, 0u);
  EXPECT_FALSE(st.active);
  EXPECT_EQ(st.users, 0u);

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); i++) {
      AppendRequest r;
      r.key = "w/" + std::to_string(i % 40);
      for (int k = 0; k < 1 + i % 3; k++)
        r.events.push_back(EventData{EventKind::kPut, "", std::to_string(i)});
      ASSERT_TRUE(engine_->Append(std::move(r)).ok());
      if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  uint64_t restarts_before = cache_->stats().restarts;
  for (int round = 0; round < 12; round++) {
    // Alternate: from the start (reads the log, then the cache), from a little before the end
    // (behind the restarted window), from the end (inside it).
    SubscriptionOptions o;
    if (round % 3 == 0) o.start = SubscriptionOptions::Start::kEarliest;
    if (round % 3 == 1) {
      o.start = SubscriptionOptions::Start::kAfterSeq;
      const uint64_t last = engine_->last_seq();
      o.after_seq = last > 300 ? last - 300 : 0;
    }
    if (round % 3 == 2) o.start = SubscriptionOptions::Start::kLatest;
    auto sub = Open(o, /*with_cache=*/true);
    ASSERT_NE(sub, nullptr);
    const uint64_t start = sub->position();
    std::vector<Change> got;
    const uint64_t target = engine_->last_seq() + 3000;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (sub->position() < target) {
      PollLimits l;
      l.changes_max = 500;
      auto n = sub->Poll([&](const ChangeView& v) { got.push_back(Change::From(v)); }, l);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      if (*n == 0 && !sub->more()) sub->WaitForMore(20);
      ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    }
    const uint64_t end = sub->position();
    EXPECT_GT(sub->chunks_read(), 0u) << round;
    sub.reset();  // the last user: the cache goes idle, the next round restarts it
    std::vector<Event> model;
    for (Event& e : ReadAllEvents(engine_.get())) {
      if (e.seq > start && e.seq <= end) model.push_back(std::move(e));
    }
    ASSERT_EQ(got.size(), model.size()) << round;
    for (size_t i = 0; i < model.size(); i++) {
      ASSERT_EQ(got[i].seq, model[i].seq) << round << " " << i;
      ASSERT_EQ(got[i].key, model[i].key);
      ASSERT_EQ(*got[i].after, model[i].payload);
    }
    if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // idle
  }
  stop.store(true);
  writer.join();
  EXPECT_GE(cache_->stats().restarts - restarts_before, 6u);

  // Idle again: commits are not read.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (cache_->stats().active) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const uint64_t read = cache_->stats().records_read;
  for (int i = 0; i < 500; i++) Put("idle" + std::to_string(i % 30), std::to_string(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  st = cache_->stats();
  EXPECT_EQ(st.records_read, read);
  EXPECT_EQ(st.chunks, 0u);
}

}  // namespace
}  // namespace rdb::cdc
