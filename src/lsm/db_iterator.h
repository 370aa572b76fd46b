// DbIterator: turns the merged stream of internal keys into the public LsmIterator: one entry per
// user key (the newest with seq <= the iterator's snapshot), tombstones skipped. The snapshot is
// the tree's last sequence when the iterator was created, so writes made afterwards are not seen
// and the view is consistent. `pin` keeps the memtables and the Version alive (and so their table
// files undeleted) for as long as the iterator exists.
#pragma once

#include <cstdint>
#include <memory>

#include "lsm/iterator.h"
#include "lsm/lsm_tree.h"

namespace rdb::lsm {

std::unique_ptr<LsmIterator> NewDbIterator(std::unique_ptr<InternalIterator> merged,
                                           uint64_t snapshot_seq, std::shared_ptr<const void> pin);

}  // namespace rdb::lsm
