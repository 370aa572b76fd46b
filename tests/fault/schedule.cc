#include "tests/fault/schedule.h"

#include <algorithm>

namespace rdb::fault {

namespace {

// Relative weights of the kinds after the first permutation (partitions are the richest faults).
constexpr int kWeights[kFaultKinds] = {20, 15, 10, 18, 20, 17};

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
  }
  return "?";
}

bool IsPartition(FaultKind kind) {
  return kind == FaultKind::kCutEtcd || kind == FaultKind::kCutGroup ||
         kind == FaultKind::kCutClients;
}

Schedule::Schedule(uint64_t seed, ScheduleOptions options) : seed_(seed), options_(options) {
  for (int k = 0; k < kFaultKinds; k++) first_kinds_.push_back(static_cast<FaultKind>(k));
  std::mt19937_64 rng(seed_ ^ 0x5eedf00dULL);
  std::shuffle(first_kinds_.begin(), first_kinds_.end(), rng);
}

Fault Schedule::MakeFault(std::mt19937_64& rng, FaultKind kind, int avoid_node) const {
  Fault f;
  f.kind = kind;
  if (kind != FaultKind::kEtcdKill) {
    do {
      f.node = static_cast<int>(Uniform(rng, 0, static_cast<uint32_t>(options_.nodes - 1)));
    } while (f.node == avoid_node && options_.nodes > 1);
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
    f.start_ms = Uniform(rng, 0, r.faults[0].hold_ms);
    r.faults.push_back(f);
  }
  r.gap_ms = Uniform(rng, 1000, 3000);
  return r;
}

std::string FormatRound(const Round& round) {
  std::string out = "round " + std::to_string(round.index) + ":";
  for (const Fault& f : round.faults) {
    out += std::string(" ") + FaultKindName(f.kind) + " " +
           (f.node < 0 ? std::string("etcd") : "n" + std::to_string(f.node)) + " @" +
           std::to_string(f.start_ms) + "ms hold " + std::to_string(f.hold_ms) + "ms;";
  }
  out += " gap " + std::to_string(round.gap_ms) + "ms";
  return out;
}

}  // namespace rdb::fault
