#include "tests/fault/schedule.h"

#include <gtest/gtest.h>

#include <set>

namespace rdb::fault {
namespace {

TEST(Schedule, SameSeedSameRounds) {
  Schedule a(42, {}), b(42, {}), c(43, {});
  std::string sa, sb, sc;
  for (uint64_t i = 0; i < 200; i++) {
    sa += FormatRound(a.At(i)) + "\n";
    sb += FormatRound(b.At(i)) + "\n";
    sc += FormatRound(c.At(i)) + "\n";
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
  // A round depends on its index only, not on the rounds asked for before it.
  EXPECT_EQ(FormatRound(Schedule(42, {}).At(77)), FormatRound(a.At(77)));
}

TEST(Schedule, FirstRoundsCoverEveryKind) {
  for (uint64_t seed = 0; seed < 20; seed++) {
    Schedule s(seed, {});
    std::set<FaultKind> kinds;
    for (uint64_t i = 0; i < kFaultKinds; i++) kinds.insert(s.At(i).faults[0].kind);
    EXPECT_EQ(kinds.size(), static_cast<size_t>(kFaultKinds)) << "seed " << seed;
  }
}

TEST(Schedule, LinksAndRoles) {
  Schedule s(11, {});
  int links = 0, roles = 0;
  for (uint64_t i = 0; i < 2000; i++) {
    for (const Fault& f : s.At(i).faults) {
      if (f.target != Target::kNode) {
        roles++;
        EXPECT_LT(f.group, 2u);
      }
      if (f.kind != FaultKind::kCutLink || f.target != Target::kNode) continue;
      links++;
      EXPECT_NE(f.node, f.peer);
      EXPECT_EQ(f.node / 3, f.peer / 3) << "a link inside one group";
    }
  }
  EXPECT_GT(links, 50);
  EXPECT_GT(roles, 500);
  EXPECT_EQ(FormatTarget({FaultKind::kCutLink, Target::kLeader1, -1, -1, 1, 0, 0}),
            "g1.leader1<->leader2");
  EXPECT_EQ(FormatTarget({FaultKind::kPause, Target::kLeader2, 2, -1, 0, 0, 0}), "g0.leader2");
}

TEST(Schedule, RoundsAreBounded) {
  ScheduleOptions o;
  o.nodes = 6;
  o.lease_ttl_ms = 1000;
  Schedule s(7, o);
  int overlapping = 0, same_group_leader = 0;
  for (uint64_t i = 0; i < 2000; i++) {
    const Round r = s.At(i);
    ASSERT_GE(r.faults.size(), 1u);
    ASSERT_LE(r.faults.size(), 2u);  // at most two faults at once
    for (const Fault& f : r.faults) {
      if (f.kind == FaultKind::kEtcdKill) {
        EXPECT_EQ(f.node, -1);
      } else {
        EXPECT_GE(f.node, 0);
        EXPECT_LT(f.node, 6);
      }
      if (f.kind == FaultKind::kPause) {
        EXPECT_GT(f.hold_ms, o.lease_ttl_ms);  // past the lease
      }
      EXPECT_GT(f.hold_ms, 0u);
    }
    if (r.faults.size() == 2) {
      overlapping++;
      EXPECT_LE(r.faults[1].start_ms, r.faults[0].hold_ms);  // they overlap
      if (r.faults[0].node >= 0) {
        EXPECT_NE(r.faults[0].node, r.faults[1].node);
      }
      if (r.faults[0].node >= 0 && r.faults[1].target != Target::kNode &&
          r.faults[1].group == r.faults[0].group) {
        same_group_leader++;
      }
      EXPECT_FALSE(r.faults[0].kind == FaultKind::kEtcdKill &&
                   r.faults[1].kind == FaultKind::kEtcdKill);
    }
  }
  EXPECT_GT(overlapping, 400);
  EXPECT_LT(overlapping, 800);
  EXPECT_GT(same_group_leader, overlapping / 4);  // compound faults on one group's leaders
}

}  // namespace
}  // namespace rdb::fault
