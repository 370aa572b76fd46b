// Unit tests of the pure parts of the control plane: shape comparison, the node identity file,
// the roster built from a read of the groups prefix, and key routing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cluster/keys.h"
#include "cluster/node_id_file.h"
#include "cluster/roster.h"
#include "cluster/routing.h"
#include "cluster/shape.h"
#include "tests/support/temp_dir.h"

namespace rdb::cluster {
namespace {

ClusterShape Shape() { return {"db", 2, 3, 2, 2}; }

TEST(ShapeTest, JsonRoundTrip) {
  auto back = ShapeFromJson("k", ShapeToJson(Shape()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(CompareShapes(*back, Shape(), "k").ok());
}

TEST(ShapeTest, EachDifferenceIsNamed) {
  const std::pair<const char*, void (*)(ClusterShape*)> cases[] = {
      {"dbname is other", [](ClusterShape* s) { s->dbname = "other"; }},
      {"groups is 3", [](ClusterShape* s) { s->groups = 3; }},
      {"group_size is 5", [](ClusterShape* s) { s->group_size = 5; }},
      {"reads is 3", [](ClusterShape* s) { s->reads = 3; }},
      {"writes is 1", [](ClusterShape* s) { s->writes = 1; }},
  };
  for (const auto& [expect, change] : cases) {
    ClusterShape mine = Shape();
    change(&mine);
    Status s = CompareShapes(Shape(), mine, "/rdeebee/db/shape");
    EXPECT_EQ(s.code(), Code::kFailedPrecondition);
    EXPECT_NE(s.message().find(expect), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("/rdeebee/db/shape"), std::string::npos) << s.message();
  }
}

TEST(ShapeTest, GarbageIsCorruption) {
  EXPECT_EQ(ShapeFromJson("k", "nope").status().code(), Code::kCorruption);
  EXPECT_EQ(ShapeFromJson("k", R"({"dbname":"x","groups":1})").status().code(), Code::kCorruption);
  EXPECT_EQ(ShapeFromJson("k", R"({"dbname":"x","groups":-1,"group_size":1,"reads":1,"writes":1})")
                .status()
                .code(),
            Code::kCorruption);
}

TEST(NodeIdFileTest, AbsentThenWrittenThenRead) {
  test::TempDir dir;
  auto none = ReadNodeIdentity(Env::Posix(), dir.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  NodeIdentity id{"db", 4, "0123456789abcdef"};
  ASSERT_TRUE(WriteNodeIdentity(Env::Posix(), dir.path(), id).ok());
  auto back = ReadNodeIdentity(Env::Posix(), dir.path());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ((*back)->dbname, "db");
  EXPECT_EQ((*back)->id, 4);
  EXPECT_EQ((*back)->token, "0123456789abcdef");
  EXPECT_FALSE(Env::Posix()->FileExists(JoinPath(dir.path(), "cluster-node.tmp")));
  // Overwrite atomically.
  id.id = 5;
  ASSERT_TRUE(WriteNodeIdentity(Env::Posix(), dir.path(), id).ok());
  EXPECT_EQ((*ReadNodeIdentity(Env::Posix(), dir.path()))->id, 5);
}

TEST(NodeIdFileTest, RejectsDamage) {
  const char* bad[] = {
      "",
      "rdeebee-cluster-node v2\ndbname d\nid 1\ntoken 0123456789abcdef\n",
      "rdeebee-cluster-node v1\ndbname d\nid x\ntoken 0123456789abcdef\n",
      "rdeebee-cluster-node v1\ndbname d\nid 1\n",
      "rdeebee-cluster-node v1\ndbname d\nid 1\ntoken short\n",
      "rdeebee-cluster-node v1\ndbname d\nid 1\ntoken 0123456789abcdef\nextra 1\n",
  };
  for (const char* text : bad) {
    auto r = DecodeNodeIdentity("/d/cluster-node", text);
    EXPECT_EQ(r.status().code(), Code::kCorruption) << text;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("/d/cluster-node"), std::string::npos);
    }
  }
  auto ok = DecodeNodeIdentity("p", EncodeNodeIdentity({"d", 12, "00000000000000ff"}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->id, 12);
}

etcd::KeyValue Kv(std::string key, const Registration& r, int64_t create_revision) {
  etcd::KeyValue kv;
  kv.key = std::move(key);
  kv.value = RegistrationToJson(r);
  kv.create_revision = create_revision;
  return kv;
}

TEST(RosterTest, RolesEpochAndLag) {
  KeyLayout k("db");
  std::vector<etcd::KeyValue> kvs = {
      Kv(k.Member(0, 0), {"a", "h:1", 0, 10}, 5),
      Kv(k.Member(0, 1), {"b", "h:2", 1, 7}, 6),
      Kv(k.Member(0, 2), {"c", "h:3", 2, 12}, 7),
      Kv(k.Member(1, 3), {"d", "h:4", 3, 0}, 8),  // registered, not campaigning yet
      Kv(k.ElectionPrefix(0) + "aa", {"b", "h:2", 1, 0}, 20),
      Kv(k.ElectionPrefix(0) + "bb", {"a", "h:1", 0, 0}, 30),
      Kv(k.ElectionPrefix(0) + "cc", {"c", "h:3", 2, 0}, 40),
  };
  auto roster = BuildRoster(k, kvs);
  ASSERT_EQ(roster.size(), 4u);
  EXPECT_EQ(roster[0].node, "b");
  EXPECT_EQ(roster[0].role, Role::kLeader1);
  EXPECT_EQ(roster[0].epoch, 20);
  EXPECT_EQ(roster[0].lag, 0u);
  EXPECT_EQ(roster[1].node, "a");
  EXPECT_EQ(roster[1].role, Role::kLeader2);
  EXPECT_EQ(roster[1].lag, 0u);  // ahead of leader 1: no lag
  EXPECT_EQ(roster[2].node, "c");
  EXPECT_EQ(roster[2].role, Role::kFollower);
  EXPECT_EQ(roster[3].group, 1u);
  EXPECT_EQ(roster[3].role, Role::kJoining);
  EXPECT_EQ(roster[3].epoch, 0);
  // Lag behind leader 1 (b at 7): raise b.
  kvs[1] = Kv(k.Member(0, 1), {"b", "h:2", 1, 15}, 6);
  roster = BuildRoster(k, kvs);
  EXPECT_EQ(roster[1].lag, 5u);
  EXPECT_EQ(roster[2].lag, 3u);
}

TEST(RosterTest, IgnoresForeignAndBrokenKeys) {
  KeyLayout k("db");
  etcd::KeyValue junk;
  junk.key = k.Member(0, 0);
  junk.value = "not json";
  etcd::KeyValue other = Kv("/rdeebee/other/groups/0/members/0", {"x", "h", 0, 0}, 1);
  EXPECT_TRUE(BuildRoster(k, {junk, other}).empty());
}

// The compatibility contract: these vectors must never change (a key's events live in the group
// this function names; changing it would strand every stored key). XXH64 reference values:
// XXH64("", 0) = ef46db3751d8e999, XXH64("a", 0) = d24ec4f1a98c6e5b.
TEST(RoutingTest, PinnedVectors) {
  struct Vector {
    std::string key;
    uint32_t g2, g3, g7, g1000;
  };
  const Vector vectors[] = {
      {"", 1, 0, 6, 921},
      {"a", 1, 2, 6, 955},
      {"Deep", 1, 2, 6, 365},
      {"order-17", 1, 0, 1, 157},
      {"$group/billing", 1, 2, 1, 425},
      {"user-1", 0, 1, 1, 856},
      {std::string("\x00\xff\x80", 3), 1, 1, 2, 775},
  };
  for (const Vector& v : vectors) {
    EXPECT_EQ(GroupOfKey(v.key, 1), 0u) << v.key;
    EXPECT_EQ(GroupOfKey(v.key, 2), v.g2) << v.key;
    EXPECT_EQ(GroupOfKey(v.key, 3), v.g3) << v.key;
    EXPECT_EQ(GroupOfKey(v.key, 7), v.g7) << v.key;
    EXPECT_EQ(GroupOfKey(v.key, 1000), v.g1000) << v.key;
  }
}

// Sanity, not statistics: 60,000 sequential keys over 2, 3 and 6 groups land within 5% of an
// even share in every group.
TEST(RoutingTest, SpreadsSequentialKeys) {
  constexpr uint32_t kKeys = 60000;
  for (uint32_t groups : {2u, 3u, 6u}) {
    std::vector<uint32_t> counts(groups, 0);
    for (uint32_t i = 0; i < kKeys; ++i) {
      uint32_t g = GroupOfKey("key-" + std::to_string(i), groups);
      ASSERT_LT(g, groups);
      ++counts[g];
    }
    const double even = static_cast<double>(kKeys) / groups;
    for (uint32_t g = 0; g < groups; ++g) {
      EXPECT_NEAR(counts[g], even, even * 0.05) << "group " << g << " of " << groups;
    }
  }
}

}  // namespace
}  // namespace rdb::cluster
