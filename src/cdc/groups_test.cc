// Consumer groups against a real Engine: commit, backwards refused, list, delete, one active
// subscriber, positions survive a reopen, concurrent commits never move a group backwards.
#include "cdc/groups.h"

#include <gtest/gtest.h>

#include <thread>

#include "engine/sequencer.h"
#include "tests/support/temp_dir.h"

namespace rdb::cdc {
namespace {

class GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    EngineOptions o;
    o.data_dir = dir_.path();
    o.fsync = FsyncPolicy::kNever;
    auto e = Engine::Open(o);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(e).value();
    store_ = std::make_unique<GroupStore>(engine_.get());
  }
  void Write(int n) {
    for (int i = 0; i < n; i++) {
      AppendRequest r;
      r.key = "k" + std::to_string(i);
      r.events.push_back(EventData{EventKind::kPut, "", "v"});
      ASSERT_TRUE(engine_->Append(std::move(r)).ok());
    }
  }
  test::TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<GroupStore> store_;
};

TEST_F(GroupsTest, CommitListDeleteAndReopen) {
  Write(20);
  EXPECT_FALSE(store_->Get("g1")->has_value());
  ASSERT_EQ(*store_->Commit("g1", 5), 5u);
  ASSERT_EQ(*store_->Commit("g1", 5), 5u);  // same again: no-op
  ASSERT_EQ(*store_->Commit("g1", 7), 7u);
  auto back = store_->Commit("g1", 6);
  EXPECT_EQ(back.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(back.status().message().find("backwards"), std::string::npos);
  EXPECT_EQ(store_->Commit("g1", 1000).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_->Commit("bad/name", 1).status().code(), Code::kInvalidArgument);
  ASSERT_TRUE(store_->Commit("a0", 3).ok());
  auto list = store_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "a0");
  EXPECT_EQ((*list)[1].name, "g1");
  EXPECT_EQ((*list)[1].seq, 7u);
  EXPECT_GT((*list)[1].updated_ms, 0u);

  ASSERT_TRUE(engine_->Close().ok());
  Open();
  EXPECT_EQ((*store_->Get("g1"))->seq, 7u);
  ASSERT_TRUE(store_->Delete("g1").ok());
  EXPECT_EQ(store_->Delete("g1").code(), Code::kNotFound);
  EXPECT_EQ(store_->Delete("never").code(), Code::kNotFound);
  EXPECT_FALSE(store_->Get("g1")->has_value());
  ASSERT_EQ(store_->List()->size(), 1u);
  // A deleted group starts afresh (lower positions are fine again).
  ASSERT_EQ(*store_->Commit("g1", 2), 2u);
  ASSERT_EQ(store_->List()->size(), 2u);
  ASSERT_TRUE(engine_->Close().ok());
}

TEST_F(GroupsTest, OneActiveSubscriberPerGroup) {
  auto l1 = store_->Acquire("g");
  ASSERT_TRUE(l1.ok());
  EXPECT_TRUE(store_->IsActive("g"));
  auto l2 = store_->Acquire("g");
  EXPECT_EQ(l2.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(l2.status().message().find("'g'"), std::string::npos);
  l1->reset();
  EXPECT_FALSE(store_->IsActive("g"));
  EXPECT_TRUE(store_->Acquire("g").ok());
  ASSERT_TRUE(engine_->Close().ok());
}

TEST_F(GroupsTest, ConcurrentCommitsNeverMoveBackwards) {
  Write(400);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++) {
    ts.emplace_back([&, t] {
      for (uint64_t s = 1 + t; s <= 400; s += 4) {
        auto r = store_->Commit("g", s);
        if (!r.ok()) {
          EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
        }
        auto cur = store_->Get("g");
        ASSERT_TRUE(cur.ok());
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ((*store_->Get("g"))->seq, 400u);
  // The stored positions, in log order, never decrease.
  ReadStreamRequest req;
  req.key = GroupStore::Key("g");
  req.limit = kReadLimitMax;
  auto h = engine_->ReadStream(req);
  ASSERT_TRUE(h.ok());
  uint64_t prev = 0;
  for (const Event& e : h->events) {
    uint64_t v = std::stoull(e.payload);
    EXPECT_GT(v, prev);
    prev = v;
  }
  ASSERT_TRUE(engine_->Close().ok());
}

TEST_F(GroupsTest, ShardRegistryAndUnboundedPositions) {
  // A cluster shard: its own registry key, and positions from other shards' (higher) seqs.
  Write(3);
  GroupStore shard(engine_.get(), GroupStoreOptions{"$groups/1/0", false});
  ASSERT_EQ(*shard.Commit("g1", 1000), 1000u);
  EXPECT_EQ(shard.Commit("g1", 999).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(shard.Commit("g2", kSeqMax + 1).status().code(), Code::kInvalidArgument);
  ASSERT_EQ(*shard.Commit("g2", kSeqMax), kSeqMax);
  auto list = shard.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "g1");
  EXPECT_EQ(engine_->Get("$groups/1/0")->payload, "g1\ng2");
  // The single-node registry is another record: it lists none of them.
  EXPECT_EQ(engine_->GetKeyState(kGroupRegistryKey)->version, 0u);
  EXPECT_TRUE(store_->List()->empty());
  ASSERT_TRUE(shard.Delete("g1").ok());
  EXPECT_EQ(engine_->Get("$groups/1/0")->payload, "g2");
  ASSERT_TRUE(engine_->Close().ok());
}

}  // namespace
}  // namespace rdb::cdc
