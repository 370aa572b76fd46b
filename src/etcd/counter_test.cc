#include "etcd/counter.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

#include "etcd/test_util.h"

namespace rdb::etcd {
namespace {

using testing::Connect;
using testing::SharedEtcd;
using testing::TestPrefix;

TEST(EtcdCounter, ConcurrentIncrementsAreUnique) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 25;
  std::string key = TestPrefix() + "node-id";
  std::vector<std::vector<int64_t>> got(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> conflicts{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      auto c = Connect(SharedEtcd().endpoint());  // a client (and connection) per thread
      for (int i = 0; i < kPerThread; i++) {
        auto r = IncrementCounter(c.get(), key);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        got[t].push_back(r->value);
        conflicts += r->attempts - 1;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> all;
  for (const auto& v : got) {
    for (size_t i = 1; i < v.size(); i++) EXPECT_LT(v[i - 1], v[i]);  // each thread sees growth
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), size_t{kThreads * kPerThread});  // no value handed out twice
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kPerThread);  // and none skipped
  auto c = Connect(SharedEtcd().endpoint());
  EXPECT_EQ(c->Get(key)->kvs.at(0).value, std::to_string(kThreads * kPerThread));
  std::printf("conflicts retried: %d\n", conflicts.load());
}

TEST(EtcdCounter, RejectsAValueThatIsNotANumber) {
  auto c = Connect(SharedEtcd().endpoint());
  std::string key = TestPrefix() + "bad";
  ASSERT_TRUE(c->Put(key, "12x").ok());
  auto r = IncrementCounter(c.get(), key);
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("12x"), std::string::npos);
  EXPECT_EQ(ParseCounter(key, "-1").status().code(), Code::kCorruption);
  EXPECT_EQ(ParseCounter(key, "").status().code(), Code::kCorruption);
  EXPECT_EQ(*ParseCounter(key, "42"), 42);
}

}  // namespace
}  // namespace rdb::etcd
