#include "lsm/merging_iterator.h"

#include <algorithm>

#include "lsm/format.h"

namespace rdb::lsm {
namespace {

class MergingIterator final : public InternalIterator {
 public:
  explicit MergingIterator(std::vector<std::unique_ptr<InternalIterator>> children)
      : children_(std::move(children)) {
    heap_.reserve(children_.size());
  }

  bool Valid() const override { return !heap_.empty() && status_.ok(); }
  void SeekToFirst() override {
    for (auto& c : children_) c->SeekToFirst();
    Rebuild();
  }
  void Seek(std::string_view target) override {
    for (auto& c : children_) c->Seek(target);
    Rebuild();
  }
  void Next() override {
    if (!Valid()) return;
    InternalIterator* top = heap_.front();
    top->Next();
    if (top->Valid()) {
      SiftDown(0);
    } else {
      if (!top->status().ok()) {
        status_ = top->status();
        return;
      }
      heap_.front() = heap_.back();
      heap_.pop_back();
      if (!heap_.empty()) SiftDown(0);
    }
  }
  std::string_view key() const override { return heap_.front()->key(); }
  std::string_view value() const override { return heap_.front()->value(); }
  Status status() const override { return status_; }

 private:
  static bool Less(InternalIterator* a, InternalIterator* b) {
    return CompareInternalKey(a->key(), b->key()) < 0;
  }

  void Rebuild() {
    heap_.clear();
    status_ = Status::OK();
    for (auto& c : children_) {
      if (c->Valid()) {
        heap_.push_back(c.get());
      } else if (!c->status().ok() && status_.ok()) {
        status_ = c->status();
      }
    }
    for (size_t i = heap_.size() / 2; i-- > 0;) SiftDown(i);
  }

  void SiftDown(size_t i) {
    const size_t n = heap_.size();
    while (true) {
      size_t smallest = i;
      size_t l = 2 * i + 1;
      size_t r = l + 1;
      if (l < n && Less(heap_[l], heap_[smallest])) smallest = l;
      if (r < n && Less(heap_[r], heap_[smallest])) smallest = r;
      if (smallest == i) return;
      std::swap(heap_[i], heap_[smallest]);
      i = smallest;
    }
  }

  std::vector<std::unique_ptr<InternalIterator>> children_;
  std::vector<InternalIterator*> heap_;  // min-heap on key()
  Status status_;
};

class ErrorIterator final : public InternalIterator {
 public:
  explicit ErrorIterator(Status s) : status_(std::move(s)) {}
  bool Valid() const override { return false; }
  void SeekToFirst() override {}
  void Seek(std::string_view) override {}
  void Next() override {}
  std::string_view key() const override { return {}; }
  std::string_view value() const override { return {}; }
  Status status() const override { return status_; }

 private:
  Status status_;
};

}  // namespace

std::unique_ptr<InternalIterator> NewMergingIterator(
    std::vector<std::unique_ptr<InternalIterator>> children) {
  if (children.size() == 1) return std::move(children[0]);
  return std::make_unique<MergingIterator>(std::move(children));
}

std::unique_ptr<InternalIterator> NewErrorIterator(Status status) {
  return std::make_unique<ErrorIterator>(std::move(status));
}

}  // namespace rdb::lsm
