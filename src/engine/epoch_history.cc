#include "engine/epoch_history.h"

#include <algorithm>

#include "base/coding.h"
#include "base/crc32c.h"

namespace rdb {
namespace {

constexpr char kMagic[8] = {'R', 'D', 'B', 'E', 'P', 'O', 'C', 'H'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 8 + 4 + 4;  // magic, version, count
constexpr size_t kEntryBytes = 3 * 8;

}  // namespace

std::string EpochHistory::Encode(const std::vector<EpochStart>& entries) {
  std::string s(kMagic, 8);
  PutFixed32(&s, kFormatVersion);
  PutFixed32(&s, static_cast<uint32_t>(entries.size()));
  for (const EpochStart& e : entries) {
    PutFixed64(&s, e.epoch);
    PutFixed64(&s, e.first_seq);
    PutFixed64(&s, e.prev_last_seq);
  }
  PutFixed32(&s, crc32c::Mask(crc32c::Value(s)));
  return s;
}

Status EpochHistory::Decode(std::string_view data, const std::string& what,
                            std::vector<EpochStart>* out) {
  if (data.size() < kHeaderBytes + 4 || data.compare(0, 8, std::string_view(kMagic, 8)) != 0) {
    return Status::Corruption(what + ": not an epoch history file (bad size or magic)");
  }
  const uint32_t version = DecodeFixed32(data.data() + 8);
  if (version != kFormatVersion) {
    return Status::NotSupported(what + ": written by epoch history format version " +
                                std::to_string(version) + "; this build reads version " +
                                std::to_string(kFormatVersion));
  }
  const uint32_t count = DecodeFixed32(data.data() + 12);
  if (count > kEpochHistoryEntriesMax || data.size() != kHeaderBytes + count * kEntryBytes + 4) {
    return Status::Corruption(what + ": entry count " + std::to_string(count) +
                              " does not match the file size " + std::to_string(data.size()));
  }
  const size_t crc_at = data.size() - 4;
  if (crc32c::Unmask(DecodeFixed32(data.data() + crc_at)) != crc32c::Value(data.data(), crc_at)) {
    return Status::Corruption(what + ": checksum mismatch at offset " + std::to_string(crc_at));
  }
  out->clear();
  const char* p = data.data() + kHeaderBytes;
  for (uint32_t i = 0; i < count; i++, p += kEntryBytes) {
    EpochStart e{DecodeFixed64(p), DecodeFixed64(p + 8), DecodeFixed64(p + 16)};
    if (!out->empty() && (e.epoch <= out->back().epoch || e.first_seq <= out->back().first_seq)) {
      return Status::Corruption(what + ": entry " + std::to_string(i) +
                                " does not increase (epoch " + std::to_string(e.epoch) + ")");
    }
    out->push_back(e);
  }
  return Status::OK();
}

Result<EpochHistory> EpochHistory::Open(Env* env, std::string path, uint64_t log_last_seq) {
  EpochHistory h(env, std::move(path));
  if (env->FileExists(h.path_)) {
    std::string data;
    RDB_RETURN_IF_ERROR(ReadFileToString(env, h.path_, &data));
    RDB_RETURN_IF_ERROR(Decode(data, h.path_, &h.entries_));
  }
  // Entries the log never got (a crash between the file's rewrite and the log write).
  RDB_RETURN_IF_ERROR(h.TruncateAfter(log_last_seq));
  return h;
}

uint64_t EpochHistory::EndOf(uint64_t epoch, uint64_t log_last_seq) const {
  auto later = std::upper_bound(entries_.begin(), entries_.end(), epoch,
                                [](uint64_t e, const EpochStart& s) { return e < s.epoch; });
  return later == entries_.end() ? log_last_seq : later->prev_last_seq;
}

Status EpochHistory::Begin(uint64_t epoch, uint64_t first_seq, uint64_t prev_last_seq) {
  if (epoch <= last_epoch()) {
    return Status::InvalidArgument("epoch " + std::to_string(epoch) +
                                   " does not follow the log's last epoch " +
                                   std::to_string(last_epoch()));
  }
  entries_.push_back({epoch, first_seq, prev_last_seq});
  if (entries_.size() > kEpochHistoryEntriesMax) entries_.erase(entries_.begin());
  return Persist();
}

Status EpochHistory::TruncateAfter(uint64_t seq) {
  size_t keep = entries_.size();
  while (keep > 0 && entries_[keep - 1].first_seq > seq) keep--;
  if (keep == entries_.size()) return Status::OK();
  entries_.resize(keep);
  return Persist();
}

Status EpochHistory::Persist() { return WriteFileAtomic(env_, path_, Encode(entries_)); }

}  // namespace rdb
