#include "server/forwarder.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <utility>

#include "server/status_mapping.h"

namespace rdb::server {

namespace pb = ::rdeebee::v1;

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class MembershipClusterView final : public ClusterView {
 public:
  MembershipClusterView(cluster::Membership* m, uint32_t groups) : m_(m), groups_(groups) {}
  uint32_t groups() const override { return groups_; }
  uint32_t group() const override { return m_->group(); }
  bool IsLeader1() const override { return m_->role() == cluster::Role::kLeader1; }
  std::string node() const override { return m_->node(); }
  Result<std::vector<cluster::MemberInfo>> ListMembers() override { return m_->ListMembers(); }

 private:
  cluster::Membership* const m_;
  const uint32_t groups_;
};

// Forwarded payloads are bounded by the sender's and the leader's own limits, not by the channel.
constexpr int kReconnectBackoffInitialMs = 100;
constexpr int kConnectTimeoutMs = 2000;
constexpr int kReconnectBackoffMaxMs = 2000;

}  // namespace

bool IsForwarded(const grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(kForwardedMetadataKey);
  return it != md.end() && it->second == "1";
}

std::unique_ptr<ClusterView> MembershipView(cluster::Membership* membership, uint32_t groups) {
  return std::make_unique<MembershipClusterView>(membership, groups);
}

struct Forwarder::Peer {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<Stub> stub;

  explicit Peer(const std::string& address) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    // Reconnect quickly to a restarted leader (gRPC's default backoff grows to 2 minutes).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectBackoffInitialMs);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kConnectTimeoutMs);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kReconnectBackoffMaxMs);
    channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    stub = pb::EventStore::NewStub(channel);
  }
};

Forwarder::Forwarder(ClusterView* view, ForwarderOptions options)
    : view_(view), options_(options), thread_([this] { Run(); }) {}

Forwarder::~Forwarder() { Stop(); }

void Forwarder::Stop() {
  std::vector<Waiting> waiting;
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    waiting.swap(waiting_);
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  for (Waiting& w : waiting) {
    w.done(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
  }
  // Forwarded calls end by themselves: the caller's cancellation and deadline reach them, and
  // every one has a deadline of at most deadline_max_ms.
  while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

Forwarder::Stats Forwarder::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

void Forwarder::RequestRefreshLocked() {
  if (!refresh_requested_) {
    refresh_requested_ = true;
    cv_.SignalAll();
  }
}

void Forwarder::Forward(uint32_t group, grpc::CallbackServerContext* caller, Start start, Done done,
                        std::optional<uint64_t>* actual_version) {
  std::string address;
  grpc::Status refusal;
  {
    absl::MutexLock l(&mu_);
    auto it = leaders_.find(group);
    if (stop_) {
      refusal = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down");
    } else if (it != leaders_.end()) {
      address = it->second;
      if (NowMs() - fetched_ms_ >= options_.leaders_max_age_ms) RequestRefreshLocked();
    } else if (waiting_.size() >= options_.waiting_max) {
      refusal = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             "too many requests waiting for the cluster's leaders (" +
                                 std::to_string(options_.waiting_max) + "); retry with backoff");
    } else {
      waiting_.push_back(Waiting{group, caller, std::move(start), std::move(done), actual_version});
      RequestRefreshLocked();
      return;
    }
  }
  if (!refusal.ok()) {
    done(refusal);
    return;
  }
  Dispatch(group, address, caller, start, std::move(done), actual_version);
}

void Forwarder::Dispatch(uint32_t group, const std::string& address,
                         grpc::CallbackServerContext* caller, const Start& start, Done done,
                         std::optional<uint64_t>* actual_version) {
  std::shared_ptr<Peer> peer;
  {
    absl::MutexLock l(&mu_);
    std::shared_ptr<Peer>& p = peers_[address];
    if (!p) p = std::make_shared<Peer>(address);
    peer = p;
    ++stats_.forwarded;
  }
  in_flight_.fetch_add(1);
  struct State {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::shared_ptr<Peer> peer;
    Done done;
  };
  // The caller's deadline and cancellation propagate to the forwarded call.
  auto* state = new State{grpc::ClientContext::FromCallbackServerContext(*caller), std::move(peer),
                          std::move(done)};
  state->ctx->AddMetadata(kForwardedMetadataKey, "1");
  state->ctx->set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(options_.deadline_max_ms));
  start(state->peer->stub.get(), state->ctx.get(),
        [this, state, group, address, caller, actual_version](grpc::Status status) {
          const auto& trailers = state->ctx->GetServerTrailingMetadata();
          auto it = trailers.find(kActualVersionMetadataKey);
          if (it != trailers.end()) {
            std::string v(it->second.data(), it->second.size());
            if (actual_version != nullptr) {
              *actual_version = std::strtoull(v.c_str(), nullptr, 10);
            } else {
              caller->AddTrailingMetadata(kActualVersionMetadataKey, v);
            }
          }
          Done finish = std::move(state->done);
          delete state;
          Completed(group, address, status);
          finish(status);
          in_flight_.fetch_sub(1);  // the last touch of this
        });
}

void Forwarder::Completed(uint32_t group, const std::string& address, const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return;
  absl::MutexLock l(&mu_);
  auto it = leaders_.find(group);
  if (it != leaders_.end() && it->second == address) {
    spdlog::debug("forwarding to leader 1 of group {} at {} failed ({}): reading the leaders again",
                  group, address, status.error_message());
    leaders_.erase(it);
    RequestRefreshLocked();
  }
}

