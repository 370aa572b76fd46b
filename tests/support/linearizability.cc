// The linearizability search follows Lowe's refinement of Wing & Gong as Porcupine implements it:
// calls and returns in one time-ordered doubly linked list; linearizing a call lifts it and its
// return out of the list; meeting a return means some pending operation cannot be placed, so the
// search backtracks. A memo of visited (linearized set, model state) pairs prunes what was already
// explored. States are interned in a trie of applied writes, so a state is one integer and equal
// integers are equal states. Two sound prunings keep concurrent histories cheap: an operation with
// a known outcome that leaves the state unchanged is linearized greedily, and an unknown write is
// never linearized as a no-op.
#include "tests/support/linearizability.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "base/check.h"

namespace rdb::test {
namespace {

enum class Obs : uint8_t { kOk, kNotFound, kPrecondition, kUnknown };

struct LinOp {
  const HistoryEntry* entry = nullptr;
  uint64_t call = 0;
  uint64_t ret = kTimeInfinity;
  Obs obs = Obs::kUnknown;
  int32_t id_class = -1;  // the key's interned idempotency id; -1 = none
  bool cut = false;       // made unknown by a prefix cut (minimization)
};

bool IsWrite(OpKind k) { return k == OpKind::kAppend || k == OpKind::kDelete; }

bool SeqsAgree(uint64_t a, uint64_t b) { return a == 0 || b == 0 || a == b; }

// The operation as the search sees it, or nothing when its outcome says nothing about the key.
std::optional<LinOp> ToLinOp(const HistoryEntry& e) {
  const bool write = IsWrite(e.op.kind);
  LinOp op;
  op.entry = &e;
  op.call = e.invoke_us;
  switch (e.outcome.type) {
    case Outcome::Type::kOk:
      op.obs = Obs::kOk;
      break;
    case Outcome::Type::kNotFound:
      if (e.op.kind == OpKind::kAppend) return std::nullopt;  // not applied, says nothing
      op.obs = Obs::kNotFound;
      break;
    case Outcome::Type::kFailed:
      if (!write || e.outcome.code != Code::kFailedPrecondition) return std::nullopt;
      op.obs = Obs::kPrecondition;
      break;
    case Outcome::Type::kUnknown:
      if (!write) return std::nullopt;
      op.obs = Obs::kUnknown;
      break;
  }
  op.ret = op.obs == Obs::kUnknown ? kTimeInfinity : e.complete_us;
  return op;
}

// The model of one key. A state is a node of a trie of applied writes (root 0 = no events).
class KeyModel {
 public:
  explicit KeyModel(const std::vector<LinOp>& ops) : ops_(ops) { nodes_.push_back({0, 0, 0, 0}); }

  // The state after ops_[i] from `state`, or -1 if its observed outcome is impossible there.
  int64_t Step(uint32_t state, uint32_t i) {
    const LinOp& op = ops_[i];
    switch (op.entry->op.kind) {
      case OpKind::kGet:
        return GetMatches(state, op) ? int64_t{state} : -1;
      case OpKind::kReadStream:
        return StreamMatches(state, op) ? int64_t{state} : -1;
      case OpKind::kAppend:
      case OpKind::kDelete:
        return Write(state, i);
    }
    return -1;
  }

 private:
  struct Node {
    uint32_t parent;
    uint32_t op;  // the write that made this event
    uint32_t version;
    uint64_t seq_max;  // highest known seq of the key's events so far
  };

  bool IsDelete(uint32_t node) const {
    return ops_[nodes_[node].op].entry->op.kind == OpKind::kDelete;
  }
  uint64_t SeqOf(uint32_t node) const {
    const LinOp& w = ops_[nodes_[node].op];
    return w.obs == Obs::kOk ? w.entry->outcome.seq : 0;
  }
  bool EventMatches(uint32_t node, const RecordedEvent& ev) const {
    const bool del = IsDelete(node);
    return ev.version == nodes_[node].version && (ev.kind == RecordedEvent::Kind::kDelete) == del &&
           (del || ev.payload == ops_[nodes_[node].op].entry->op.payload) &&
           SeqsAgree(ev.seq, SeqOf(node));
  }

