#include "etcd/watcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "etcd/test_util.h"

namespace rdb::etcd {
namespace {

using testing::Connect;
using testing::SharedEtcd;
using testing::TestPrefix;

// Collects the events a watcher delivers; the test waits on a condition, not on time.
class Collector {
 public:
  Watcher::EventCallback Callback() {
    return [this](const std::vector<WatchEvent>& events) {
      std::lock_guard<std::mutex> lock(mu_);
      batches_++;
      events_.insert(events_.end(), events.begin(), events.end());
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, int timeout_ms = 10000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [&] { return events_.size() >= n; });
  }
  std::vector<WatchEvent> events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchEvent> events_;
  size_t batches_ = 0;
};

void ExpectStrictlyIncreasing(const std::vector<WatchEvent>& events) {
  for (size_t i = 1; i < events.size(); i++)
    EXPECT_LT(events[i - 1].kv.mod_revision, events[i].kv.mod_revision) << "event " << i;
}

TEST(EtcdWatcher, DeliversPutsAndDeletesInOrder) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string p = TestPrefix();
  Collector got;
  WatchOptions o = WatchOptions::Prefix(p);
  o.prev_kv = true;
  auto w = Watcher::Start(c.get(), o, got.Callback());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE(c->Put(p.substr(0, p.size() - 1) + "-outside", "x").ok());  // not under p
  std::vector<std::pair<WatchEvent::Type, std::string>> want;
  for (int i = 0; i < 20; i++) {
    std::string k = p + "k" + std::to_string(i % 5);
    if (i % 4 == 3) {  // delete the key put just before (a delete of an absent key is no event)
      k = p + "k" + std::to_string((i - 1) % 5);
      ASSERT_TRUE(c->Delete(k).ok());
      want.emplace_back(WatchEvent::Type::kDelete, k);
    } else {
      ASSERT_TRUE(c->Put(k, "v" + std::to_string(i)).ok());
      want.emplace_back(WatchEvent::Type::kPut, k);
    }
  }
  ASSERT_TRUE(got.WaitFor(want.size()));
  auto events = got.events();
  ASSERT_EQ(events.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) {
    EXPECT_EQ(events[i].type, want[i].first) << i;
    EXPECT_EQ(events[i].kv.key, want[i].second) << i;
    if (events[i].type == WatchEvent::Type::kPut) {
      EXPECT_EQ(events[i].kv.value, "v" + std::to_string(i)) << i;
    }
  }
  ExpectStrictlyIncreasing(events);
  ASSERT_TRUE(events[3].prev_kv.has_value());  // the delete carries what it deleted
  EXPECT_EQ(events[3].prev_kv->value, "v2");
  EXPECT_EQ((*w)->next_revision(), events.back().kv.mod_revision + 1);
}

TEST(EtcdWatcher, ReplaysFromAStartRevisionAndDeliversATxnTogether) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string p = TestPrefix();
  auto first = c->Put(p + "a", "1");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(c->Put(p + "b", "2").ok());
  Txn t;
  t.then.push_back(TxnOp::MakePut(p + "c", "3"));
  t.then.push_back(TxnOp::MakeDelete(p + "a"));
  auto txn = c->Commit(t);
  ASSERT_TRUE(txn.ok());
  Collector got;
  auto w = Watcher::Start(c.get(), WatchOptions::Prefix(p, first->revision), got.Callback());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(got.WaitFor(4));
  auto events = got.events();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kv.key, p + "a");
  EXPECT_EQ(events[1].kv.key, p + "b");
  EXPECT_EQ(events[2].kv.mod_revision, txn->revision);
  EXPECT_EQ(events[3].kv.mod_revision, txn->revision);  // one revision for the whole txn
  EXPECT_EQ(events[3].type, WatchEvent::Type::kDelete);
}

TEST(EtcdWatcher, ResumesAfterEtcdRestartsWithoutLossOrRepeat) {
  test::EtcdProcess etcd;
  ASSERT_TRUE(etcd.Start().ok()) << etcd.log();
  auto c = Connect(etcd.endpoint(), 2000);
  std::string p = "/w/";
  Collector got;
  auto w = Watcher::Start(c.get(), WatchOptions::Prefix(p), got.Callback());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (int i = 0; i < 5; i++) ASSERT_TRUE(c->Put(p + std::to_string(i), "before").ok());
  ASSERT_TRUE(got.WaitFor(5));
  for (bool hard : {false, true}) {  // SIGTERM, then kill -9
    int base = hard ? 10 : 5;
    etcd.Stop();
    ASSERT_TRUE(etcd.Restart(hard).ok()) << etcd.log();
    // Writes right after the restart, possibly before the watch is back: none may be missed.
    for (int i = base; i < base + 5; i++) {
      Status last;
      ASSERT_TRUE(testing::Eventually(
          [&] {
            last = c->Put(p + std::to_string(i), "after").status();
            return last.ok();
          },
          10000))
          << "put " << i << ": " << last.ToString() << "\n"
          << etcd.log();
    }
    ASSERT_TRUE(got.WaitFor(static_cast<size_t>(base + 5)));
  }
  auto events = got.events();
  ASSERT_EQ(events.size(), 15u);
  for (int i = 0; i < 15; i++) EXPECT_EQ(events[i].kv.key, p + std::to_string(i));
  ExpectStrictlyIncreasing(events);
  EXPECT_GE((*w)->reconnects(), 2u);
  EXPECT_TRUE((*w)->status().ok());
}

TEST(EtcdWatcher, ReportsCompaction) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string p = TestPrefix();
  auto first = c->Put(p + "a", "1");
  auto second = c->Put(p + "a", "2");
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(c->Compact(second->revision).ok());
  Collector got;
  std::promise<Status> ended;
  auto w = Watcher::Start(c.get(), WatchOptions::Prefix(p, first->revision), got.Callback(),
                          [&](const Status& s) { ended.set_value(s); });
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto f = ended.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Status s = f.get();
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("compacted"), std::string::npos) << s.message();
  EXPECT_EQ((*w)->compact_revision(), second->revision);
  EXPECT_TRUE(got.events().empty());
}

TEST(EtcdWatcher, CancelStopsDelivery) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string p = TestPrefix();
  Collector got;
  auto w = Watcher::Start(c.get(), WatchOptions::Prefix(p), got.Callback());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(c->Put(p + "a", "1").ok());
  ASSERT_TRUE(got.WaitFor(1));
  (*w)->Cancel();
  ASSERT_TRUE(c->Put(p + "a", "2").ok());
  // A second watcher sees the put, so the first had its chance to (wrongly) deliver it too.
  Collector probe;
  auto w2 =
      Watcher::Start(c.get(), WatchOptions::Prefix(p, (*w)->next_revision()), probe.Callback());
  ASSERT_TRUE(w2.ok());
  ASSERT_TRUE(probe.WaitFor(1));
  EXPECT_EQ(got.events().size(), 1u);
}

TEST(EtcdWatcher, StartFailsWhenNoEndpointAnswers) {
  ClientOptions o;
  o.timeout_ms = 500;
  auto c = Client::Connect({"127.0.0.1:" + std::to_string(test::EtcdProcess::FreePort())}, o);
  ASSERT_TRUE(c.ok());
  auto w = Watcher::Start(c->get(), WatchOptions::Prefix("/x/"), [](const auto&) {});
  EXPECT_EQ(w.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace rdb::etcd
