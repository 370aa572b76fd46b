// MergingIterator: merges sorted child iterators into one sorted stream of internal keys (a binary
// heap on the children's current keys). Duplicates are all yielded, newest first, because
// internal keys of one user key order by descending sequence. The first child error ends the
// merge: Valid() turns false and status() reports it, so a corrupt table never silently hides
// entries.
#pragma once

#include <memory>
#include <vector>

#include "lsm/iterator.h"

namespace rdb::lsm {

std::unique_ptr<InternalIterator> NewMergingIterator(
    std::vector<std::unique_ptr<InternalIterator>> children);

}  // namespace rdb::lsm