  bool GetMatches(uint32_t state, const LinOp& op) const {
    if (state == 0 || IsDelete(state)) return op.obs == Obs::kNotFound;
    const Outcome& out = op.entry->outcome;
    return op.obs == Obs::kOk && out.version == nodes_[state].version &&
           out.value == ops_[nodes_[state].op].entry->op.payload &&
           SeqsAgree(out.seq, SeqOf(state));
  }

  bool StreamMatches(uint32_t state, const LinOp& op) const {
    const std::vector<RecordedEvent>& events = op.entry->outcome.events;
    const size_t n = op.obs == Obs::kNotFound ? 0 : events.size();
    if (n != nodes_[state].version) return false;
    for (uint32_t s = state; s != 0; s = nodes_[s].parent) {
      if (!EventMatches(s, events[nodes_[s].version - 1])) return false;
    }
    return true;
  }

  int64_t Write(uint32_t state, uint32_t i) {
    const LinOp& op = ops_[i];
    const Op& in = op.entry->op;
    const Outcome& out = op.entry->outcome;
    if (op.id_class >= 0) {
      for (uint32_t s = state; s != 0; s = nodes_[s].parent) {
        if (ops_[nodes_[s].op].id_class != op.id_class) continue;
        // A retry: the original result, nothing written.
        if (op.obs == Obs::kUnknown) return state;
        const bool same =
            op.obs == Obs::kOk && out.version == nodes_[s].version && SeqsAgree(out.seq, SeqOf(s));
        return same ? int64_t{state} : -1;
      }
    }
    const uint64_t actual = nodes_[state].version;
    const bool mismatch =
        (in.expected.kind == Expected::Kind::kNoStream && actual != 0) ||
        (in.expected.kind == Expected::Kind::kExact && actual != in.expected.version);
    if (mismatch) {
      if (op.obs == Obs::kUnknown) return state;
      const bool same =
          op.obs == Obs::kPrecondition && (!out.actual_version || *out.actual_version == actual);
      return same ? int64_t{state} : -1;
    }
    if (in.kind == OpKind::kDelete && (state == 0 || IsDelete(state))) {
      return op.obs == Obs::kNotFound || op.obs == Obs::kUnknown ? int64_t{state} : -1;
    }
    if (op.obs == Obs::kUnknown) return Child(state, i);
    if (op.obs != Obs::kOk || out.version != actual + 1) return -1;
    if (out.seq != 0 && out.seq <= nodes_[state].seq_max) return -1;
    return Child(state, i);
  }

  uint32_t Child(uint32_t state, uint32_t i) {
    const uint64_t k = (uint64_t{state} << 32) | i;
    auto [it, inserted] = children_.try_emplace(k, static_cast<uint32_t>(nodes_.size()));
    if (inserted) {
      const LinOp& op = ops_[i];
      const uint64_t seq = op.obs == Obs::kOk ? op.entry->outcome.seq : 0;
      nodes_.push_back({state, i, nodes_[state].version + 1, std::max(nodes_[state].seq_max, seq)});
    }
    return it->second;
  }

  const std::vector<LinOp>& ops_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> children_;
};

// Visited (linearized set, state) pairs; the sets live in one arena, the hash set holds slots.
class Memo {
 public:
  explicit Memo(size_t words) : words_(words), set_(1024, Hash{this}, Eq{this}) {}
  Memo(const Memo&) = delete;
  Memo& operator=(const Memo&) = delete;

  // False if the pair was already there.
  bool Insert(const std::vector<uint64_t>& lin, uint32_t state) {
    const size_t slot = arena_.size() / (words_ + 1);
    arena_.push_back(state);
    arena_.insert(arena_.end(), lin.begin(), lin.end());
    if (set_.insert(static_cast<uint32_t>(slot)).second) return true;
    arena_.resize(arena_.size() - words_ - 1);
    return false;
  }

  uint64_t bytes() const {
    return arena_.capacity() * 8 + set_.size() * 32 + set_.bucket_count() * 8;
  }

