#include "lsm/version_edit.h"

#include "base/coding.h"

namespace rdb::lsm {
namespace {

enum Tag : uint32_t {
  kNextFileNumber = 1,
  kLastSequence = 2,
  kFlushedSeq = 3,
  kDeletedFile = 4,
  kAddedFile = 5,
};

}  // namespace

void VersionEdit::EncodeTo(std::string* dst) const {
  if (next_file_number) {
    PutVarint32(dst, kNextFileNumber);
    PutVarint64(dst, *next_file_number);
  }
  if (last_sequence) {
    PutVarint32(dst, kLastSequence);
    PutVarint64(dst, *last_sequence);
  }
  if (flushed_seq) {
    PutVarint32(dst, kFlushedSeq);
    PutVarint64(dst, *flushed_seq);
  }
  for (const auto& [level, number] : deleted) {
    PutVarint32(dst, kDeletedFile);
    PutVarint32(dst, static_cast<uint32_t>(level));
    PutVarint64(dst, number);
  }
  for (const auto& [level, f] : added) {
    PutVarint32(dst, kAddedFile);
    PutVarint32(dst, static_cast<uint32_t>(level));
    PutVarint64(dst, f.number);
    PutVarint64(dst, f.file_size);
    PutVarint64(dst, f.entries);
    PutLengthPrefixed(dst, f.smallest);
    PutLengthPrefixed(dst, f.largest);
  }
}

Status VersionEdit::DecodeFrom(std::string_view in) {
  auto bad = [](const char* what) { return Status::Corruption(std::string("bad ") + what); };
  while (!in.empty()) {
    uint32_t tag;
    if (!GetVarint32(&in, &tag)) return bad("field tag");
    switch (tag) {
      case kNextFileNumber: {
        uint64_t v;
        if (!GetVarint64(&in, &v)) return bad("next file number");
        next_file_number = v;
        break;
      }
      case kLastSequence: {
        uint64_t v;
        if (!GetVarint64(&in, &v) || v > kMaxSequence) return bad("last sequence");
        last_sequence = v;
        break;
      }
      case kFlushedSeq: {
        uint64_t v;
        if (!GetVarint64(&in, &v)) return bad("flushed seq");
        flushed_seq = v;
        break;
      }
      case kDeletedFile: {
        uint32_t level;
        uint64_t number;
        if (!GetVarint32(&in, &level) || level >= kNumLevels || !GetVarint64(&in, &number)) {
          return bad("deleted file");
        }
        deleted.emplace_back(static_cast<int>(level), number);
        break;
      }
      case kAddedFile: {
        uint32_t level;
        FileMeta f;
        std::string_view smallest, largest;
        if (!GetVarint32(&in, &level) || level >= kNumLevels || !GetVarint64(&in, &f.number) ||
            !GetVarint64(&in, &f.file_size) || !GetVarint64(&in, &f.entries) ||
            !GetLengthPrefixed(&in, &smallest) || !GetLengthPrefixed(&in, &largest) ||
            smallest.size() < kTrailerBytes || largest.size() < kTrailerBytes ||
            CompareInternalKey(smallest, largest) > 0) {
          return bad("added file");
        }
        f.smallest.assign(smallest);
        f.largest.assign(largest);
        added.emplace_back(static_cast<int>(level), std::move(f));
        break;
      }
      default:
        return Status::Corruption("unknown field tag " + std::to_string(tag));
    }
  }
  return Status::OK();
}

}  // namespace rdb::lsm
