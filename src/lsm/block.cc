#include "lsm/block.h"

#include <algorithm>

#include "base/check.h"
#include "base/coding.h"
#include "lsm/format.h"

namespace rdb::lsm {
namespace {

// Decodes the three varint32 lengths that head an entry. Nearly all are < 128 (one byte each), so
// that case is handled inline; the general decoder covers the rest and all error checks.
inline bool DecodeEntryHeader(std::string_view* in, uint32_t* shared, uint32_t* unshared,
                              uint32_t* value_bytes) {
  if (in->size() >= 3) {
    auto a = static_cast<uint8_t>((*in)[0]);
    auto b = static_cast<uint8_t>((*in)[1]);
    auto c = static_cast<uint8_t>((*in)[2]);
    if ((a | b | c) < 128) {
      *shared = a;
      *unshared = b;
      *value_bytes = c;
      in->remove_prefix(3);
      return true;
    }
  }
  return GetVarint32(in, shared) && GetVarint32(in, unshared) && GetVarint32(in, value_bytes);
}

}  // namespace

BlockBuilder::BlockBuilder(int restart_interval)
    : restart_interval_(restart_interval < 1 ? 1 : restart_interval) {
  restarts_.push_back(0);
}

void BlockBuilder::Reset() {
  buf_.clear();
  restarts_.clear();
  restarts_.push_back(0);
  counter_ = 0;
  entries_ = 0;
  last_key_.clear();
  finished_ = false;
}

void BlockBuilder::Add(std::string_view key, std::string_view value) {
  RDB_DCHECK(!finished_);
  size_t shared = 0;
  if (counter_ < restart_interval_) {
    size_t n = std::min(last_key_.size(), key.size());
    while (shared < n && last_key_[shared] == key[shared]) shared++;
  } else {
    restarts_.push_back(static_cast<uint32_t>(buf_.size()));
    counter_ = 0;
  }
  size_t unshared = key.size() - shared;
  PutVarint32(&buf_, static_cast<uint32_t>(shared));
  PutVarint32(&buf_, static_cast<uint32_t>(unshared));
  PutVarint32(&buf_, static_cast<uint32_t>(value.size()));
  buf_.append(key.data() + shared, unshared);
  buf_.append(value.data(), value.size());
  last_key_.resize(shared);
  last_key_.append(key.data() + shared, unshared);
  counter_++;
  entries_++;
}

std::string_view BlockBuilder::Finish() {
  if (!finished_) {
    for (uint32_t r : restarts_) PutFixed32(&buf_, r);
    PutFixed32(&buf_, static_cast<uint32_t>(restarts_.size()));
    finished_ = true;
  }
  return buf_;
}

Result<std::shared_ptr<const Block>> Block::Parse(std::string contents) {
  if (contents.size() < 4) return Status::Corruption("block too short");
  uint32_t num_restarts = DecodeFixed32(contents.data() + contents.size() - 4);
  uint64_t max_restarts = (contents.size() - 4) / 4;
  if (num_restarts == 0 || num_restarts > max_restarts) {
    return Status::Corruption("bad block restart count");
  }
  uint32_t restart_offset = static_cast<uint32_t>(contents.size() - 4 - 4ull * num_restarts);
  const char* base = contents.data();
  for (uint32_t i = 0; i < num_restarts; i++) {
    uint32_t r = DecodeFixed32(base + restart_offset + 4ull * i);
    if (r > restart_offset || (i == 0 && r != 0)) {
      return Status::Corruption("bad block restart offset");
    }
  }
  std::shared_ptr<Block> b(new Block(std::move(contents)));
  b->restart_offset_ = restart_offset;
  b->num_restarts_ = num_restarts;
  return std::shared_ptr<const Block>(std::move(b));
}

BlockIter::BlockIter(const Block* block, KeyCompare cmp, size_t min_key_bytes)
    : block_(block),
      data_(block->contents_.data()),
      cmp_(cmp),
      // Internal keys always need their trailer, whoever builds the iterator.
      min_key_bytes_(cmp == CompareInternalKey ? std::max(min_key_bytes, kTrailerBytes)
                                               : min_key_bytes),
      current_(block->restart_offset_),
      next_(block->restart_offset_) {}

uint32_t BlockIter::RestartPoint(uint32_t i) const {
  return DecodeFixed32(data_ + block_->restart_offset_ + 4ull * i);
}

void BlockIter::Corrupt() {
  status_ = Status::Corruption("malformed block entry");
  current_ = next_ = block_->restart_offset_;
  key_.clear();
  value_ = {};
}

void BlockIter::SeekToRestart(uint32_t i) {
  key_.clear();
  next_ = RestartPoint(i);
}

bool BlockIter::ParseNext() {
  const uint32_t limit = block_->restart_offset_;
  current_ = next_;
  if (current_ >= limit) {
    current_ = next_ = limit;
    return false;
  }
  std::string_view in(data_ + current_, limit - current_);
  uint32_t shared, unshared, value_bytes;
  if (!DecodeEntryHeader(&in, &shared, &unshared, &value_bytes) || shared > key_.size() ||
      in.size() < static_cast<uint64_t>(unshared) + value_bytes) {
    Corrupt();
    return false;
  }
  key_.resize(shared);
  key_.append(in.data(), unshared);
  if (key_.size() < min_key_bytes_) {
    Corrupt();
    return false;
  }
  value_ = std::string_view(in.data() + unshared, value_bytes);
  next_ = static_cast<uint32_t>(value_.data() + value_bytes - data_);
  return true;
}

void BlockIter::SeekToFirst() {
  if (!status_.ok()) return;
  SeekToRestart(0);
  ParseNext();
}

void BlockIter::Next() {
  if (!Valid()) return;
  ParseNext();
}

void BlockIter::Seek(std::string_view target) {
  if (!status_.ok()) return;
  // Binary search for the last restart point whose key is < target.
  uint32_t left = 0;
  uint32_t right = block_->num_restarts_ - 1;
  const uint32_t limit = block_->restart_offset_;
  while (left < right) {
    uint32_t mid = (left + right + 1) / 2;
    uint32_t off = RestartPoint(mid);
    std::string_view in(data_ + off, limit - off);
    uint32_t shared, unshared, value_bytes;
    if (!DecodeEntryHeader(&in, &shared, &unshared, &value_bytes) || shared != 0 ||
        in.size() < unshared || unshared < min_key_bytes_) {
      Corrupt();
      return;
    }
    if (cmp_(std::string_view(in.data(), unshared), target) < 0) {
      left = mid;
    } else {
      right = mid - 1;
    }
  }
  SeekToRestart(left);
  while (ParseNext()) {
    if (cmp_(key_, target) >= 0) return;
  }
}

}  // namespace rdb::lsm