 private:
  struct Hash {
    const Memo* m;
    size_t operator()(uint32_t slot) const {
      const uint64_t* p = m->arena_.data() + size_t{slot} * (m->words_ + 1);
      uint64_t h = 0x9e3779b97f4a7c15ull;
      for (size_t i = 0; i <= m->words_; ++i) {
        h ^= p[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
        h *= 0xbf58476d1ce4e5b9ull;
      }
      return static_cast<size_t>(h ^ (h >> 31));
    }
  };
  struct Eq {
    const Memo* m;
    bool operator()(uint32_t a, uint32_t b) const {
      const uint64_t* pa = m->arena_.data() + size_t{a} * (m->words_ + 1);
      const uint64_t* pb = m->arena_.data() + size_t{b} * (m->words_ + 1);
      return std::equal(pa, pa + m->words_ + 1, pb);
    }
  };

  const size_t words_;
  std::vector<uint64_t> arena_;
  std::unordered_set<uint32_t, Hash, Eq> set_;
};

enum class Verdict : uint8_t { kLinearizable, kViolation, kTooBig };

struct SearchResult {
  Verdict verdict = Verdict::kLinearizable;
  uint64_t steps = 0;
  std::vector<uint32_t> best;  // the longest linearization found (op indices), for the report
};

SearchResult Search(const std::vector<LinOp>& ops, uint64_t steps_max, uint64_t memo_bytes_max) {
  SearchResult r;
  const size_t n = ops.size();
  struct Item {
    uint32_t op;
    bool call;
    int64_t prev, next;
  };
  // Calls before returns at equal times: operations that touch are taken as concurrent.
  std::vector<std::tuple<uint64_t, int, uint32_t>> events;
  size_t finite_total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    events.emplace_back(ops[i].call, 0, i);
    if (ops[i].ret != kTimeInfinity) {
      events.emplace_back(ops[i].ret, 1, i);
      ++finite_total;
    }
  }
  if (finite_total == 0) return r;
  std::sort(events.begin(), events.end());
  std::vector<Item> items(events.size() + 1);  // items[0]: the head sentinel
  std::vector<int64_t> ret_item(n, -1);
  items[0] = {0, false, -1, events.empty() ? -1 : 1};
  for (size_t k = 0; k < events.size(); ++k) {
    const int64_t at = static_cast<int64_t>(k + 1);
    items[at] = {std::get<2>(events[k]), std::get<1>(events[k]) == 0, at - 1,
                 k + 1 < events.size() ? at + 1 : -1};
    if (!items[at].call) ret_item[items[at].op] = at;
  }
  auto remove = [&](int64_t at) {
    items[items[at].prev].next = items[at].next;
    if (items[at].next != -1) items[items[at].next].prev = items[at].prev;
  };
  auto restore = [&](int64_t at) {
    items[items[at].prev].next = at;
    if (items[at].next != -1) items[items[at].next].prev = at;
  };

