// Forwarder: sends a unary request that this node cannot serve to leader 1 of the key's group,
// and hands the leader's answer back verbatim (docs/design/cluster.md, "Routing").
//
// Leaders come from ClusterView::ListMembers (cluster::Membership in production), cached: a
// background thread refreshes the cache when it is older than leaders_max_age_ms (the stale entry
// is still used meanwhile), and a group whose forwarded call failed with UNAVAILABLE (leader gone,
// or no longer leader 1) is dropped, so the next call to it waits for a fresh read. Calls that
// wait are queued, not parked on a thread; only the refresh thread ever calls etcd, and never
// under a lock. One gRPC channel per leader address, reused; channels of addresses that left the
// member map are dropped at the next refresh.
//
// A forwarded call uses gRPC's callback client API; its context is derived from the caller's
// server context, so the caller's deadline (capped at deadline_max_ms) and cancellation reach the
// leader. It carries metadata `rdb-forwarded: 1`; a node that receives such a request and is not
// leader 1 of its group refuses it (no second hop). The result is the leader's status code and
// message, and its `rdeebee-actual-version` trailer copied to the caller's context.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "cluster/membership.h"
#include "cluster/roster.h"
#include "rdeebee/v1/rdeebee.grpc.pb.h"

namespace rdb::server {

// Metadata that marks a request forwarded by another node ("1").
inline constexpr char kForwardedMetadataKey[] = "rdb-forwarded";

// True when the request behind ctx carries kForwardedMetadataKey.
bool IsForwarded(const grpc::ServerContextBase& ctx);

// What routing needs to know about the cluster. Thread-safe.
class ClusterView {
 public:
  virtual ~ClusterView() = default;
  virtual uint32_t groups() const = 0;  // the shape's group count (0: not configured)
  virtual uint32_t group() const = 0;   // this node's group
  virtual bool IsLeader1() const = 0;   // this node is leader 1 of its group right now
  virtual std::string node() const = 0;
  // Every live member of every group with its role; may block (on etcd).
  virtual Result<std::vector<cluster::MemberInfo>> ListMembers() = 0;
};

// The view of membership (not owned; must outlive the view), with the shape's group count.
std::unique_ptr<ClusterView> MembershipView(cluster::Membership* membership, uint32_t groups);

struct ForwarderOptions {
  int64_t leaders_max_age_ms = 1000;  // past this age the cache is refreshed in the background
  int64_t refresh_gap_min_ms = 20;    // at most one ListMembers per this period
  int64_t deadline_max_ms = 30000;    // a forwarded call's deadline when the caller's is later
  size_t waiting_max = 4096;          // calls queued for a refresh; more are refused (UNAVAILABLE)
};

class Forwarder {
 public:
  // Runs exactly once with the outcome, on a gRPC or the refresh thread (or inline when the call
  // is refused at once). The forwarded status: pass it to the caller's reactor unchanged.
  using Done = std::function<void(const grpc::Status&)>;

  // view: not owned, outlives the Forwarder.
  explicit Forwarder(ClusterView* view, ForwarderOptions options = {});
  ~Forwarder();  // Stop()
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Refuses queued and new calls (UNAVAILABLE), stops the refresh thread and waits until every
  // forwarded call has completed. Idempotent.
  void Stop();

  // Forward the request to leader 1 of group. caller, req and resp must stay valid until done
  // runs (they belong to the caller's server call, which done finishes). An expected-version
  // conflict's actual version goes to caller's trailing metadata, or, when actual_version is set
  // (an AppendStream's ack carries it, and a stream's trailers are not per request), there.
  void Append(uint32_t group, grpc::CallbackServerContext* caller,
              const ::rdeebee::v1::AppendRequest* req, ::rdeebee::v1::AppendResponse* resp,
              Done done, std::optional<uint64_t>* actual_version = nullptr);
  void Delete(uint32_t group, grpc::CallbackServerContext* caller,
              const ::rdeebee::v1::DeleteRequest* req, ::rdeebee::v1::DeleteResponse* resp,
              Done done);
  void Get(uint32_t group, grpc::CallbackServerContext* caller,
           const ::rdeebee::v1::GetRequest* req, ::rdeebee::v1::GetResponse* resp, Done done);
  void ReadStream(uint32_t group, grpc::CallbackServerContext* caller,
                  const ::rdeebee::v1::ReadStreamRequest* req,
                  ::rdeebee::v1::ReadStreamResponse* resp, Done done);
  void CommitGroupPosition(uint32_t group, grpc::CallbackServerContext* caller,
                           const ::rdeebee::v1::CommitGroupPositionRequest* req,
                           ::rdeebee::v1::CommitGroupPositionResponse* resp, Done done);
  void DeleteGroup(uint32_t group, grpc::CallbackServerContext* caller,
                   const ::rdeebee::v1::DeleteGroupRequest* req,
                   ::rdeebee::v1::DeleteGroupResponse* resp, Done done);
  // One group's part of a cluster-wide ReadAll or ListGroups (server/cluster_read.h): the leader
  // serves it from its own log. Several may share caller and req at once (each its own resp).
  void ReadAll(uint32_t group, grpc::CallbackServerContext* caller,
               const ::rdeebee::v1::ReadAllRequest* req, ::rdeebee::v1::ReadAllResponse* resp,
               Done done);
  void ListGroups(uint32_t group, grpc::CallbackServerContext* caller,
                  const ::rdeebee::v1::ListGroupsRequest* req,
                  ::rdeebee::v1::ListGroupsResponse* resp, Done done);

  struct Stats {
    uint64_t forwarded = 0;         // calls sent to a leader
    uint64_t refreshes = 0;         // ListMembers calls
    uint64_t refresh_failures = 0;  // ... that failed
  };
  Stats stats() const;

 private:
  using Stub = ::rdeebee::v1::EventStore::Stub;
  // Starts the call on stub with ctx; cb gets its status.
  using Start = std::function<void(Stub* stub, grpc::ClientContext* ctx,
                                   std::function<void(grpc::Status)> cb)>;
  struct Peer;
  struct Waiting {
    uint32_t group;
    grpc::CallbackServerContext* caller;
    Start start;
    Done done;
    std::optional<uint64_t>* actual_version;
  };

  void Forward(uint32_t group, grpc::CallbackServerContext* caller, Start start, Done done,
               std::optional<uint64_t>* actual_version = nullptr);
  void Dispatch(uint32_t group, const std::string& address, grpc::CallbackServerContext* caller,
                const Start& start, Done done, std::optional<uint64_t>* actual_version);
  // Drops group's leader after an UNAVAILABLE from address, so the next call refreshes first.
  void Completed(uint32_t group, const std::string& address, const grpc::Status& status);
  void RequestRefreshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();  // the refresh thread

  ClusterView* const view_;
  const ForwarderOptions options_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // refresh requested, stop, or a forwarded call completed
  std::map<uint32_t, std::string> leaders_ ABSL_GUARDED_BY(mu_);  // group -> leader 1's address
  std::map<std::string, std::shared_ptr<Peer>> peers_ ABSL_GUARDED_BY(mu_);  // by address
  int64_t fetched_ms_ ABSL_GUARDED_BY(mu_) = 0;  // when leaders_ was read (0: never)
  std::string last_error_ ABSL_GUARDED_BY(mu_);  // the last refresh's failure, if it failed
  std::vector<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  bool refresh_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  // Dispatched, not completed. Atomic, decremented as a call's last touch of the Forwarder, so
  // Stop() can wait for it without a lock that the completing thread would still hold.
  std::atomic<uint64_t> in_flight_{0};
  std::thread thread_;
};

}  // namespace rdb::server
