#include "engine/sequencer.h"

#include <algorithm>

#include "base/coding.h"
#include "base/crc32c.h"

namespace rdb {
namespace {

constexpr char kMagic[8] = {'R', 'D', 'B', 'S', 'E', 'Q', '\0', '\1'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kFileBytes = 8 + 4 + 8 + 4;

std::string Encode(uint64_t reserved) {
  std::string s(kMagic, 8);
  PutFixed32(&s, kFormatVersion);
  PutFixed64(&s, reserved);
  PutFixed32(&s, crc32c::Mask(crc32c::Value(s)));
  return s;
}

}  // namespace

Result<LocalSequencer> LocalSequencer::Open(Env* env, std::string path, uint64_t log_last_seq) {
  uint64_t reserved = 1;
  if (env->FileExists(path)) {
    std::string data;
    RDB_RETURN_IF_ERROR(ReadFileToString(env, path, &data));
    if (data.size() != kFileBytes || data.compare(0, 8, std::string_view(kMagic, 8)) != 0) {
      return Status::Corruption(path + ": not a sequencer file (bad size or magic)");
    }
    uint32_t version = DecodeFixed32(data.data() + 8);
    if (version != kFormatVersion) {
      return Status::NotSupported(path + ": written by sequencer format version " +
                                  std::to_string(version) + "; this build reads version " +
                                  std::to_string(kFormatVersion));
    }
    uint32_t crc = crc32c::Unmask(DecodeFixed32(data.data() + 20));
    if (crc != crc32c::Value(data.data(), 20)) {
      return Status::Corruption(path + ": checksum mismatch at offset 20");
    }
    reserved = DecodeFixed64(data.data() + 12);
  }
  // Everything below the reservation may have been issued (and seen) before the restart.
  uint64_t next = std::max(reserved, log_last_seq + 1);
  LocalSequencer seq(env, std::move(path), next, next);
  return seq;
}

Status LocalSequencer::Reserve(uint64_t upto) {
  uint64_t target = std::min(kSeqMax + 1, upto + kReserveBlock);
  RDB_RETURN_IF_ERROR(WriteFileAtomic(env_, path_, Encode(target)));
  reserved_ = target;
  return Status::OK();
}

Result<uint64_t> LocalSequencer::Next(uint64_t count) {
  if (next_ + count - 1 > kSeqMax) {
    return Status::ResourceExhausted("sequence numbers exhausted (53-bit limit)");
  }
  if (next_ + count > reserved_) RDB_RETURN_IF_ERROR(Reserve(next_ + count));
  uint64_t first = next_;
  next_ += count;
  return first;
}

Status LocalSequencer::Advance(uint64_t seq) {
  if (seq > kSeqMax) {
    return Status::InvalidArgument("seq " + std::to_string(seq) + " is above the 53-bit limit");
  }
  if (seq < next_) return Status::OK();
  if (seq + 1 > reserved_) RDB_RETURN_IF_ERROR(Reserve(seq + 1));
  next_ = seq + 1;
  return Status::OK();
}

}  // namespace rdb