  KeyModel model(ops);
  Memo memo((n + 63) / 64);
  std::vector<uint64_t> lin((n + 63) / 64, 0);
  struct Frame {
    int64_t item;
    uint32_t state;
    bool greedy;
  };
  std::vector<Frame> stack;
  uint32_t state = 0;
  size_t finite_done = 0;
  int64_t cur = items[0].next;
  while (true) {
    if (++r.steps > steps_max || memo.bytes() > memo_bytes_max) {
      r.verdict = Verdict::kTooBig;
      return r;
    }
    if (cur != -1 && items[cur].call) {
      const uint32_t i = items[cur].op;
      const int64_t next = model.Step(state, i);
      // An unknown write that would change nothing here is never worth linearizing here: leaving
      // it out is the same linearization, and keeps it free to take effect later.
      const bool useless = next == int64_t{state} && ops[i].obs == Obs::kUnknown;
      if (next >= 0 && !useless) {
        // An operation with a known outcome that leaves the state as it is (a read, a failed or
        // deduplicated write) is best linearized at once: any linearization that places it later
        // still works with it moved here (it was invoked before every pending return, and the
        // state it sees is the same). So every alternative at this point is dominated by it.
        const bool greedy = next == int64_t{state};
        lin[i / 64] |= uint64_t{1} << (i % 64);
        if (memo.Insert(lin, static_cast<uint32_t>(next))) {
          stack.push_back({cur, state, greedy});
          state = static_cast<uint32_t>(next);
          remove(cur);
          if (ret_item[i] != -1) {
            remove(ret_item[i]);
            ++finite_done;
          }
          if (stack.size() > r.best.size()) {
            r.best.clear();
            for (const Frame& f : stack) r.best.push_back(items[f.item].op);
          }
          if (finite_done == finite_total) return r;
          cur = items[0].next;
          continue;
        }
        lin[i / 64] &= ~(uint64_t{1} << (i % 64));
        // Visited before, and it failed then (a success ends the search): so does this point.
        cur = greedy ? -1 : items[cur].next;
        continue;
      }
      cur = items[cur].next;
      continue;
    }
    // A return (or the end): the operation returning here cannot be linearized now. Backtrack.
    if (stack.empty()) {
      r.verdict = Verdict::kViolation;
      return r;
    }
    const Frame f = stack.back();
    stack.pop_back();
    state = f.state;
    const uint32_t i = items[f.item].op;
    lin[i / 64] &= ~(uint64_t{1} << (i % 64));
    if (ret_item[i] != -1) {
      restore(ret_item[i]);
      --finite_done;
    }
    restore(f.item);
    cur = f.greedy ? -1 : items[f.item].next;  // a greedy choice failed: so does its point
  }
}

bool ReadLike(const LinOp& op) {
  return !IsWrite(op.entry->op.kind) || op.obs == Obs::kPrecondition || op.obs == Obs::kNotFound;
}

// The history up to `cut`: operations invoked by then; writes still pending become unknown and
// reads (and failed writes) still pending are dropped. A prefix of a linearizable history is
// linearizable, so a failing prefix shows the violation.
std::vector<LinOp> PrefixAt(const std::vector<LinOp>& ops, uint64_t cut) {
  std::vector<LinOp> out;
  for (const LinOp& op : ops) {
    if (op.call > cut) continue;
    if (op.ret <= cut) {
      out.push_back(op);
    } else if (!ReadLike(op)) {
      LinOp u = op;
      u.cut = u.obs != Obs::kUnknown;
      u.obs = Obs::kUnknown;
      u.ret = kTimeInfinity;
      out.push_back(u);
    }
  }
  return out;
}

// Shrinks a violating history: the shortest failing prefix, then without each unneeded read.
std::vector<LinOp> Minimize(std::vector<LinOp> ops, const LinearizabilityOptions& options) {
  uint64_t budget = options.minimize_steps_max;
  auto fails = [&](const std::vector<LinOp>& h) {
    if (budget == 0) return false;
    const SearchResult r =
        Search(h, std::min(budget, options.search_steps_max), options.memo_bytes_max);
    budget -= std::min(budget, r.steps);
    return r.verdict == Verdict::kViolation;
  };
  std::vector<uint64_t> cuts;
  for (const LinOp& op : ops) {
    if (op.ret != kTimeInfinity) cuts.push_back(op.ret);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  // Invariant: the prefix at cuts[hi] fails (the last cut drops nothing that matters).
  int64_t lo = -1;
  int64_t hi = static_cast<int64_t>(cuts.size()) - 1;
  if (hi < 0 || !fails(PrefixAt(ops, cuts[hi]))) return ops;
  while (hi - lo > 1 && budget > 0) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fails(PrefixAt(ops, cuts[mid])) ? hi : lo) = mid;
  }
  ops = PrefixAt(ops, cuts[hi]);
  for (size_t k = ops.size(); k-- > 0 && budget > 0;) {
    if (!ReadLike(ops[k])) continue;
    std::vector<LinOp> without = ops;
    without.erase(without.begin() + static_cast<int64_t>(k));
    if (fails(without)) ops = std::move(without);
  }
  return ops;
}

std::string Quoted(const std::string& key) {
  // FormatOp quotes and escapes; reuse it through a Get of the key.
  const std::string s = FormatOp(Op::Get(key));
  return s.substr(4, s.size() - 5);
}

std::string ViolationReport(const std::string& key, size_t key_ops, std::vector<LinOp> ops,
                            const LinearizabilityOptions& options) {
  std::sort(ops.begin(), ops.end(), [](const LinOp& a, const LinOp& b) {
    return std::tie(a.call, a.entry) < std::tie(b.call, b.entry);
  });
  const SearchResult r = Search(ops, options.search_steps_max, options.memo_bytes_max);
  uint64_t base = kTimeInfinity;
  for (const LinOp& op : ops) base = std::min(base, op.call);
  std::string out = "key " + Quoted(key) + " is not linearizable: a failing sub-history of " +
                    std::to_string(ops.size()) + " of its " + std::to_string(key_ops) +
                    " informative operations, by invocation:\n";
  for (const LinOp& op : ops) {
    HistoryEntry e = *op.entry;
    if (op.cut) {
      e.outcome = Outcome::Unknown("pending at the cut");
      e.complete_us = kTimeInfinity;
    }
    out += "  " + FormatEntry(e, base) + "\n";
  }
  out += "longest linearization found (" + std::to_string(r.best.size()) + " ops):";
  for (uint32_t i : r.best) out += " #" + std::to_string(ops[i].entry->id);
  if (r.best.empty()) out += " none";
  return out + "\n";
}

}  // namespace

