#include "tests/support/history.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace rdb::test {

RecordedEvent RecordedEvent::Put(std::string key, uint64_t seq, uint64_t version,
                                 std::string payload) {
  return {std::move(key), seq, version, Kind::kPut, std::move(payload)};
}

RecordedEvent RecordedEvent::Delete(std::string key, uint64_t seq, uint64_t version) {
  return {std::move(key), seq, version, Kind::kDelete, ""};
}

Op Op::Append(std::string key, std::string payload, Expected expected, std::string idempotency_id) {
  return {OpKind::kAppend, std::move(key), std::move(payload), expected, std::move(idempotency_id)};
}

Op Op::Delete(std::string key, Expected expected, std::string idempotency_id) {
  return {OpKind::kDelete, std::move(key), "", expected, std::move(idempotency_id)};
}

Op Op::Get(std::string key) { return {OpKind::kGet, std::move(key), "", {}, ""}; }

Op Op::ReadStream(std::string key) { return {OpKind::kReadStream, std::move(key), "", {}, ""}; }

Outcome Outcome::Written(uint64_t seq, uint64_t version) {
  Outcome o;
  o.type = Type::kOk;
  o.seq = seq;
  o.version = version;
  return o;
}

Outcome Outcome::Value(std::string value, uint64_t version, uint64_t seq) {
  Outcome o = Written(seq, version);
  o.value = std::move(value);
  return o;
}

Outcome Outcome::Stream(std::vector<RecordedEvent> events) {
  Outcome o;
  o.type = Type::kOk;
  o.events = std::move(events);
  return o;
}

Outcome Outcome::NotFound() {
  Outcome o;
  o.type = Type::kNotFound;
  o.code = Code::kNotFound;
  return o;
}

Outcome Outcome::Failed(Code code, std::optional<uint64_t> actual_version, std::string message) {
  Outcome o;
  o.type = Type::kFailed;
  o.code = code;
  o.actual_version = actual_version;
  o.message = std::move(message);
  return o;
}

Outcome Outcome::Unknown(std::string message) {
  Outcome o;
  o.type = Type::kUnknown;
  o.code = Code::kUnavailable;
  o.message = std::move(message);
  return o;
}

History::History(Clock* clock) : clock_(clock) { RDB_CHECK(clock_ != nullptr); }

uint64_t History::NextTimeLocked() {
  // Strictly increasing under the lock: a Complete recorded before an Invoke gets the earlier time,
  // even when the clock did not move (a ManualClock, or a coarse steady clock).
  last_us_ = std::max(clock_->NowMicros(), last_us_ + 1);
  return last_us_;
}

uint64_t History::Invoke(int client, Op op) {
  std::lock_guard<std::mutex> l(mu_);
  RDB_CHECK(entries_.size() < kHistoryOpsMax);
  HistoryEntry e;
  e.id = entries_.size();
  e.client = client;
  e.op = std::move(op);
  e.invoke_us = NextTimeLocked();
  entries_.push_back(std::move(e));
  completed_.push_back(false);
  return entries_.back().id;
}

void History::Complete(uint64_t id, Outcome outcome) {
  std::lock_guard<std::mutex> l(mu_);
  RDB_CHECK(id < entries_.size());
  RDB_CHECK(!completed_[id]);
  completed_[id] = true;
  HistoryEntry& e = entries_[id];
  const uint64_t now = NextTimeLocked();
  e.complete_us = outcome.type == Outcome::Type::kUnknown ? kTimeInfinity : now;
  e.outcome = std::move(outcome);
}

std::vector<HistoryEntry> History::Entries() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_;
}

size_t History::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

std::string History::ToString() const { return FormatEntries(Entries()); }

namespace {

std::string Quote(std::string_view s) {
  constexpr size_t kShownBytesMax = 48;
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kShownBytesMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > kShownBytesMax) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out + "\"";
}

std::string FormatExpected(const Expected& e) {
  switch (e.kind) {
    case Expected::Kind::kAny:
      return "any";
    case Expected::Kind::kNoStream:
      return "none";
    case Expected::Kind::kExact:
      return std::to_string(e.version);
  }
  return "?";
}

std::string FormatTime(uint64_t t, uint64_t base_us) {
  if (t == kTimeInfinity) return "inf";
  return std::to_string(t >= base_us ? t - base_us : 0);
}

}  // namespace

std::string FormatEvent(const RecordedEvent& e) {
  std::string out = "v" + std::to_string(e.version);
  if (e.seq != 0) out += "@" + std::to_string(e.seq);
  out += e.kind == RecordedEvent::Kind::kPut ? " " + Quote(e.payload) : " DELETE";
  return out;
}

std::string FormatOp(const Op& op) {
  std::string out;
  switch (op.kind) {
    case OpKind::kAppend:
      out = "Append(" + Quote(op.key) + ", " + Quote(op.payload) +
            ", expected=" + FormatExpected(op.expected);
      break;
    case OpKind::kDelete:
      out = "Delete(" + Quote(op.key) + ", expected=" + FormatExpected(op.expected);
      break;
    case OpKind::kGet:
      return "Get(" + Quote(op.key) + ")";
    case OpKind::kReadStream:
      return "ReadStream(" + Quote(op.key) + ")";
  }
  if (!op.idempotency_id.empty()) out += ", id=" + Quote(op.idempotency_id);
  return out + ")";
}

std::string FormatOutcome(OpKind kind, const Outcome& o) {
  switch (o.type) {
    case Outcome::Type::kOk: {
      if (kind == OpKind::kReadStream) {
        std::string out = "ok [";
        for (size_t i = 0; i < o.events.size(); ++i) {
          out += (i ? ", " : "") + FormatEvent(o.events[i]);
        }
        return out + "]";
      }
      std::string out = "ok";
      if (kind == OpKind::kGet) out += " value=" + Quote(o.value);
      if (o.seq != 0) out += " seq=" + std::to_string(o.seq);
      return out + " v=" + std::to_string(o.version);
    }
    case Outcome::Type::kNotFound:
      return "not found";
    case Outcome::Type::kFailed: {
      std::string out = "failed " + std::string(CodeName(o.code));
      if (o.actual_version) out += " actual=" + std::to_string(*o.actual_version);
      if (!o.message.empty()) out += " (" + o.message + ")";
      return out;
    }
    case Outcome::Type::kUnknown:
      return o.message.empty() ? "unknown" : "unknown (" + o.message + ")";
  }
  return "?";
}

std::string FormatEntry(const HistoryEntry& e, uint64_t base_us) {
  return "#" + std::to_string(e.id) + " c" + std::to_string(e.client) + " [" +
         FormatTime(e.invoke_us, base_us) + ".." + FormatTime(e.complete_us, base_us) + "] " +
         FormatOp(e.op) + " -> " + FormatOutcome(e.op.kind, e.outcome);
}

std::string FormatEntries(const std::vector<HistoryEntry>& entries) {
  uint64_t base = kTimeInfinity;
  for (const HistoryEntry& e : entries) base = std::min(base, e.invoke_us);
  std::string out;
  for (const HistoryEntry& e : entries) out += FormatEntry(e, base) + "\n";
  return out;
}

}  // namespace rdb::test
