#include "tests/fault/schedule.h"

#include <algorithm>

namespace rdb::fault {

namespace {

// Relative weights of the kinds after the first permutation (partitions are the richest faults).
constexpr int kWeights[kFaultKinds] = {20, 15, 10, 16, 16, 13, 16};

uint32_t Uniform(std::mt19937_64& rng, uint32_t lo, uint32_t hi) {
  return std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
}

}  // namespace

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kKill:
      return "kill";
    case FaultKind::kPause:
      return "pause";
    case FaultKind::kEtcdKill:
      return "etcd-kill";
    case FaultKind::kCutEtcd:
      return "cut-etcd";
    case FaultKind::kCutGroup:
      return "cut-group";
    case FaultKind::kCutClients:
      return "cut-clients";
    case FaultKind::kCutLink:
      return "cut-link";
  }
  return "?";
}

std::string FormatTarget(const Fault& f) {
  if (f.kind == FaultKind::kEtcdKill) return "etcd";
  const std::string g = "g" + std::to_string(f.group);
  if (f.kind == FaultKind::kCutLink) {
    if (f.target == Target::kLeader1) return g + ".leader1<->leader2";
    return "n" + std::to_string(f.node) + "<->n" + std::to_string(f.peer);
  }
  switch (f.target) {
    case Target::kNode:
      return "n" + std::to_string(f.node);
    case Target::kLeader1:
      return g + ".leader1";
    case Target::kLeader2:
      return g + ".leader2";
  }
  return "?";
}

bool IsPartition(FaultKind kind) {
  return kind == FaultKind::kCutEtcd || kind == FaultKind::kCutGroup ||
         kind == FaultKind::kCutClients || kind == FaultKind::kCutLink;
}

Schedule::Schedule(uint64_t seed, ScheduleOptions options) : seed_(seed), options_(options) {
  for (int k = 0; k < kFaultKinds; k++) first_kinds_.push_back(static_cast<FaultKind>(k));
  std::mt19937_64 rng(seed_ ^ 0x5eedf00dULL);
  std::shuffle(first_kinds_.begin(), first_kinds_.end(), rng);
}

Fault Schedule::MakeFault(std::mt19937_64& rng, FaultKind kind, int avoid_node) const {
  Fault f;
  f.kind = kind;
  const int size = std::max(1, std::min(options_.group_size, options_.nodes));
  const uint32_t groups = static_cast<uint32_t>(std::max(1, options_.nodes / size));
  if (kind != FaultKind::kEtcdKill) {
    do {
      f.node = static_cast<int>(Uniform(rng, 0, static_cast<uint32_t>(options_.nodes - 1)));
    } while (f.node == avoid_node && options_.nodes > 1);
    f.group = static_cast<uint32_t>(f.node / size);
    if (static_cast<int>(Uniform(rng, 0, 99)) < options_.role_percent) {
      f.group = Uniform(rng, 0, groups - 1);
      f.target = Uniform(rng, 0, 2) < 2 ? Target::kLeader1 : Target::kLeader2;
    }
    if (kind == FaultKind::kCutLink) {
      if (size < 2) {
        f.kind = FaultKind::kCutEtcd;  // no link inside a group of one
      } else if (f.target == Target::kNode) {
        const int first = static_cast<int>(f.group) * size;
        do {
          f.peer = first + static_cast<int>(Uniform(rng, 0, static_cast<uint32_t>(size - 1)));
        } while (f.peer == f.node);
      } else {
        f.target = Target::kLeader1;  // the link that carries every acknowledgement
      }
    }
  }
  const uint32_t ttl = options_.lease_ttl_ms;
  switch (kind) {
    case FaultKind::kKill:
      f.hold_ms = Uniform(rng, 200, 3000);
      break;
    case FaultKind::kPause:  // always past the lease, sometimes far past it
      f.hold_ms = ttl + Uniform(rng, 300, 3000);
      break;
    case FaultKind::kEtcdKill:
      f.hold_ms = Uniform(rng, 300, 3000);
      break;
    case FaultKind::kCutEtcd:
    case FaultKind::kCutGroup:
    case FaultKind::kCutLink:
      f.hold_ms = Uniform(rng, 500, 2 * ttl + 3000);
      break;
    case FaultKind::kCutClients:
      f.hold_ms = Uniform(rng, 500, 4000);
      break;
  }
  return f;
}

Round Schedule::At(uint64_t index) const {
  // One generator per round, seeded from (seed, index): round i never depends on round i-1.
  std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32),
                    static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0xfa17u};
  std::mt19937_64 rng(seq);
  std::discrete_distribution<int> pick(std::begin(kWeights), std::end(kWeights));
  Round r;
  r.index = index;
  const FaultKind first =
      index < first_kinds_.size() ? first_kinds_[index] : static_cast<FaultKind>(pick(rng));
  r.faults.push_back(MakeFault(rng, first, -1));
  if (static_cast<int>(Uniform(rng, 0, 99)) < options_.overlap_percent) {
    FaultKind second = static_cast<FaultKind>(pick(rng));
    // One etcd fault at a time (two etcd kills would target the same process).
    while (second == FaultKind::kEtcdKill && first == FaultKind::kEtcdKill) {
      second = static_cast<FaultKind>(pick(rng));
    }
    Fault f = MakeFault(rng, second, r.faults[0].node);
    const Fault& a = r.faults[0];
    // Half the time the second fault hits the other leader of the first fault's group: the
    // compound failures (both leaders lost, a cut link and then a failover) that need tail
    // recovery and truncation of uncommitted suffixes.
    if (a.kind != FaultKind::kEtcdKill && f.kind != FaultKind::kEtcdKill &&
        f.kind != FaultKind::kCutLink && Uniform(rng, 0, 1) == 0) {
      f.group = a.group;
      f.target = a.target == Target::kLeader2 ? Target::kLeader1
                 : a.target == Target::kLeader1 && a.kind != FaultKind::kCutLink
                     ? Target::kLeader2
                     : static_cast<Target>(Uniform(rng, 1, 2));
    }
    f.start_ms = Uniform(rng, 0, a.hold_ms);
    r.faults.push_back(f);
  }
  r.gap_ms = Uniform(rng, 1000, 3000);
  return r;
}

std::string FormatRound(const Round& round) {
  std::string out = "round " + std::to_string(round.index) + ":";
  for (const Fault& f : round.faults) {
    out += std::string(" ") + FaultKindName(f.kind) + " " + FormatTarget(f) + " @" +
           std::to_string(f.start_ms) + "ms hold " + std::to_string(f.hold_ms) + "ms;";
  }
  out += " gap " + std::to_string(round.gap_ms) + "ms";
  return out;
}

}  // namespace rdb::fault