CheckResult CheckLinearizable(const std::vector<HistoryEntry>& entries,
                              const LinearizabilityOptions& options) {
  std::map<std::string, std::vector<LinOp>> by_key;
  for (const HistoryEntry& e : entries) {
    if (std::optional<LinOp> op = ToLinOp(e)) by_key[e.op.key].push_back(*op);
  }
  CheckResult result;
  std::vector<std::string> too_big;
  size_t checked_ops = 0;
  for (auto& [key, ops] : by_key) {
    std::map<std::string, int32_t> ids;
    for (LinOp& op : ops) {
      const std::string& id = op.entry->op.idempotency_id;
      if (IsWrite(op.entry->op.kind) && !id.empty()) {
        op.id_class = ids.try_emplace(id, static_cast<int32_t>(ids.size())).first->second;
      }
    }
    checked_ops += ops.size();
    const SearchResult r = Search(ops, options.search_steps_max, options.memo_bytes_max);
    if (r.verdict == Verdict::kViolation) {
      result.verdict = CheckResult::Verdict::kViolation;
      result.key = key;
      const std::vector<LinOp> shown = options.minimize ? Minimize(ops, options) : ops;
      result.message = ViolationReport(key, ops.size(), shown, options);
      return result;
    }
    if (r.verdict == Verdict::kTooBig) too_big.push_back(key);
  }
  if (!too_big.empty()) {
    result.verdict = CheckResult::Verdict::kUnknown;
    result.key = too_big.front();
    result.message = std::to_string(too_big.size()) + " key(s) too big to check within " +
                     std::to_string(options.search_steps_max) + " search steps, the first " +
                     Quoted(too_big.front());
    return result;
  }
  result.message = std::to_string(by_key.size()) + " keys, " + std::to_string(checked_ops) +
                   " operations: linearizable";
  return result;
}

