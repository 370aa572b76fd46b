// CdcService over real gRPC, in process: a CallbackService forwarding the CDC methods to
// CdcService (as EventStoreService does), a real Engine, and the C++ client library.
#include "server/cdc_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cdc/testing/log_read_counter.h"
#include "client/client.h"
#include "tests/support/temp_dir.h"

namespace rdb::server {
namespace {

namespace pb = ::rdeebee::v1;
using client::ChangeOp;
using client::SubscribeOptions;

class ForwardingService final : public pb::EventStore::CallbackService {
 public:
  explicit ForwardingService(CdcService* cdc) : cdc_(cdc) {}
  grpc::ServerWriteReactor<pb::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* ctx, const pb::SubscribeRequest* req) override {
    return cdc_->Subscribe(ctx, req);
  }
  grpc::ServerUnaryReactor* CommitGroupPosition(grpc::CallbackServerContext* ctx,
                                                const pb::CommitGroupPositionRequest* req,
                                                pb::CommitGroupPositionResponse* resp) override {
    return cdc_->CommitGroupPosition(ctx, req, resp);
  }
  grpc::ServerUnaryReactor* ListGroups(grpc::CallbackServerContext* ctx,
                                       const pb::ListGroupsRequest* req,
                                       pb::ListGroupsResponse* resp) override {
    return cdc_->ListGroups(ctx, req, resp);
  }
  grpc::ServerUnaryReactor* DeleteGroup(grpc::CallbackServerContext* ctx,
                                        const pb::DeleteGroupRequest* req,
                                        pb::DeleteGroupResponse* resp) override {
    return cdc_->DeleteGroup(ctx, req, resp);
  }

 private:
  CdcService* cdc_;
};

class CdcServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions o;
    o.data_dir = dir_.path();
    o.fsync = FsyncPolicy::kNever;
    o.env = &env_;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    cdc_ = std::make_unique<CdcService>(engine_.get(), &metrics_, Options());
    service_ = std::make_unique<ForwardingService>(cdc_.get());
    grpc::ServerBuilder b;
    int port = 0;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr);
    auto c = client::Client::Connect("127.0.0.1:" + std::to_string(port));
    ASSERT_TRUE(c.ok());
    client_ = std::move(c).value();
  }
  virtual CdcOptions Options() { return CdcOptions{}; }
  void TearDown() override {
    if (cdc_) cdc_->Shutdown();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    cdc_.reset();
    ASSERT_TRUE(engine_->Close().ok());
  }

  uint64_t Put(const std::string& key, const std::string& payload, const std::string& type = "") {
    AppendRequest r;
    r.key = key;
    r.events.push_back(EventData{EventKind::kPut, type, payload});
    auto res = engine_->Append(std::move(r));
    EXPECT_TRUE(res.ok()) << res.status().ToString();
    return res.ok() ? res->last_seq : 0;
  }

  // Reads until a change or checkpoint reaches `until` (or the deadline).
  Status ReadUntil(client::Subscription* s, uint64_t until, std::vector<client::Change>* out,
                   uint64_t* checkpoint_seen = nullptr, int timeout_s = 30) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    uint64_t reached = 0;
    while (reached < until) {
      if (std::chrono::steady_clock::now() > deadline) return Status::Unavailable("timed out");
      uint64_t cp = 0;
      size_t before = out->size();
      RDB_RETURN_IF_ERROR(s->Next(out, &cp));
      if (out->size() > before) reached = std::max(reached, out->back().seq);
      reached = std::max(reached, cp);
      if (checkpoint_seen != nullptr) *checkpoint_seen = std::max(*checkpoint_seen, cp);
    }
    return Status::OK();
  }

  // The model: every non-system event in the log, in seq order.
  std::vector<Event> ReadAllEvents() {
    std::vector<Event> out;
    uint64_t from = 0;
    for (;;) {
      ReadAllRequest r;
      r.from_seq = from;
      r.limit = kReadLimitMax;
      auto res = engine_->ReadAll(r);
      EXPECT_TRUE(res.ok());
      if (!res.ok()) return out;
      for (auto& e : res->events) out.push_back(std::move(e));
      if (res->next == 0) return out;
      from = res->next;
    }
  }

  test::TempDir dir_;
  cdc::testing::LogReadCountingEnv env_{Env::Posix()};  // counts bytes read from the log
  Metrics metrics_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<CdcService> cdc_;
  std::unique_ptr<ForwardingService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<client::Client> client_;
};

