#include "lsm/db_iterator.h"

#include <string>

#include "lsm/format.h"

namespace rdb::lsm {
namespace {

class DbIterator final : public LsmIterator {
 public:
  DbIterator(std::unique_ptr<InternalIterator> it, uint64_t snapshot,
             std::shared_ptr<const void> pin)
      : pin_(std::move(pin)), it_(std::move(it)), snapshot_(snapshot) {}

  void Seek(std::string_view target) override {
    LookupKey k(target);
    it_->Seek(k.internal_key());
    FindVisible(false);
  }
  bool Valid() const override { return valid_; }
  void Next() override {
    if (!valid_) return;
    skip_.assign(user_key_);
    it_->Next();
    FindVisible(true);
  }
  std::string_view key() const override { return user_key_; }
  std::string_view value() const override { return it_->value(); }
  Status status() const override { return status_.ok() ? it_->status() : status_; }

 private:
  // Moves to the first entry that is the newest visible version of a user key other than skip_
  // (when skipping) and is not a tombstone.
  void FindVisible(bool skipping) {
    valid_ = false;
    for (; it_->Valid(); it_->Next()) {
      ParsedInternalKey k;
      if (!ParseInternalKey(it_->key(), &k)) {
        status_ = Status::Corruption("malformed internal key during iteration");
        return;
      }
      if (k.seq > snapshot_) continue;
      if (skipping && k.user_key == skip_) continue;
      if (k.type == ValueType::kDeletion) {
        skip_.assign(k.user_key);
        skipping = true;
        continue;
      }
      user_key_ = k.user_key;
      valid_ = true;
      return;
    }
  }

  std::shared_ptr<const void> pin_;  // declared first: outlives it_
  std::unique_ptr<InternalIterator> it_;
  const uint64_t snapshot_;
  bool valid_ = false;
  std::string_view user_key_;  // points into it_'s current key
  std::string skip_;
  Status status_;
};

}  // namespace

std::unique_ptr<LsmIterator> NewDbIterator(std::unique_ptr<InternalIterator> merged,
                                           uint64_t snapshot_seq, std::shared_ptr<const void> pin) {
  return std::make_unique<DbIterator>(std::move(merged), snapshot_seq, std::move(pin));
}

}  // namespace rdb::lsm