namespace {

bool EventsAgree(const RecordedEvent& a, const RecordedEvent& b) {
  return a.version == b.version && a.kind == b.kind &&
         (a.kind == RecordedEvent::Kind::kDelete || a.payload == b.payload) &&
         SeqsAgree(a.seq, b.seq) && (a.key.empty() || b.key.empty() || a.key == b.key);
}

CheckResult Violation(const std::string& key, std::string message) {
  CheckResult r;
  r.verdict = CheckResult::Verdict::kViolation;
  r.key = key;
  r.message = std::move(message);
  return r;
}

bool DefinitelyNotApplied(const Outcome& o) {
  return o.type == Outcome::Type::kFailed || o.type == Outcome::Type::kNotFound;
}

// The final log per key, checked for contiguous versions and unique, increasing seqs.
CheckResult IndexLog(const std::vector<RecordedEvent>& log,
                     std::map<std::string, std::vector<const RecordedEvent*>>* by_key) {
  std::map<uint64_t, const RecordedEvent*> seqs;
  for (const RecordedEvent& e : log) {
    if (e.seq != 0 && !seqs.emplace(e.seq, &e).second) {
      return Violation(e.key, "seq " + std::to_string(e.seq) + " appears twice in the log: " +
                                  FormatEvent(*seqs[e.seq]) + " and " + FormatEvent(e));
    }
    (*by_key)[e.key].push_back(&e);
  }
  for (auto& [key, events] : *by_key) {
    std::sort(events.begin(), events.end(), [](const RecordedEvent* a, const RecordedEvent* b) {
      return a->version < b->version;
    });
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i]->version != i + 1) {
        return Violation(key, "key " + Quoted(key) + ": versions are not 1.." +
                                  std::to_string(events.size()) + ": found " +
                                  FormatEvent(*events[i]) + " at position " +
                                  std::to_string(i + 1));
      }
      if (i > 0 && events[i]->seq != 0 && events[i - 1]->seq >= events[i]->seq) {
        return Violation(key, "key " + Quoted(key) + ": seq does not increase with the version: " +
                                  FormatEvent(*events[i - 1]) + " then " + FormatEvent(*events[i]));
      }
    }
  }
  return {};
}

// A write acknowledged before another was invoked must have the smaller seq.
CheckResult CheckSeqRealTimeOrder(const std::vector<HistoryEntry>& entries) {
  std::vector<const HistoryEntry*> acked;
  std::set<std::pair<std::string, std::string>> ids_seen;
  std::vector<const HistoryEntry*> by_invoke;
  for (const HistoryEntry& e : entries) by_invoke.push_back(&e);
  std::sort(by_invoke.begin(), by_invoke.end(), [](const HistoryEntry* a, const HistoryEntry* b) {
    return a->invoke_us < b->invoke_us;
  });
  for (const HistoryEntry* e : by_invoke) {
    if (!IsWrite(e->op.kind)) continue;
    // A retry of an earlier operation returns the original (older) seq.
    const bool retry =
        !e->op.idempotency_id.empty() && !ids_seen.emplace(e->op.key, e->op.idempotency_id).second;
    if (!retry && e->outcome.type == Outcome::Type::kOk && e->outcome.seq != 0) acked.push_back(e);
  }
  std::vector<const HistoryEntry*> by_complete = acked;
  std::sort(
      by_complete.begin(), by_complete.end(),
      [](const HistoryEntry* a, const HistoryEntry* b) { return a->complete_us < b->complete_us; });
  const HistoryEntry* max_before = nullptr;
  size_t next = 0;
  for (const HistoryEntry* b : acked) {
    while (next < by_complete.size() && by_complete[next]->complete_us < b->invoke_us) {
      const HistoryEntry* a = by_complete[next++];
      if (max_before == nullptr || a->outcome.seq > max_before->outcome.seq) max_before = a;
    }
    if (max_before != nullptr && max_before->outcome.seq >= b->outcome.seq) {
      return Violation(b->op.key, "seqs are not in real-time order: " + FormatEntry(*max_before) +
                                      " completed before " + FormatEntry(*b) + " was invoked");
    }
  }
  return {};
}

}  // namespace