// The catch-up -> live switch over gRPC with writers at full speed during it: a stream from
// EARLIEST over a preloaded log is read while three writers append as fast as the engine takes
// them. The writers stop only once the stream has been served from the shared cache (the live
// tail) for a while, after catching up with its own log reader, so the switch happens under full
// write load by construction. The stream must then equal the model (ReadAll): no gap, no
// duplicate, strictly increasing.
// Nothing here depends on the machine's speed or scheduling: the counters are compared with a
// baseline taken before the stream exists (its first poll may run before Subscribe returns); the
// writers' lead over what the stream delivered is bounded (a writer pauses while the log is more
// than kLeadMax seqs ahead), so the stream always catches up however the threads are scheduled
// (unbounded writers can outrun it by millions of seqs on a loaded machine) and the writers need
// no count limit; and the "under load" evidence is counted on the server side (cache chunks served
// before the writers stopped), not by when the test's thread happened to call Next (gRPC may
// buffer well ahead of it).
TEST_F(CdcServiceTest, StreamsEverythingExactlyOnceWhileWritersRun) {
  constexpr int kPreload = 3000, kWriters = 3, kPerWriterMin = 3000;
  constexpr uint64_t kCacheChunksWhileWriting = 20, kLeadMax = 10000;
  for (int i = 0; i < kPreload; i++) Put("pre/" + std::to_string(i % 50), std::to_string(i));
  // Before Subscribe: the server starts polling the stream (and may open its reader) before
  // Subscribe returns or before this thread runs again.
  const CdcService::Stats st0 = cdc_->stats();
  ASSERT_EQ(st0.reader_opens, 0u);
  SubscribeOptions o;  // EARLIEST
  o.include_before = true;
  auto sub = client_->Subscribe(o);
  ASSERT_TRUE(sub.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> running{kWriters};
  std::atomic<uint64_t> chunks_when_done{0};  // the streams' cache reads when the writers ended
  std::atomic<uint64_t> delivered{0};         // the highest seq the stream has delivered
  std::vector<std::thread> writers;
  struct StopAndJoin {  // also on an early return (a failed ASSERT)
    std::atomic<bool>* stop;
    std::vector<std::thread>* threads;
    ~StopAndJoin() {
      stop->store(true);
      for (auto& t : *threads) {
        if (t.joinable()) t.join();
      }
    }
  } stop_and_join{&stop, &writers};
  for (int w = 0; w < kWriters; w++) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop.load(); i++) {
        if (i >= kPerWriterMin &&
            cdc_->stats().chunks_read - st0.chunks_read >= kCacheChunksWhileWriting) {
          break;
        }
        while (!stop.load() && engine_->last_seq() > delivered.load() + kLeadMax) {
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        Put("w" + std::to_string(w) + "/" + std::to_string(i % 20), std::to_string(i));
      }
      if (--running == 0) chunks_when_done.store(cdc_->stats().chunks_read - st0.chunks_read);
    });
  }
  std::vector<client::Change> got;
  uint64_t reached = 0, final_last = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);  // a hang guard
  for (;;) {
    const bool writing = running.load() > 0;
    if (!writing && final_last == 0) final_last = engine_->last_seq();
    if (final_last != 0 && reached >= final_last) break;
    if (std::chrono::steady_clock::now() > deadline) {
      FAIL() << "timed out with " << got.size() << " changes";
    }
    uint64_t cp = 0;
    const size_t n = got.size();
    ASSERT_TRUE((*sub)->Next(&got, &cp).ok());
    if (got.size() > n) reached = std::max(reached, got.back().seq);
    reached = std::max(reached, cp);
    delivered.store(reached);
  }
  for (auto& w : writers) w.join();
  // It caught up with its own reader (the cache's window starts at the preloaded end, after the
  // stream's start), then was served from the cache while the writers ran.
  const CdcService::Stats st = cdc_->stats();
  EXPECT_GE(st.reader_opens - st0.reader_opens, 1u);
  EXPECT_GE(chunks_when_done.load(), kCacheChunksWhileWriting);

  std::vector<Event> model = ReadAllEvents();
  ASSERT_GE(model.size(), static_cast<size_t>(kPreload + kWriters * kPerWriterMin));
  ASSERT_EQ(got.size(), model.size());
  for (size_t i = 0; i < model.size(); i++) {
    if (i > 0) {
      ASSERT_GT(got[i].seq, got[i - 1].seq) << i;
    }
    ASSERT_EQ(got[i].seq, model[i].seq) << i;
    ASSERT_EQ(got[i].key, model[i].key) << i;
    ASSERT_EQ(got[i].version, model[i].version) << i;
    ASSERT_EQ(*got[i].after, model[i].payload) << i;
  }
  EXPECT_EQ(got[0].op, ChangeOp::kCreate);
  EXPECT_EQ(got[50].op, ChangeOp::kUpdate);
  EXPECT_EQ(*got[50].before, "0");
  EXPECT_EQ(metrics_.subscribers(), 1);
  EXPECT_GE(metrics_.changes_sent(), model.size());
  (*sub)->Cancel();
  std::vector<client::Change> rest;
  uint64_t cp;
  Status end;
  while ((end = (*sub)->Next(&rest, &cp)).ok()) {
  }
  EXPECT_EQ(end.code(), Code::kAborted);
}

