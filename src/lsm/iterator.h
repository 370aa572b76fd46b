// InternalIterator: the forward iterator every layer of the tree implements (memtable, block,
// table, level, merge). Keys are internal keys (format.h); key() and value() stay valid until the
// next move. An error ends iteration: Valid() becomes false and status() says why.
#pragma once

#include <memory>
#include <string_view>

#include "base/status.h"

namespace rdb::lsm {

class InternalIterator {
 public:
  virtual ~InternalIterator() = default;
  virtual bool Valid() const = 0;
  virtual void SeekToFirst() = 0;
  // Positions at the first entry >= target (an internal key).
  virtual void Seek(std::string_view target) = 0;
  virtual void Next() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  virtual Status status() const = 0;
};

// An iterator over nothing that reports `status` (OK for an empty iterator).
std::unique_ptr<InternalIterator> NewErrorIterator(Status status);

}  // namespace rdb::lsm