CheckResult CheckNoLostAcks(const std::vector<HistoryEntry>& entries,
                            const std::vector<RecordedEvent>& final_log) {
  std::map<std::string, std::vector<const RecordedEvent*>> by_key;
  if (CheckResult r = IndexLog(final_log, &by_key); !r.ok()) return r;

  using Content = std::tuple<std::string, RecordedEvent::Kind, std::string>;
  std::map<Content, std::set<std::string>> writers;  // distinct operations that may have written it
  size_t acked = 0;
  for (const HistoryEntry& e : entries) {
    if (!IsWrite(e.op.kind) || DefinitelyNotApplied(e.outcome)) continue;
    const bool del = e.op.kind == OpKind::kDelete;
    const RecordedEvent::Kind kind = del ? RecordedEvent::Kind::kDelete : RecordedEvent::Kind::kPut;
    const std::string payload = del ? "" : e.op.payload;
    writers[{e.op.key, kind, payload}].insert(
        e.op.idempotency_id.empty() ? "#" + std::to_string(e.id) : "id:" + e.op.idempotency_id);
    if (e.outcome.type != Outcome::Type::kOk) continue;
    ++acked;
    static const std::vector<const RecordedEvent*> kNoEvents;
    auto found = by_key.find(e.op.key);
    const std::vector<const RecordedEvent*>& events =
        found == by_key.end() ? kNoEvents : found->second;
    const uint64_t v = e.outcome.version;
    if (v == 0 || v > events.size()) {
      return Violation(e.op.key, "acknowledged write lost: " + FormatEntry(e) + "; the log has " +
                                     std::to_string(events.size()) + " events of the key");
    }
    const RecordedEvent want{e.op.key, e.outcome.seq, v, kind, payload};
    if (!EventsAgree(*events[v - 1], want)) {
      return Violation(e.op.key, "acknowledged write lost: " + FormatEntry(e) + "; the log has " +
                                     FormatEvent(*events[v - 1]) + " at that version");
    }
  }
  std::map<Content, size_t> seen;
  for (const RecordedEvent& ev : final_log) {
    const Content c{ev.key, ev.kind, ev.kind == RecordedEvent::Kind::kPut ? ev.payload : ""};
    const size_t times = ++seen[c];
    auto it = writers.find(c);
    const size_t possible = it == writers.end() ? 0 : it->second.size();
    if (times > possible) {
      return Violation(
          ev.key,
          "key " + Quoted(ev.key) + ": " + FormatEvent(ev) +
              (possible == 0 ? " was never written (no write of it that did "
                               "not fail)"
                             : " is in the log " + std::to_string(times) + " times but at most " +
                                   std::to_string(possible) + " operations wrote it"));
    }
  }
  if (CheckResult r = CheckSeqRealTimeOrder(entries); !r.ok()) return r;
  CheckResult ok;
  ok.message = std::to_string(acked) + " acknowledged writes, " + std::to_string(final_log.size()) +
               " events in " + std::to_string(by_key.size()) + " keys: none lost, none invented";
  return ok;
}

CheckResult CheckListAppend(const std::vector<HistoryEntry>& entries) {
  std::map<std::string, std::vector<const HistoryEntry*>> reads;
  for (const HistoryEntry& e : entries) {
    if (e.op.kind != OpKind::kReadStream) continue;
    if (e.outcome.type == Outcome::Type::kOk || e.outcome.type == Outcome::Type::kNotFound) {
      reads[e.op.key].push_back(&e);
    }
  }
  auto events_of = [](const HistoryEntry* e) -> const std::vector<RecordedEvent>& {
    static const std::vector<RecordedEvent> kNone;
    return e->outcome.type == Outcome::Type::kOk ? e->outcome.events : kNone;
  };
  size_t count = 0;
  for (auto& [key, list] : reads) {
    count += list.size();
    const HistoryEntry* longest = list.front();
    for (const HistoryEntry* e : list) {
      const std::vector<RecordedEvent>& ev = events_of(e);
      for (size_t i = 0; i < ev.size(); ++i) {
        if (ev[i].version != i + 1) {
          return Violation(
              key, "a read of the stream is not contiguous (versions 1..n): " + FormatEntry(*e));
        }
      }
      if (ev.size() > events_of(longest).size()) longest = e;
    }
    // All reads are prefixes of one another iff each is a prefix of the longest.
    const std::vector<RecordedEvent>& full = events_of(longest);
    for (const HistoryEntry* e : list) {
      const std::vector<RecordedEvent>& ev = events_of(e);
      for (size_t i = 0; i < ev.size(); ++i) {
        if (!EventsAgree(ev[i], full[i])) {
          return Violation(key, "two reads of the stream disagree at version " +
                                    std::to_string(i + 1) + ":\n  " + FormatEntry(*e) + "\n  " +
                                    FormatEntry(*longest));
        }
      }
    }
    // Then order is length: a read invoked after another completed is never shorter.
    std::vector<const HistoryEntry*> by_complete = list;
    std::sort(by_complete.begin(), by_complete.end(),
              [](const HistoryEntry* a, const HistoryEntry* b) {
                return a->complete_us < b->complete_us;
              });
    std::sort(list.begin(), list.end(), [](const HistoryEntry* a, const HistoryEntry* b) {
      return a->invoke_us < b->invoke_us;
    });
    const HistoryEntry* max_before = nullptr;
    size_t next = 0;
    for (const HistoryEntry* b : list) {
      while (next < by_complete.size() && by_complete[next]->complete_us < b->invoke_us) {
        const HistoryEntry* a = by_complete[next++];
        if (max_before == nullptr || events_of(a).size() > events_of(max_before).size()) {
          max_before = a;
        }
      }
      if (max_before != nullptr && events_of(max_before).size() > events_of(b).size()) {
        return Violation(key, "a read of the stream is not a prefix of a later one:\n  " +
                                  FormatEntry(*max_before) + "\n  completed before\n  " +
                                  FormatEntry(*b));
      }
    }
  }
  CheckResult ok;
  ok.message = std::to_string(count) + " stream reads of " + std::to_string(reads.size()) +
               " keys: each a prefix of every later one";
  return ok;
}

