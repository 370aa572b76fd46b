#include "server/cluster_read.h"

#include <algorithm>
#include <limits>

#include "engine/engine.h"

namespace rdb::server {

namespace pb = ::rdeebee::v1;

namespace {

// What an event weighs against kReadBytesMax: the engine's own measure (engine.cc, EventBytes).
size_t EventBytes(const pb::Event& e) {
  return e.key().size() + e.payload().size() + e.event_type().size() + e.idempotency_id().size() +
         32;
}

}  // namespace

void MergeReadAllPages(std::vector<pb::ReadAllResponse>* pages, size_t limit,
                       pb::ReadAllResponse* out) {
  // A group cut short may hold events anywhere at or above its next_seq: nothing at or above the
  // smallest such point is known to be complete.
  uint64_t bound = std::numeric_limits<uint64_t>::max();
  for (const pb::ReadAllResponse& p : *pages) {
    if (p.next_seq() != 0) bound = std::min<uint64_t>(bound, p.next_seq());
  }
  std::vector<pb::Event*> events;
  for (pb::ReadAllResponse& p : *pages) {
    for (pb::Event& e : *p.mutable_events()) {
      if (e.seq() < bound) events.push_back(&e);
    }
  }
  std::sort(events.begin(), events.end(),
            [](const pb::Event* a, const pb::Event* b) { return a->seq() < b->seq(); });
  size_t bytes = 0;
  for (pb::Event* e : events) {
    const size_t size = EventBytes(*e);
    if (static_cast<size_t>(out->events_size()) >= limit ||
        (out->events_size() > 0 && bytes + size > kReadBytesMax)) {
      out->set_next_seq(e->seq());
      return;
    }
    bytes += size;
    *out->add_events() = std::move(*e);
  }
  out->set_next_seq(bound == std::numeric_limits<uint64_t>::max() ? 0 : bound);
}

void MergeGroupLists(std::vector<pb::ListGroupsResponse>* lists, pb::ListGroupsResponse* out) {
  uint64_t last = 0;
  for (const pb::ListGroupsResponse& l : *lists) last = std::max<uint64_t>(last, l.last_seq());
  std::vector<pb::GroupInfo*> groups;
  for (pb::ListGroupsResponse& l : *lists) {
    for (pb::GroupInfo& g : *l.mutable_groups()) groups.push_back(&g);
  }
  std::sort(groups.begin(), groups.end(),
            [](const pb::GroupInfo* a, const pb::GroupInfo* b) { return a->group() < b->group(); });
  out->set_last_seq(last);
  for (pb::GroupInfo* g : groups) {
    g->set_lag(last > g->seq() ? last - g->seq() : 0);
    *out->add_groups() = std::move(*g);
  }
}

}  // namespace rdb::server