TEST_F(CdcServiceTest, CheckpointsWhileNothingMatches) {
  SubscribeOptions o;
  o.key_prefixes = {"nothing/"};
  o.checkpoint_interval_ms = 20;
  auto sub = client_->Subscribe(o);
  ASSERT_TRUE(sub.ok());
  uint64_t last = 0;
  for (int i = 0; i < 100; i++) last = Put("k" + std::to_string(i), "v");
  std::vector<client::Change> got;
  uint64_t cp = 0;
  ASSERT_TRUE(ReadUntil(sub->get(), last, &got, &cp, 10).ok());
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(cp, last);
}

TEST_F(CdcServiceTest, LatestStartsAfterTheFirstCheckpoint) {
  Put("old", "v");
  SubscribeOptions o;
  o.start = SubscribeOptions::Start::kLatest;
  auto sub = client_->Subscribe(o);
  ASSERT_TRUE(sub.ok());
  std::vector<client::Change> got;
  uint64_t cp = 0;
  ASSERT_TRUE((*sub)->Next(&got, &cp).ok());  // the opening checkpoint
  EXPECT_EQ(cp, engine_->last_seq());
  uint64_t s = Put("new", "v");
  ASSERT_TRUE(ReadUntil(sub->get(), s, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "new");
}

TEST_F(CdcServiceTest, AfterASeqBeyondTheLogWaitsForIt) {
  for (int i = 0; i < 5; i++) Put("k", "v");
  SubscribeOptions o;
  o.start = SubscribeOptions::Start::kAfterSeq;
  o.after_seq = engine_->last_seq() + 10;
  o.checkpoint_interval_ms = 10;
  auto sub = client_->Subscribe(o);
  ASSERT_TRUE(sub.ok());
  std::vector<client::Change> got;
  uint64_t cp = 0;
  for (int i = 0; i < 3; i++) {  // checkpoints never pass the log's end
    ASSERT_TRUE((*sub)->Next(&got, &cp).ok());
    EXPECT_LE(cp, engine_->last_seq());
  }
  uint64_t last = 0;
  for (int i = 0; i < 15; i++) last = Put("k", std::to_string(i));
  ASSERT_TRUE(ReadUntil(sub->get(), last, &got).ok());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].seq, o.after_seq + 1);
}