CheckResult CheckStream(std::string_view subscriber, const std::vector<RecordedEvent>& received,
                        const std::vector<RecordedEvent>& committed_log, uint64_t after_seq,
                        bool caught_up) {
  const std::string who =
      "subscriber " + std::string(subscriber) + " (after seq " + std::to_string(after_seq) + "): ";
  std::vector<const RecordedEvent*> expected;
  for (size_t i = 0; i < committed_log.size(); ++i) {
    if (i > 0 && committed_log[i].seq <= committed_log[i - 1].seq) {
      return Violation(committed_log[i].key, who +
                                                 "the committed log is not in strictly "
                                                 "increasing seq order at " +
                                                 FormatEvent(committed_log[i]));
    }
    if (committed_log[i].seq > after_seq) expected.push_back(&committed_log[i]);
  }
  for (size_t i = 0; i < received.size(); ++i) {
    const RecordedEvent& got = received[i];
    const std::string at = "at position " + std::to_string(i) + ", ";
    if (i > 0 && got.seq <= received[i - 1].seq) {
      return Violation(got.key,
                       who + at + (got.seq == received[i - 1].seq ? "duplicate" : "out-of-order") +
                           " seq " + std::to_string(got.seq) + " after " +
                           std::to_string(received[i - 1].seq));
    }
    if (i >= expected.size()) {
      return Violation(got.key, who + at + "seq " + std::to_string(got.seq) +
                                    " is beyond the committed log (never committed)");
    }
    const RecordedEvent& want = *expected[i];
    if (got.seq > want.seq) {
      return Violation(got.key, who + at + "gap: seq " + std::to_string(want.seq) +
                                    " was skipped (received " + std::to_string(got.seq) + ")");
    }
    if (got.seq < want.seq) {
      return Violation(got.key, who + at + "seq " + std::to_string(got.seq) +
                                    " is not in the committed log (expected " +
                                    std::to_string(want.seq) + ")");
    }
    const bool same = (got.key.empty() || got.key == want.key) &&
                      (got.version == 0 || got.version == want.version) && got.kind == want.kind &&
                      (got.kind == RecordedEvent::Kind::kDelete || got.payload == want.payload);
    if (!same) {
      return Violation(got.key, who + at + "received " + Quoted(got.key) + " " + FormatEvent(got) +
                                    " but the log has " + Quoted(want.key) + " " +
                                    FormatEvent(want));
    }
  }
  if (caught_up && received.size() < expected.size()) {
    return Violation(expected[received.size()]->key,
                     who + "missing the tail of the log from seq " +
                         std::to_string(expected[received.size()]->seq) + " (" +
                         std::to_string(expected.size() - received.size()) + " events)");
  }
  CheckResult ok;
  ok.message = who + std::to_string(received.size()) + " events, in order, no gap or duplicate";
  return ok;
}

}  // namespace rdb::test
