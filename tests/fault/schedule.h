// The fault schedule of rdb-fault: a pure function of a seed. Faults come in rounds of one or two
// overlapping faults (never more, so the cluster can make progress), each healed after its hold
// time, followed by a quiet gap in which the cluster recovers. The first kFaultKinds rounds are a
// seeded permutation of every kind, so even a short run covers each kind once.
//
// A fault targets a node by index, or by role: "leader 1 (or leader 2) of group g", resolved from
// the member map when it is injected (so failovers are exercised far more often than a uniform
// pick would). Round i depends only on (seed, options, i): two runs with the same seed inject the
// same kinds of faults into the same targets in the same order with the same hold times. (Which
// node holds a role at that moment, and the wall-clock instants, depend on the run.)
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace rdb::fault {

enum class FaultKind : uint8_t {
  kKill,        // kill -9 of a node, restarted after the hold (same data directory and address)
  kPause,       // SIGSTOP of a node for longer than the lease, then SIGCONT
  kEtcdKill,    // kill -9 of etcd, restarted after the hold (same ports and data)
  kCutEtcd,     // a node cannot reach etcd (iptables)
  kCutGroup,    // a node and the other members of its group cannot reach each other (iptables)
  kCutClients,  // the harness's clients cannot reach a node (iptables)
  kCutLink,     // two members of a group cannot reach each other; both still reach the rest
};
inline constexpr int kFaultKinds = 7;

// "kill", "pause", "etcd-kill", "cut-etcd", "cut-group", "cut-clients", "cut-link".
const char* FaultKindName(FaultKind kind);
bool IsPartition(FaultKind kind);

// How a fault names its node.
enum class Target : uint8_t {
  kNode,     // `node`, by index
  kLeader1,  // leader 1 of `group` when injected (for kCutLink: leader 1 <-> leader 2)
  kLeader2,  // leader 2 of `group` when injected
};

struct Fault {
  FaultKind kind = FaultKind::kKill;
  Target target = Target::kNode;
  int node = -1;          // kNode: index of the target node; -1 for etcd
  int peer = -1;          // kCutLink with kNode: the other end (same group)
  uint32_t group = 0;     // kLeader1 / kLeader2
  uint32_t start_ms = 0;  // from the start of its round
  uint32_t hold_ms = 0;   // how long until it is healed
};

// "n3", "g1.leader1", "n0<->n2", "g0.leader1<->leader2", "etcd".
std::string FormatTarget(const Fault& fault);

struct Round {
  uint64_t index = 0;
  // 1 or 2. Two faults name distinct node indexes, but a role may resolve to the other fault's
  // node (then that node takes both). Half the second faults hit a leader of the first's group.
  std::vector<Fault> faults;
  uint32_t gap_ms = 0;  // quiet time after the last heal (and recovery) of the round
};

struct ScheduleOptions {
  int nodes = 6;
  int group_size = 3;  // nodes / group_size groups; node i is in group i / group_size
  uint32_t lease_ttl_ms = 1000;
  // Chance that a round holds a second fault overlapping the first, in percent.
  int overlap_percent = 30;
  // Chance that a node fault targets a role (leader 1 or leader 2 of a group), in percent.
  int role_percent = 50;
};

class Schedule {
 public:
  Schedule(uint64_t seed, ScheduleOptions options);
  // Round `index` (0, 1, 2, ...): a pure function of the seed, the options and the index.
  Round At(uint64_t index) const;

 private:
  Fault MakeFault(std::mt19937_64& rng, FaultKind kind, int avoid_node) const;

  uint64_t seed_;
  ScheduleOptions options_;
  std::vector<FaultKind> first_kinds_;  // the seeded permutation of every kind
};

// "round 3: kill n2 @0ms hold 1200ms; cut-etcd n4 @400ms hold 2500ms; gap 1800ms"
std::string FormatRound(const Round& round);

}  // namespace rdb::fault