TEST_F(CdcServiceTest, ConsumerGroups) {
  for (int i = 0; i < 10; i++) Put("k" + std::to_string(i), "v");
  ASSERT_EQ(*client_->CommitGroupPosition("g", 4), 4u);
  auto back = client_->CommitGroupPosition("g", 3);
  EXPECT_EQ(back.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(client_->CommitGroupPosition("bad name", 3).status().code(), Code::kInvalidArgument);

  SubscribeOptions o;
  o.group = "g";
  o.start = SubscribeOptions::Start::kLatest;  // the group's position wins
  auto sub = client_->Subscribe(o);
  ASSERT_TRUE(sub.ok());
  std::vector<client::Change> got;
  ASSERT_TRUE(ReadUntil(sub->get(), 10, &got).ok());
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].seq, 5u);

  uint64_t last = 0;
  auto groups = client_->ListGroups(&last);
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_EQ((*groups)[0].group, "g");
  EXPECT_EQ((*groups)[0].seq, 4u);
  EXPECT_EQ((*groups)[0].lag, last - 4);
  EXPECT_TRUE((*groups)[0].active);

  // A second consumer of the group is refused, naming it.
  auto second = client_->Subscribe(o);
  ASSERT_TRUE(second.ok());
  std::vector<client::Change> none;
  uint64_t cp;
  Status st = (*second)->Next(&none, &cp);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("'g'"), std::string::npos) << st.message();

  (*sub)->Cancel();
  while ((*sub)->Next(&none, &cp).ok()) {
  }
  sub->reset();
  // The lease is released once the stream is done (asynchronously).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*client_->ListGroups())[0].active) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(client_->DeleteGroup("g").ok());
  EXPECT_EQ(client_->DeleteGroup("g").code(), Code::kNotFound);
  EXPECT_TRUE(client_->ListGroups()->empty());
  // The group's records are system records: a plain subscription does not see them.
  auto plain = client_->Subscribe(SubscribeOptions{});
  std::vector<client::Change> all;
  ASSERT_TRUE(ReadUntil(plain->get(), engine_->last_seq(), &all).ok());
  for (const auto& c : all) EXPECT_NE(c.key[0], '$');
  EXPECT_EQ(all.size(), 10u);
}

TEST_F(CdcServiceTest, InvalidRequestsNameTheLimit) {
  struct Case {
    SubscribeOptions o;
    std::string needle;
  };
  std::vector<Case> cases(4);
  cases[0].o.group = "no/slash";
  cases[0].needle = "[A-Za-z0-9._-]";
  cases[1].o.key_prefixes.assign(65, "p");
  cases[1].needle = "subscribe_prefixes_max";
  cases[2].o.event_types = {std::string(129, 't')};
  cases[2].needle = "subscribe_type_bytes_max";
  cases[3].o.checkpoint_interval_ms = 5;
  cases[3].needle = "checkpoint_interval_ms";
  for (const Case& c : cases) {
    auto sub = client_->Subscribe(c.o);
    ASSERT_TRUE(sub.ok());
    std::vector<client::Change> none;
    uint64_t cp;
    Status st = (*sub)->Next(&none, &cp);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find(c.needle), std::string::npos) << st.message();
  }
}

// 100 live streams share the log reading: the cache's thread reads each new record once and every
// stream is served from its chunks. A regression to a reader per subscriber fails three checks:
// the cache read exactly the records written, no stream opened a LogReader of its own, and the
// bytes read from the log's segment files (counted by the Env, beneath the CDC code) are about one
// copy of what was written, not 100.
TEST_F(CdcServiceTest, HundredSubscribersReceiveTheSameStream) {
  constexpr int kSubs = 100, kEvents = 2000;
  std::vector<std::unique_ptr<client::Subscription>> subs;
  for (int i = 0; i < kSubs; i++) {
    SubscribeOptions o;
    o.start = SubscribeOptions::Start::kLatest;
    auto s = client_->Subscribe(o);
    ASSERT_TRUE(s.ok());
    std::vector<client::Change> none;
    uint64_t cp;
    ASSERT_TRUE((*s)->Next(&none, &cp).ok());  // established
    subs.push_back(std::move(s).value());
  }
  const uint64_t start = engine_->last_seq();
  const CdcService::Stats st0 = cdc_->stats();
  const uint64_t log_bytes0 = engine_->stats().log_bytes;
  const uint64_t read0 = env_.log_bytes_read();
  // The subscribers read while the writer appends.
  std::atomic<uint64_t> target{UINT64_MAX};
  std::vector<std::vector<client::Change>> got(kSubs);
  std::vector<std::thread> readers;
  std::atomic<int> ok{0};
  for (int i = 0; i < kSubs; i++) {
    readers.emplace_back([&, i] {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(25);
      uint64_t reached = 0;
      while (reached < target.load()) {
        if (std::chrono::steady_clock::now() > deadline) return;
        uint64_t cp = 0;
        const size_t n = got[i].size();
        if (!subs[i]->Next(&got[i], &cp).ok()) return;
        if (got[i].size() > n) reached = std::max(reached, got[i].back().seq);
        reached = std::max(reached, cp);
      }
      ok++;
    });
  }
  for (int i = 0; i < kEvents; i++) Put("k" + std::to_string(i % 10), std::to_string(i));
  target.store(engine_->last_seq());
  for (auto& r : readers) r.join();
  ASSERT_EQ(ok.load(), kSubs);
  const CdcService::Stats st = cdc_->stats();
  const uint64_t log_bytes_written = engine_->stats().log_bytes - log_bytes0;
  const uint64_t log_bytes_read = env_.log_bytes_read() - read0;

  std::vector<Event> model;
  for (Event& e : ReadAllEvents()) {
    if (e.seq > start) model.push_back(std::move(e));
  }
  ASSERT_EQ(model.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kSubs; i++) {
    ASSERT_EQ(got[i].size(), model.size()) << i;
    for (size_t k = 0; k < got[i].size(); k++) ASSERT_EQ(got[i][k].seq, model[k].seq) << i;
  }
  EXPECT_EQ(st.cache_records_read - st0.cache_records_read, static_cast<uint64_t>(kEvents));
  EXPECT_EQ(st.reader_opens - st0.reader_opens, 0u);
  EXPECT_GE(st.chunks_read - st0.chunks_read, static_cast<uint64_t>(kSubs));
  ASSERT_GT(log_bytes_written, 0u);
  EXPECT_LE(log_bytes_read, 2 * log_bytes_written + (64 << 10))
      << "read " << log_bytes_read << " bytes of log for " << log_bytes_written << " written";
}

