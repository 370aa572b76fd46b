#include "cluster/cluster_node.h"

#include <spdlog/spdlog.h>

#include "cluster/recovery.h"

namespace rdb::cluster {

ClusterNode::ClusterNode(Engine* engine, Membership* membership, ClusterNodeOptions options)
    : engine_(engine), membership_(membership), options_(std::move(options)) {}

ClusterNode::~ClusterNode() { Stop(); }

void ClusterNode::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ClusterNode::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  StepDown("shutting down");
}

void ClusterNode::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(options_.poll_interval_ms));
      if (stop_) return;
    }
    Step();
  }
}

std::vector<ReplicaPeer> ClusterNode::Peers(
    const std::vector<Membership::Candidate>& candidates) const {
  std::vector<ReplicaPeer> peers;
  for (const auto& c : candidates) {
    if (c.registration.id == membership_->id()) continue;
    peers.push_back({c.registration.id, c.registration.node, c.registration.address});
  }
  return peers;
}

void ClusterNode::UpdatePeers(const std::vector<Membership::Candidate>& candidates) {
  const auto now = std::chrono::steady_clock::now();
  if (now - joiners_read_ >= std::chrono::milliseconds(options_.joiners_interval_ms)) {
    joiners_read_ = now;
    auto regs = membership_->GroupRegistrations();
    if (regs.ok()) {
      joiners_.clear();
      for (const Registration& r : *regs) {
        bool candidate = r.id == membership_->id();
        for (const auto& c : candidates) candidate = candidate || c.registration.id == r.id;
        if (!candidate) joiners_.push_back({r.id, r.node, r.address});
      }
    }
  }
  std::vector<ReplicaPeer> peers = Peers(candidates);
  const size_t voters = peers.size();
  peers.insert(peers.end(), joiners_.begin(), joiners_.end());
  if (peers != peers_) {
    peers_ = peers;
    replicator_->SetPeers(peers_, voters);
  }
}

void ClusterNode::Step() {
  if (options_.caught_up && membership_->deferred() && options_.caught_up()) {
    Status s = membership_->CampaignNow();
    if (!s.ok()) spdlog::warn("cluster: cannot campaign yet: {}", s.ToString());
  }
  const std::vector<Membership::Candidate> candidates = membership_->candidates();
  const std::string my_key = membership_->election_key();
  const bool first = !candidates.empty() && !my_key.empty() && candidates.front().key == my_key;
  const uint64_t epoch = first ? static_cast<uint64_t>(candidates.front().create_revision) : 0;
  const uint64_t leading = leading_epoch_.load();
  if (leading != 0) {
    if (hook_->failed()) {
      StepDown("a group commit could not be replicated in this epoch");
      membership_->RequestRejoin();
      return;
    }
    if (!first || epoch != leading || membership_->role() != Role::kLeader1) {
      StepDown("deposed");
      return;
    }
    UpdatePeers(candidates);
    const auto now = std::chrono::steady_clock::now();
    if (now - watermark_tick_ >= std::chrono::milliseconds(options_.watermark_interval_ms)) {
      watermark_tick_ = now;
      auto w = hook_->AdvanceWatermark();
      if (!w.ok()) spdlog::debug("cluster: watermark not advanced: {}", w.status().ToString());
    }
    return;
  }
  // Remember whether this node is leader 2 of a live epoch: if leader 1 goes, it holds everything.
  if (candidates.size() >= 2 && candidates[1].key == my_key) {
    leader2_key_ = my_key;
    leader2_epoch_ = static_cast<uint64_t>(candidates.front().create_revision);
  } else if (!first) {
    leader2_key_.clear();
    leader2_epoch_ = 0;
  }
  if (first && epoch > last_led_epoch_ && membership_->role() == Role::kLeader1) {
    (void)BecomeLeader(epoch, my_key);
  }
}

