// Reads across groups in cluster mode (docs/design/cluster.md, "Reads across groups"): a ReadAll
// or ListGroups that a node receives from a client asks leader 1 of every group for that group's
// part (the local engine when this node is that leader, else a call forwarded with rdb-forwarded,
// which the leader serves from its own log) and merges the parts here.
//
// Thread-safety: the merge functions are pure; a FanOut's Complete may be called from any thread,
// once per group.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rdeebee/v1/rdeebee.pb.h"

namespace rdb::server {

// Merges the groups' ReadAll pages for one from_seq into one page of the global feed, in seq order.
// Each page is in seq order and its next_seq is the seq of that group's next event (0: the group
// has no more). Every group's events below the smallest non-zero next_seq (the bound) are all
// here, so the merged page holds only events below the bound, at most limit events and
// kReadBytesMax bytes (at least one event), and its next_seq is the first event it left out, else
// the bound, else 0 when every group reached its end. Moves the events out of pages.
void MergeReadAllPages(std::vector<::rdeebee::v1::ReadAllResponse>* pages, size_t limit,
                       ::rdeebee::v1::ReadAllResponse* out);

// Merges the groups' consumer-group lists (each group's leader lists the consumer groups whose
// position key it owns): sorted by name; last_seq is the highest of the groups' last seqs, and
// every lag is measured from it.
void MergeGroupLists(std::vector<::rdeebee::v1::ListGroupsResponse>* lists,
                     ::rdeebee::v1::ListGroupsResponse* out);

// One request's parts, one per group. done runs once, on the thread that completes the last part,
// with the parts and the first failure in group order (its message prefixed with the group), or OK.
template <typename Resp>
class FanOut {
 public:
  using Done = std::function<void(std::vector<Resp>* parts, const grpc::Status& failure)>;

  FanOut(uint32_t groups, Done done)
      : parts_(groups), statuses_(groups), pending_(groups), done_(std::move(done)) {}

  // Group g's response (valid until done has run).
  Resp* part(uint32_t g) { return &parts_[g]; }

  void Complete(uint32_t g, const grpc::Status& status) {
    statuses_[g] = status;
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    grpc::Status failure;
    for (uint32_t i = 0; i < statuses_.size(); ++i) {
      if (!statuses_[i].ok()) {
        failure = grpc::Status(statuses_[i].error_code(),
                               "group " + std::to_string(i) + ": " + statuses_[i].error_message());
        break;
      }
    }
    Done done = std::move(done_);
    done(&parts_, failure);
  }

 private:
  std::vector<Resp> parts_;
  std::vector<grpc::Status> statuses_;  // statuses_[g] written once, before pending_ drops
  std::atomic<uint32_t> pending_;
  Done done_;
};

}  // namespace rdb::server