void Forwarder::Run() {
  int64_t last_start_ms = 0;
  bool first = true;
  for (;;) {
    {
      absl::MutexLock l(&mu_);
      for (;;) {
        if (stop_) return;
        if (!refresh_requested_) {
          cv_.Wait(&mu_);
          continue;
        }
        const int64_t wait_ms = first ? 0 : last_start_ms + options_.refresh_gap_min_ms - NowMs();
        if (wait_ms <= 0) break;
        cv_.WaitWithTimeout(&mu_, absl::Milliseconds(wait_ms));
      }
      refresh_requested_ = false;
    }
    first = false;
    last_start_ms = NowMs();
    // etcd is read without the lock: callers keep forwarding with what is cached.
    Result<std::vector<cluster::MemberInfo>> members = view_->ListMembers();

    std::vector<std::pair<Waiting, std::string>> ready;
    std::vector<std::pair<Waiting, std::string>> failed;
    {
      absl::MutexLock l(&mu_);
      ++stats_.refreshes;
      if (members.ok()) {
        leaders_.clear();
        std::set<std::string> addresses;
        for (const cluster::MemberInfo& m : *members) {
          addresses.insert(m.address);
          if (m.role == cluster::Role::kLeader1) leaders_[m.group] = m.address;
        }
        // Keep channels to members only (in-flight calls hold their own reference).
        for (auto it = peers_.begin(); it != peers_.end();) {
          it = addresses.count(it->first) != 0 ? std::next(it) : peers_.erase(it);
        }
        fetched_ms_ = NowMs();
        last_error_.clear();
      } else {
        ++stats_.refresh_failures;
        last_error_ = members.status().message();
      }
      for (Waiting& w : waiting_) {
        auto it = leaders_.find(w.group);
        if (it != leaders_.end()) {
          ready.emplace_back(std::move(w), it->second);
        } else {
          std::string why = "no leader 1 of group " + std::to_string(w.group) + " is known";
          if (!last_error_.empty())
            why += " (cannot read the cluster's members: " + last_error_ + ")";
          failed.emplace_back(std::move(w), why + "; retry");
        }
      }
      waiting_.clear();
    }
    for (auto& [w, address] : ready)
      Dispatch(w.group, address, w.caller, w.start, std::move(w.done), w.actual_version);
    for (auto& [w, why] : failed) w.done(grpc::Status(grpc::StatusCode::UNAVAILABLE, why));
  }
}

// --- the methods ---

void Forwarder::Append(uint32_t group, grpc::CallbackServerContext* caller,
                       const pb::AppendRequest* req, pb::AppendResponse* resp, Done done,
                       std::optional<uint64_t>* actual_version) {
  Forward(
      group, caller,
      [req, resp](Stub* stub, grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->Append(ctx, req, resp, std::move(cb));
      },
      std::move(done), actual_version);
}

void Forwarder::Delete(uint32_t group, grpc::CallbackServerContext* caller,
                       const pb::DeleteRequest* req, pb::DeleteResponse* resp, Done done) {
  Forward(
      group, caller,
      [req, resp](Stub* stub, grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->Delete(ctx, req, resp, std::move(cb));
      },
      std::move(done));
}

void Forwarder::Get(uint32_t group, grpc::CallbackServerContext* caller, const pb::GetRequest* req,
                    pb::GetResponse* resp, Done done) {
  Forward(
      group, caller,
      [req, resp](Stub* stub, grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->Get(ctx, req, resp, std::move(cb));
      },
      std::move(done));
}

void Forwarder::ReadStream(uint32_t group, grpc::CallbackServerContext* caller,
                           const pb::ReadStreamRequest* req, pb::ReadStreamResponse* resp,
                           Done done) {
  Forward(
      group, caller,
      [req, resp](Stub* stub, grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->ReadStream(ctx, req, resp, std::move(cb));
      },
      std::move(done));
}

void Forwarder::CommitGroupPosition(uint32_t group, grpc::CallbackServerContext* caller,
                                    const pb::CommitGroupPositionRequest* req,
                                    pb::CommitGroupPositionResponse* resp, Done done) {
  Forward(
      group, caller,
      [req, resp](Stub* stub, grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->CommitGroupPosition(ctx, req, resp, std::move(cb));
      },
      std::move(done));
}

void Forwarder::DeleteGroup(uint32_t group, grpc::CallbackServerContext* caller,
                            const pb::DeleteGroupRequest* req, pb::DeleteGroupResponse* resp,
                            Done done) {
  Forward(
      group, caller,
      [req, resp](Stub* stub, grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->DeleteGroup(ctx, req, resp, std::move(cb));
      },
      std::move(done));
}

void Forwarder::ReadAll(uint32_t group, grpc::CallbackServerContext* caller,
                        const pb::ReadAllRequest* req, pb::ReadAllResponse* resp, Done done) {
  Forward(
      group, caller,
      [req, resp](Stub* stub, grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->ReadAll(ctx, req, resp, std::move(cb));
      },
      std::move(done));
}

void Forwarder::ListGroups(uint32_t group, grpc::CallbackServerContext* caller,
                           const pb::ListGroupsRequest* req, pb::ListGroupsResponse* resp,
                           Done done) {
  Forward(
      group, caller,
      [req, resp](Stub* stub, grpc::ClientContext* ctx, std::function<void(grpc::Status)> cb) {
        stub->async()->ListGroups(ctx, req, resp, std::move(cb));
      },
      std::move(done));
}

}  // namespace rdb::server
