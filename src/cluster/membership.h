// Membership: one node's part in the cluster's control plane (DESIGN.md section 5; the key layout
// is in keys.h and docs/design/cluster.md).
//
// Start() runs the join protocol, in order, and fails with a clear Status if any step refuses:
//   1. shape: store this node's shape under the dbname if none is stored (create-if-absent Txn),
//      else compare and refuse on a difference (kFailedPrecondition naming the field);
//   2. node id: the one remembered in the data directory (its slot must still hold this node's
//      token, else kFailedPrecondition: a replacement took it), or a new one from the counter
//      (IncrementCounter), or a vacant slot (compare-and-swap on its vacancy marker), or
//      kResourceExhausted: the cluster is full;
//   3. registration {node, address, id, last_seq} under the group's members prefix with a lease
//      (TTL lease_ttl, kept alive every refresh_interval by a LeaseKeeper);
//   4. campaign in the group's election (ordered by create revision: leader1, leader2, followers)
//      and follow it with an ElectionObserver, which keeps role() and epoch() current.
// A background thread then, every refresh_interval, republishes last_seq when it changed and,
// if the lease was lost, registers again under a new lease and campaigns again.
// Leader 1 advertises the slot of a member whose lease is gone as vacant.
//
// Stop() resigns (deletes the election key, so leader 2 becomes leader 1 at once), revokes the
// lease (the registration goes with it) and joins every thread. Thread-safety: every method may be
// called from any thread.
#pragma once

#include <absl/synchronization/mutex.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "cluster/keys.h"
#include "cluster/node_id_file.h"
#include "cluster/roster.h"
#include "cluster/shape.h"
#include "etcd/client.h"
#include "etcd/election.h"
#include "etcd/lease_keeper.h"
#include "io/env.h"

namespace rdb::cluster {

struct MembershipOptions {
  std::vector<std::string> etcd_endpoints;
  std::string node;     // this node's name
  std::string address;  // host:port advertised to clients and peers
  std::string data_dir;
  ClusterShape shape;
  double lease_ttl_s = 5;         // rounded up to whole seconds (etcd's unit)
  double refresh_interval_s = 1;  // keep-alive and last_seq refresh period
  int64_t etcd_timeout_ms = 3000;
  std::function<uint64_t()> last_seq = [] { return uint64_t{0}; };
  // A node new to its slot (no id in its data directory, an empty log) that joins a group which
  // already has a leader registers but does not campaign until CampaignNow(): it is caught up
  // first, so it never becomes leader 2 (or 1) without the group's data.
  bool defer_campaign_when_new = false;
  Env* env = Env::Posix();
};

class Membership {
 public:
  static Result<std::unique_ptr<Membership>> Start(MembershipOptions options);
  ~Membership();  // Stop()
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Resign, revoke the lease, stop every thread. Idempotent.
  void Stop();

  int64_t id() const { return identity_.id; }
  uint32_t group() const { return group_; }
  const std::string& node() const { return options_.node; }
  // This node's role and its group's epoch as the election observer last saw them.
  Role role() const;
  int64_t epoch() const;

  // Every live member of every group, read from etcd at one revision (blocks up to the etcd
  // timeout; kUnavailable when etcd does not answer).
  Result<std::vector<MemberInfo>> ListMembers();

  // This group's candidates as the election observer last saw them, in election order (the first
  // is leader 1, the second leader 2), and this node's own election key (empty before it
  // campaigned). Replication follows them.
  struct Candidate {
    std::string key;  // election key
    Registration registration;
    int64_t create_revision = 0;
  };
  std::vector<Candidate> candidates() const;
  // True while this node is registered but holds back its campaign (defer_campaign_when_new).
  bool deferred() const;
  // Campaigns now (a deferred node that has caught up). No-op when not deferred.
  Status CampaignNow();
  // Whether any write was ever numbered in this group (its sequencer key exists in etcd): if not,
  // no write can have been acknowledged, and a new leader has nothing to recover.
  Result<bool> GroupHasWritten();
  // Every registration of this node's group (one etcd read), joining members included.
  Result<std::vector<Registration>> GroupRegistrations();
  // Leaves the election and campaigns again (at the back of the line, with a new lease) on the
  // refresh thread's next round: a leader that may no longer write in its epoch calls it.
  void RequestRejoin();
  std::string election_key() const;
  // The etcd client this node's membership uses (valid until the Membership is destroyed).
  etcd::Client* etcd_client() const { return client_.get(); }

 private:
  explicit Membership(MembershipOptions options);
  Status CheckShape();
  Status ObtainIdentity();
  Result<bool> ClaimFromCounter(NodeIdentity* identity);
  Result<bool> ClaimVacant(NodeIdentity* identity);
  Status Register();  // lease, registration, campaign
  // From the observer's thread and the refresh thread (state under mu_).
  void OnElection(const std::vector<etcd::Candidate>& candidates);
  void AdvertiseVacancies(const std::vector<int64_t>& departed);
  void Run();  // the refresh thread
  Registration MyRegistration(uint64_t last_seq) const;

  const MembershipOptions options_;
  const KeyLayout layout_;
  std::unique_ptr<etcd::Client> client_;
  NodeIdentity identity_;
  uint32_t group_ = 0;
  int64_t slot_revision_ = 0;  // mod revision of slots/<id> when this node last checked it
  std::unique_ptr<etcd::Election> election_;
  std::unique_ptr<etcd::ElectionObserver> observer_;

  mutable absl::Mutex mu_;
  std::unique_ptr<etcd::LeaseKeeper> keeper_ ABSL_GUARDED_BY(mu_);
  int64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  std::string election_key_ ABSL_GUARDED_BY(mu_);
  Role role_ ABSL_GUARDED_BY(mu_) = Role::kJoining;
  int64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int64_t> candidates_ ABSL_GUARDED_BY(mu_);  // election key -> id
  std::vector<Candidate> ordered_ ABSL_GUARDED_BY(mu_);
  uint64_t published_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool lease_lost_ ABSL_GUARDED_BY(mu_) = false;
  bool fresh_identity_ = false;                 // the id was not in the data directory (Start only)
  bool deferred_ ABSL_GUARDED_BY(mu_) = false;  // registered, campaign held back
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ = false;  // Stop() ran (only Stop() touches it)
  std::thread thread_;
};

}  // namespace rdb::cluster