TEST_F(CdcServiceTest, ShutdownEndsStreamsWithUnavailable) {
  auto sub = client_->Subscribe(SubscribeOptions{});
  ASSERT_TRUE(sub.ok());
  std::vector<client::Change> none;
  uint64_t cp;
  ASSERT_TRUE((*sub)->Next(&none, &cp).ok());
  cdc_->Shutdown();
  Status st;
  while ((st = (*sub)->Next(&none, &cp)).ok()) {
  }
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("shutting down"), std::string::npos) << st.message();
  EXPECT_EQ(metrics_.subscribers(), 0);
  // New subscriptions are refused.
  auto late = client_->Subscribe(SubscribeOptions{});
  EXPECT_EQ((*late)->Next(&none, &cp).code(), Code::kUnavailable);
}

// Live coalescing: a caught-up stream waits up to live_batch_delay_us for more data, so a paced
// burst arrives in messages of several changes each, in order and exactly once; a lone change is
// still delivered after the delay (no further commit needed).
class CdcServiceBatchTest : public CdcServiceTest {
 protected:
  CdcOptions Options() override {
    CdcOptions o;
    o.live_batch_delay_us = 5000;  // large, so the test does not depend on the machine's speed
    o.live_batch_changes = 1000;
    return o;
  }
};

TEST_F(CdcServiceBatchTest, CaughtUpStreamGetsSeveralChangesPerMessage) {
  SubscribeOptions o;
  o.start = SubscribeOptions::Start::kLatest;
  auto sub = client_->Subscribe(o);
  ASSERT_TRUE(sub.ok());
  std::vector<client::Change> got;
  uint64_t cp = 0;
  ASSERT_TRUE((*sub)->Next(&got, &cp).ok());  // established
  ASSERT_TRUE(got.empty());

  // A lone change: delivered once the delay is over.
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t first = Put("solo", "1");
  ASSERT_TRUE(ReadUntil(sub->get(), first, &got).ok());
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LT(waited, std::chrono::seconds(1));

  // A paced burst: ~1 change per 200 us, 1000 changes.
  constexpr int kEvents = 1000;
  std::thread writer([&] {
    for (int i = 0; i < kEvents; i++) {
      Put("b" + std::to_string(i % 7), std::to_string(i));
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  size_t messages = 0;
  std::vector<client::Change> burst;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (burst.size() < static_cast<size_t>(kEvents)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    const size_t n = burst.size();
    ASSERT_TRUE((*sub)->Next(&burst, &cp).ok());
    if (burst.size() > n) messages++;
  }
  writer.join();
  ASSERT_EQ(burst.size(), static_cast<size_t>(kEvents));
  EXPECT_GT(burst[0].seq, first);
  for (size_t i = 1; i < burst.size(); i++) ASSERT_EQ(burst[i].seq, burst[i - 1].seq + 1);
  // Without the delay nearly every change would be its own message.
  EXPECT_LE(messages, static_cast<size_t>(kEvents) / 4) << messages << " messages";
}

}  // namespace
}  // namespace rdb::server