bool ClusterNode::BecomeLeader(uint64_t epoch, const std::string& election_key) {
  RecoveryOptions rec;
  rec.group = membership_->group();
  // The shortcut: this node was leader 2 under its current key, and that epoch's leader itself
  // counted it as leader 2 while its log was caught up (so every write acknowledged since is
  // here). Being next in line is not enough: leader 1 may have died before it ever counted it.
  const bool promoted = !leader2_key_.empty() && leader2_key_ == election_key &&
                        leader2_epoch_ != 0 && options_.leader2_of_epoch &&
                        options_.leader2_of_epoch() == leader2_epoch_;
  rec.answers_needed = promoted ? 1 : options_.reads;
  if (!promoted) {
    // A group that never numbered a write has acknowledged none: nothing to recover (a new
    // cluster's first leader must not wait for `reads` members).
    auto written = membership_->GroupHasWritten();
    if (written.ok() && !*written) rec.answers_needed = 1;
  }
  auto recovered = RecoverTail(engine_, Peers(membership_->candidates()), rec);
  if (!recovered.ok()) {
    if (recovered.status().ToString() != last_recovery_error_) {
      spdlog::warn("cluster: cannot lead group {} in epoch {} yet: {}", membership_->group(), epoch,
                   recovered.status().ToString());
      last_recovery_error_ = recovered.status().ToString();
    }
    return false;
  }
  last_recovery_error_.clear();
  EtcdSequencerOptions so;
  so.dbname = options_.dbname;
  so.group = membership_->group();
  so.election_key = election_key;
  so.epoch = static_cast<int64_t>(epoch);
  so.floor = engine_->last_seq();
  sequencer_ = std::make_unique<EtcdSequencer>(membership_->etcd_client(), so);
  ReplicatorOptions ro;
  ro.group = membership_->group();
  ro.epoch = epoch;
  ro.node = membership_->node();
  ro.writes = options_.writes;
  Membership* m = membership_;
  std::atomic<uint64_t>* leading = &leading_epoch_;
  ro.still_leader = [m, leading, epoch] {
    return leading->load() == epoch && m->role() == Role::kLeader1 &&
           static_cast<uint64_t>(m->epoch()) == epoch;
  };
  {
    absl::MutexLock lock(&mu_);
    replicator_ = std::make_unique<Replicator>(engine_, ro);
  }
  peers_.clear();
  joiners_read_ = {};
  UpdatePeers(membership_->candidates());
  {
    absl::MutexLock lock(&mu_);
    hook_ = std::make_shared<LeaderHook>(sequencer_.get(), replicator_.get(), epoch,
                                         engine_->last_seq(), options_.on_watermark);
  }
  watermark_tick_ = {};
  {
    // Every write to the cluster's group keys (other groups' batches, elections) after this
    // node's election key was created, in revision order; a change of that key comes before any
    // later revision, so each other event proves this node still held it then.
    std::shared_ptr<LeaderHook> hook = hook_;
    const std::string key = election_key;
    const auto epoch_rev = static_cast<int64_t>(epoch);
    auto watch = etcd::Watcher::Start(
        membership_->etcd_client(),
        etcd::WatchOptions::Prefix(KeyLayout(options_.dbname).GroupsPrefix(), epoch_rev + 1),
        [hook, key, epoch_rev](const std::vector<etcd::WatchEvent>& events) {
          for (const etcd::WatchEvent& e : events) {
            if (e.kv.key == key &&
                (e.type == etcd::WatchEvent::Type::kDelete || e.kv.create_revision != epoch_rev)) {
              hook->LoseFence();
              return;
            }
            hook->ObserveRevision(e.kv.mod_revision);
          }
        },
        [group = membership_->group()](const Status& why) {
          spdlog::warn(
              "cluster: group {}'s revision watch ended ({}); its watermark advances at "
              "the periodic read only",
              group, why.ToString());
        });
    if (watch.ok()) {
      revisions_ = std::move(watch).value();
    } else {
      spdlog::warn(
          "cluster: no revision watch for group {}'s watermark ({}); it advances every {} ms",
          membership_->group(), watch.status().ToString(), options_.watermark_interval_ms);
    }
  }
  last_led_epoch_ = epoch;
  {
    absl::MutexLock lock(&read_mu_);
    leading_key_ = election_key;
  }
  leading_epoch_.store(epoch);
  engine_->SetCommitHook(hook_.get());
  spdlog::info(
      "cluster: leader 1 of group {} in epoch {} (log ends at seq {}, last epoch {}; "
      "{} of {} needed tails read{}); replicating to {} members, {} must hold each write",
      membership_->group(), epoch, engine_->last_seq(), engine_->last_epoch(), recovered->answers,
      rec.answers_needed, promoted ? ", promoted from leader 2" : "", peers_.size(),
      options_.writes);
  return true;
}

void ClusterNode::StepDown(const char* why) {
  const uint64_t epoch = leading_epoch_.exchange(0);
  if (epoch == 0) return;
  // Order: a blocked Replicate sees leading_epoch_ change and gives up; then the hook can go.
  if (replicator_) replicator_->Stop();
  engine_->SetCommitHook(nullptr);
  revisions_.reset();
  {
    absl::MutexLock lock(&mu_);
    replicator_.reset();
    hook_.reset();
  }
  sequencer_.reset();
  peers_.clear();
  joiners_.clear();
  spdlog::info("cluster: no longer leader 1 of group {} (epoch {}): {}", membership_->group(),
               epoch, why);
}

Result<uint64_t> ClusterNode::CommittedWatermark() const {
  absl::MutexLock lock(&mu_);
  if (!hook_ || hook_->failed())
    return Status::FailedPrecondition("this node is not its group's leader 1");
  return hook_->watermark();
}

std::vector<Replicator::PeerState> ClusterNode::peer_states() const {
  absl::MutexLock lock(&mu_);
  return replicator_ ? replicator_->peer_states() : std::vector<Replicator::PeerState>{};
}

}  // namespace rdb::cluster

namespace rdb::cluster {

Status ClusterNode::CheckLeadershipOnce() {
  const uint64_t epoch = leading_epoch_.load();
  std::string key;
  {
    absl::MutexLock lock(&read_mu_);
    key = leading_key_;
  }
  if (epoch == 0 || key.empty()) {
    return Status::FailedPrecondition("this node is not leader 1 of group " +
                                      std::to_string(membership_->group()));
  }
  RDB_ASSIGN_OR_RETURN(etcd::GetResult got, membership_->etcd_client()->Get(key));
  if (got.kvs.empty() || static_cast<uint64_t>(got.kvs[0].create_revision) != epoch ||
      leading_epoch_.load() != epoch) {
    return Status::FailedPrecondition("this node is no longer leader 1 of group " +
                                      std::to_string(membership_->group()) + " (epoch " +
                                      std::to_string(epoch) + " is over)");
  }
  return Status::OK();
}

Status ClusterNode::ConfirmLeadership() {
  absl::MutexLock lock(&read_mu_);
  // A round that starts after this call: one already running may have read etcd before a write
  // that this read must see was acknowledged elsewhere.
  const uint64_t need = rounds_started_ + 1;
  while (rounds_done_ < need) {
    if (round_running_) {
      read_mu_.Await(absl::Condition(
          +[](bool* running) { return !*running; }, &round_running_));
      continue;
    }
    round_running_ = true;
    const uint64_t mine = ++rounds_started_;
    read_mu_.Unlock();
    Status s = CheckLeadershipOnce();
    read_mu_.Lock();
    round_running_ = false;
    rounds_done_ = mine;
    round_result_ = s;
  }
  return round_result_;
}

}  // namespace rdb::cluster
