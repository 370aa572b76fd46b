#include "tests/fault/checks.h"

#include <algorithm>

#include "cluster/routing.h"

namespace rdb::fault {

namespace {

using test::CheckResult;

// Most operations of one key printed with a violation.
constexpr size_t kReportOpsMax = 400;

std::string KeyHistory(const std::vector<test::HistoryEntry>& entries, const std::string& key) {
  if (key.empty()) return "";
  std::vector<test::HistoryEntry> of_key;
  for (const auto& e : entries)
    if (e.op.key == key) of_key.push_back(e);
  std::string out;
  if (of_key.size() > kReportOpsMax) {
    out = "(first " + std::to_string(kReportOpsMax) + " of " + std::to_string(of_key.size()) +
          " operations)\n";
    of_key.resize(kReportOpsMax);
  }
  return out + test::FormatEntries(of_key);
}

std::string Show(const std::vector<test::RecordedEvent>& log, size_t from, size_t n) {
  std::string out;
  for (size_t i = from; i < log.size() && i < from + n; i++) {
    out += "      " + test::FormatEvent(log[i]) + "\n";
  }
  return out;
}

bool SameEvent(const test::RecordedEvent& a, const test::RecordedEvent& b) {
  return a.seq == b.seq && a.key == b.key && a.version == b.version && a.kind == b.kind &&
         a.payload == b.payload;
}

}  // namespace

CheckResult CheckWatermarks(std::string_view subscriber,
                            const std::vector<test::RecordedEvent>& received,
                            const std::vector<CheckpointMark>& checkpoints) {
  CheckResult r;
  const std::string who(subscriber);
  for (size_t i = 1; i < checkpoints.size(); i++) {
    const CheckpointMark& a = checkpoints[i - 1];
    const CheckpointMark& b = checkpoints[i];
    if (a.connection == b.connection && b.seq < a.seq) {
      r.verdict = CheckResult::Verdict::kViolation;
      r.message = who + ": checkpoint went backwards on stream " + std::to_string(b.connection) +
                  ": " + std::to_string(a.seq) + " then " + std::to_string(b.seq);
      return r;
    }
  }
  uint64_t watermark = 0;
  size_t next = 0;
  for (size_t i = 0; i < received.size(); i++) {
    while (next < checkpoints.size() && checkpoints[next].events_before <= i) {
      watermark = std::max(watermark, checkpoints[next].seq);
      next++;
    }
    if (received[i].seq <= watermark) {
      r.verdict = CheckResult::Verdict::kViolation;
      r.key = received[i].key;
      r.message = who + ": change " + test::FormatEvent(received[i]) +
                  " arrived after checkpoint " + std::to_string(watermark) +
                  " (every event at or below a checkpoint must precede it)";
      return r;
    }
  }
  r.message = who + ": " + std::to_string(checkpoints.size()) + " checkpoints consistent";
  return r;
}

CheckResult CheckWatermarkAhead(std::string_view subscriber, const SubscriberLog& log,
                                const std::vector<test::HistoryEntry>& entries, uint32_t groups) {
  CheckResult r;
  // (receipt time, highest checkpoint so far): receipts are recorded in time order.
  std::vector<std::pair<uint64_t, uint64_t>> marks;
  for (const CheckpointMark& c : log.checkpoints) {
    marks.emplace_back(c.received_us, std::max(c.seq, marks.empty() ? 0 : marks.back().second));
  }
  if (marks.empty()) return r;
  for (const test::HistoryEntry& e : entries) {
    const bool write = e.op.kind == test::OpKind::kAppend || e.op.kind == test::OpKind::kDelete;
    if (!write || e.outcome.type != test::Outcome::Type::kOk || e.outcome.seq == 0) continue;
    if (e.invoke_us <= kWatermarkSlackUs) continue;
    if (log.scope >= 0 && cluster::GroupOfKey(e.op.key, groups) != static_cast<uint32_t>(log.scope))
      continue;
    if (e.op.key.rfind(log.prefix, 0) != 0) continue;
    // The last checkpoint received before the write was invoked (minus the slack).
    auto it = std::upper_bound(
        marks.begin(), marks.end(), e.invoke_us - kWatermarkSlackUs,
        [](uint64_t t, const std::pair<uint64_t, uint64_t>& m) { return t < m.first; });
    if (it == marks.begin()) continue;
    const auto& [at_us, watermark] = *std::prev(it);
    if (e.outcome.seq > watermark) continue;
    if (!e.op.idempotency_id.empty()) {
      // A retry by id returns the original event, which may predate the checkpoint.
      bool earlier = false;
      for (const test::HistoryEntry& o : entries) {
        earlier = earlier || (o.id < e.id && o.op.key == e.op.key &&
                              o.op.idempotency_id == e.op.idempotency_id);
        if (earlier) break;
      }
      if (earlier) continue;
    }
    r.verdict = CheckResult::Verdict::kViolation;
    r.key = e.op.key;
    r.message = std::string(subscriber) + ": checkpoint " + std::to_string(watermark) +
                " received at " + std::to_string(at_us) + " us, then " + test::FormatEntry(e) +
                " was invoked and committed at seq " + std::to_string(e.outcome.seq) +
                " (at or below the watermark)";
    return r;
  }
  return r;
}

CheckResult CheckGroupWatermarks(const std::map<uint32_t, std::vector<uint64_t>>& samples) {
  // Placeholder for the merged feed's per-group watermarks (issue 7, the lead's part): once a
  // node reports each group's committed watermark, rdb-fault samples it during the run and this
  // checks that each group's samples never decrease and never exceed the group's last committed
  // seq at the time. No sample source exists yet.
  CheckResult r;
  for (const auto& [group, seqs] : samples) {
    for (size_t i = 1; i < seqs.size(); i++) {
      if (seqs[i] < seqs[i - 1]) {
        r.verdict = CheckResult::Verdict::kViolation;
        r.message = "group " + std::to_string(group) +
                    " watermark went backwards: " + std::to_string(seqs[i - 1]) + " then " +
                    std::to_string(seqs[i]);
        return r;
      }
    }
  }
  return r;
}

std::vector<test::RecordedEvent> InScope(const std::vector<test::RecordedEvent>& log, int scope,
                                         uint32_t groups, const std::string& prefix) {
  std::vector<test::RecordedEvent> out;
  for (const auto& e : log) {
    if (scope >= 0 && cluster::GroupOfKey(e.key, groups) != static_cast<uint32_t>(scope)) continue;
    if (e.key.rfind(prefix, 0) != 0) continue;
    out.push_back(e);
  }
  return out;
}

CheckResult CheckBefore(std::string_view subscriber,
                        const std::vector<test::RecordedEvent>& received,
                        const std::vector<std::optional<std::string>>& befores,
                        const std::vector<test::RecordedEvent>& committed_log) {
  CheckResult r;
  const std::string who(subscriber);
  // seq -> the key's value just before that event.
  std::map<uint64_t, std::optional<std::string>> expected;
  std::map<std::string, const test::RecordedEvent*> last;
  for (const test::RecordedEvent& e : committed_log) {
    const test::RecordedEvent*& prev = last[e.key];
    expected[e.seq] = prev != nullptr && prev->kind == test::RecordedEvent::Kind::kPut
                          ? std::optional<std::string>(prev->payload)
                          : std::nullopt;
    prev = &e;
  }
  for (size_t i = 0; i < received.size() && i < befores.size(); i++) {
    auto it = expected.find(received[i].seq);
    if (it == expected.end()) continue;  // not committed: CheckStream reports it
    if (it->second != befores[i]) {
      r.verdict = CheckResult::Verdict::kViolation;
      r.key = received[i].key;
      r.message = who + ": change " + test::FormatEvent(received[i]) +
                  " carried before=" + (befores[i] ? "\"" + *befores[i] + "\"" : "(none)") +
                  ", the log says " + (it->second ? "\"" + *it->second + "\"" : "(none)");
      return r;
    }
  }
  r.message = who + ": before values match";
  return r;
}

CheckReport RunChecks(const CheckInput& in) {
  CheckReport rep;
  auto record = [&](const std::string& check, const CheckResult& r) {
    std::string& v = rep.verdicts[check];
    if (r.violation()) {
      v = "violation";
      rep.violations.push_back({check, r.key, r.message, KeyHistory(in.entries, r.key)});
    } else if (r.verdict == CheckResult::Verdict::kUnknown) {
      if (v != "violation") v = "unknown";
      rep.notes.push_back(check + ": " + r.message);
    } else if (v.empty()) {
      v = "ok";
    }
  };

  record("linearizable", test::CheckLinearizable(in.entries));
  record("no-lost-acks", test::CheckNoLostAcks(in.entries, in.committed));
  record("list-append", test::CheckListAppend(in.entries));

  for (const SubscriberLog& s : in.subscribers) {
    const std::string who = "subscriber " + std::to_string(s.id) +
                            (s.scope < 0 ? " (all groups" : " (group " + std::to_string(s.scope)) +
                            (s.prefix.empty() ? "" : ", prefix " + s.prefix) +
                            (s.include_before ? ", include_before)" : ")");
    record("stream",
           test::CheckStream(who, s.received, InScope(in.committed, s.scope, in.groups, s.prefix),
                             0, in.subscribers_caught_up));
    if (s.include_before) record("before", CheckBefore(who, s.received, s.befores, in.committed));
    record("watermarks", CheckWatermarks(who, s.received, s.checkpoints));
    record("watermarks", CheckWatermarkAhead(who, s, in.entries, in.groups));
  }
  record("watermarks", CheckGroupWatermarks({}));

  // Replicas: every member holds its leader 1's log, exactly.
  for (const auto& [group, logs] : in.member_logs) {
    auto lit = in.leaders.find(group);
    if (lit == in.leaders.end() || logs.count(lit->second) == 0) {
      record("replicas", {CheckResult::Verdict::kViolation, "",
                          "group " + std::to_string(group) + " has no leader 1 log to compare"});
      continue;
    }
    const auto& leader = logs.at(lit->second);
    for (const auto& [name, log] : logs) {
      size_t i = 0;
      while (i < log.size() && i < leader.size() && SameEvent(log[i], leader[i])) i++;
      if (i == log.size() && i == leader.size()) continue;
      record(
          "replicas",
          {CheckResult::Verdict::kViolation, i < leader.size() ? leader[i].key : log[i].key,
           "group " + std::to_string(group) + ": " + name + " (" + std::to_string(log.size()) +
               " events) differs from leader 1 " + lit->second + " (" +
               std::to_string(leader.size()) + ") at index " + std::to_string(i) +
               "\n    leader:\n" + Show(leader, i, 5) + "    " + name + ":\n" + Show(log, i, 5)});
    }
    if (rep.verdicts["replicas"].empty()) rep.verdicts["replicas"] = "ok";
  }
  return rep;
}

}  // namespace rdb::fault
