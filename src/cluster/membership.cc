#include "cluster/membership.h"

#include "cluster/sequencer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "etcd/counter.h"

namespace rdb::cluster {

namespace {

using etcd::Compare;
using etcd::TxnOp;

std::string NewToken() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

std::string SlotRecord(const std::string& node, const std::string& token) {
  nlohmann::ordered_json j;
  j["node"] = node;
  j["token"] = token;
  return j.dump();
}

// The owner's (node, token) of a slot record; empty strings if it does not parse.
std::pair<std::string, std::string> ParseSlot(const std::string& value) {
  auto j = nlohmann::json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {};
  return {j.value("node", std::string()), j.value("token", std::string())};
}

int64_t Millis(double seconds) { return static_cast<int64_t>(std::llround(seconds * 1000)); }

}  // namespace

Membership::Membership(MembershipOptions options)
    : options_(std::move(options)), layout_(options_.shape.dbname) {}

Membership::~Membership() { Stop(); }

Result<std::unique_ptr<Membership>> Membership::Start(MembershipOptions options) {
  std::unique_ptr<Membership> m(new Membership(std::move(options)));
  etcd::ClientOptions co;
  co.timeout_ms = m->options_.etcd_timeout_ms;
  RDB_ASSIGN_OR_RETURN(m->client_, etcd::Client::Connect(m->options_.etcd_endpoints, co));
  RDB_RETURN_IF_ERROR(m->CheckShape());
  RDB_RETURN_IF_ERROR(m->ObtainIdentity());
  m->election_ =
      std::make_unique<etcd::Election>(m->client_.get(), m->layout_.ElectionPrefix(m->group_));
  if (m->options_.defer_campaign_when_new && m->fresh_identity_ && m->options_.last_seq() == 0) {
    // Only when the group holds data: its sequencer's key exists once a write was numbered.
    RDB_ASSIGN_OR_RETURN(bool has_data, m->GroupHasWritten());
    if (has_data) {
      absl::MutexLock lock(&m->mu_);
      m->deferred_ = true;
      spdlog::info(
          "cluster: node {} is new to group {}, which has a leader: it catches up before "
          "it campaigns",
          m->options_.node, m->group_);
    }
  }
  RDB_RETURN_IF_ERROR(m->Register());
  Membership* raw = m.get();
  RDB_ASSIGN_OR_RETURN(m->observer_, etcd::ElectionObserver::Start(
                                         m->client_.get(), m->layout_.ElectionPrefix(m->group_),
                                         [raw](const std::vector<etcd::Candidate>& c, int64_t) {
                                           raw->OnElection(c);
                                         }));
  m->thread_ = std::thread([raw] { raw->Run(); });
  spdlog::info("cluster: node {} is id {} in group {} of {} (role {}, epoch {})", m->options_.node,
               m->identity_.id, m->group_, m->options_.shape.dbname, RoleName(m->role()),
               m->epoch());
  return m;
}

Status Membership::CheckShape() {
  const std::string key = layout_.Shape();
  etcd::Txn txn;
  txn.compare.push_back(Compare::Absent(key));
  txn.then.push_back(TxnOp::MakePut(key, ShapeToJson(options_.shape)));
  txn.otherwise.push_back(TxnOp::MakeGet(key));
  RDB_ASSIGN_OR_RETURN(etcd::TxnResult r, client_->Commit(txn));
  if (r.succeeded) {
    spdlog::info("cluster: stored the shape of {} at {}: {}", options_.shape.dbname, key,
                 ShapeToJson(options_.shape));
    return Status::OK();
  }
  const auto& got = std::get<etcd::GetResult>(r.results.at(0));
  if (got.kvs.empty()) return Status::Aborted("cluster shape at " + key + " vanished; retry");
  RDB_ASSIGN_OR_RETURN(ClusterShape stored, ShapeFromJson(key, got.kvs[0].value));
  return CompareShapes(stored, options_.shape, key);
}

Status Membership::ObtainIdentity() {
  RDB_ASSIGN_OR_RETURN(std::optional<NodeIdentity> stored,
                       ReadNodeIdentity(options_.env, options_.data_dir));
  const uint64_t slots = options_.shape.slots();
  if (stored) {
    if (stored->dbname != options_.shape.dbname)
      return Status::FailedPrecondition("data directory " + options_.data_dir +
                                        " belongs to database " + stored->dbname + ", not " +
                                        options_.shape.dbname);
    if (static_cast<uint64_t>(stored->id) >= slots)
      return Status::FailedPrecondition("data directory " + options_.data_dir + " holds node id " +
                                        std::to_string(stored->id) + ", beyond the shape's " +
                                        std::to_string(slots) + " slots");
    identity_ = *stored;
    const std::string key = layout_.Slot(identity_.id);
    RDB_ASSIGN_OR_RETURN(etcd::GetResult got, client_->Get(key));
    if (got.kvs.empty()) {
      // etcd lost its state (replaced or restored): claim the slot again if nobody has.
      etcd::Txn txn;
      txn.compare.push_back(Compare::Absent(key));
      txn.then.push_back(TxnOp::MakePut(key, SlotRecord(options_.node, identity_.token)));
      RDB_ASSIGN_OR_RETURN(etcd::TxnResult r, client_->Commit(txn));
      if (!r.succeeded) return Status::Aborted("slot " + key + " changed while rejoining; retry");
      slot_revision_ = r.revision;
    } else {
      auto [owner, token] = ParseSlot(got.kvs[0].value);
      if (token != identity_.token)
        return Status::FailedPrecondition(
            "node id " + std::to_string(identity_.id) + " now belongs to node " + owner +
            " (a replacement took the slot after this node's lease expired); start this node " +
            "with an empty data directory to join as a new member");
      slot_revision_ = got.kvs[0].mod_revision;
    }
    spdlog::info("cluster: rejoining as node id {} (from {}/{})", identity_.id, options_.data_dir,
                 kNodeIdFileName);
  } else {
    fresh_identity_ = true;
    identity_ = {options_.shape.dbname, -1, NewToken()};
    RDB_ASSIGN_OR_RETURN(bool claimed, ClaimFromCounter(&identity_));
    if (!claimed) {
      RDB_ASSIGN_OR_RETURN(claimed, ClaimVacant(&identity_));
    }
    if (!claimed)
      return Status::ResourceExhausted("the cluster is full: " + options_.shape.dbname + " has " +
                                       std::to_string(options_.shape.groups) + " groups x " +
                                       std::to_string(options_.shape.group_size) + " = " +
                                       std::to_string(slots) +
                                       " node ids, all taken, and no slot is vacant");
    RDB_RETURN_IF_ERROR(WriteNodeIdentity(options_.env, options_.data_dir, identity_));
  }
  group_ = static_cast<uint32_t>(identity_.id / options_.shape.group_size);
  return Status::OK();
}

Result<bool> Membership::ClaimFromCounter(NodeIdentity* identity) {
  const uint64_t slots = options_.shape.slots();
  const std::string counter = layout_.NextNodeId();
  // Each round takes a fresh id; an id whose slot exists already (etcd restored from a backup
  // older than the slots) is skipped. Bounded by the number of slots.
  for (uint64_t round = 0; round <= slots; ++round) {
    RDB_ASSIGN_OR_RETURN(etcd::GetResult got, client_->Get(counter));
    if (!got.kvs.empty()) {
      RDB_ASSIGN_OR_RETURN(int64_t next, etcd::ParseCounter(counter, got.kvs[0].value));
      if (static_cast<uint64_t>(next) >= slots) return false;
    }
    RDB_ASSIGN_OR_RETURN(etcd::CounterResult c, etcd::IncrementCounter(client_.get(), counter));
    const int64_t id = c.value - 1;  // the counter holds the next id; ids count from 0
    if (static_cast<uint64_t>(id) >= slots) return false;
    const std::string key = layout_.Slot(id);
    etcd::Txn txn;
    txn.compare.push_back(Compare::Absent(key));
    txn.then.push_back(TxnOp::MakePut(key, SlotRecord(options_.node, identity->token)));
    RDB_ASSIGN_OR_RETURN(etcd::TxnResult r, client_->Commit(txn));
    if (r.succeeded) {
      identity->id = id;
      slot_revision_ = r.revision;
      spdlog::info("cluster: took new node id {} from {}", id, counter);
      return true;
    }
  }
  return false;
}

Result<bool> Membership::ClaimVacant(NodeIdentity* identity) {
  RDB_ASSIGN_OR_RETURN(etcd::GetResult got, client_->GetPrefix(layout_.VacantPrefix()));
  const std::string prefix = layout_.VacantPrefix();
  for (const etcd::KeyValue& kv : got.kvs) {
    std::string suffix = kv.key.substr(prefix.size());
    if (suffix.empty() || suffix.size() > 9 ||
        suffix.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const int64_t id = std::stoll(suffix);
    if (static_cast<uint64_t>(id) >= options_.shape.slots()) continue;
    const auto group = static_cast<uint32_t>(id / options_.shape.group_size);
    // The marker is still the one read (no other newcomer took it) and the old member is not
    // back: then the slot is this node's, atomically.
    etcd::Txn txn;
    txn.compare.push_back(Compare::ModRevision(kv.key, Compare::Op::kEqual, kv.mod_revision));
    txn.compare.push_back(Compare::Absent(layout_.Member(group, id)));
    txn.then.push_back(TxnOp::MakeDelete(kv.key));
    txn.then.push_back(
        TxnOp::MakePut(layout_.Slot(id), SlotRecord(options_.node, identity->token)));
    RDB_ASSIGN_OR_RETURN(etcd::TxnResult r, client_->Commit(txn));
    if (r.succeeded) {
      identity->id = id;
      slot_revision_ = r.revision;
      spdlog::info("cluster: took vacant node id {} (group {})", id, group);
      return true;
    }
  }
  return false;
}

Registration Membership::MyRegistration(uint64_t last_seq) const {
  return {options_.node, options_.address, identity_.id, last_seq};
}

Status Membership::Register() {
  const int64_t ttl_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(options_.lease_ttl_s)));
  RDB_ASSIGN_OR_RETURN(etcd::Lease lease, client_->LeaseGrant(ttl_s));
  const uint64_t seq = options_.last_seq();
  const std::string slot = layout_.Slot(identity_.id);
  etcd::Txn txn;
  txn.compare.push_back(Compare::ModRevision(slot, Compare::Op::kEqual, slot_revision_));
  etcd::PutOptions with_lease;
  with_lease.lease = lease.id;
  txn.then.push_back(TxnOp::MakePut(layout_.Member(group_, identity_.id),
                                    RegistrationToJson(MyRegistration(seq)), with_lease));
  txn.then.push_back(TxnOp::MakeDelete(layout_.Vacant(identity_.id)));
  txn.otherwise.push_back(TxnOp::MakeGet(slot));
  auto committed = client_->Commit(txn);
  if (!committed.ok() || !committed->succeeded) {
    (void)client_->LeaseRevoke(lease.id);
    if (!committed.ok()) return committed.status();
    const auto& got = std::get<etcd::GetResult>(committed->results.at(0));
    std::string owner = got.kvs.empty() ? "nobody" : ParseSlot(got.kvs[0].value).first;
    return Status::FailedPrecondition("node id " + std::to_string(identity_.id) +
                                      " was taken over by node " + owner +
                                      " while this node was away; it cannot register again");
  }
  Membership* self = this;
  RDB_ASSIGN_OR_RETURN(
      std::unique_ptr<etcd::LeaseKeeper> keeper,
      etcd::LeaseKeeper::Start(client_.get(), lease, Millis(options_.refresh_interval_s),
                               [self](const Status& why) {
                                 spdlog::warn("cluster: membership lease lost: {}", why.ToString());
                                 absl::MutexLock lock(&self->mu_);
                                 self->lease_lost_ = true;
                               }));
  bool deferred = false;
  {
    absl::MutexLock lock(&mu_);
    deferred = deferred_;
  }
  std::string key;
  if (!deferred) {
    auto me = election_->Campaign(lease.id, RegistrationToJson(MyRegistration(0), false));
    if (!me.ok()) {
      keeper->Stop();
      (void)client_->LeaseRevoke(lease.id);
      return me.status();
    }
    key = me->key;
  }
  absl::MutexLock lock(&mu_);
  keeper_ = std::move(keeper);
  lease_ = lease.id;
  election_key_ = key;
  published_seq_ = seq;
  lease_lost_ = false;
  return Status::OK();
}

Result<bool> Membership::GroupHasWritten() {
  RDB_ASSIGN_OR_RETURN(etcd::GetResult got,
                       client_->Get(EtcdSequencer::SeqKey(options_.shape.dbname, group_)));
  return !got.kvs.empty();
}

bool Membership::deferred() const {
  absl::MutexLock lock(&mu_);
  return deferred_;
}

Status Membership::CampaignNow() {
  int64_t lease = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!deferred_) return Status::OK();
    lease = lease_;
  }
  RDB_ASSIGN_OR_RETURN(auto me,
                       election_->Campaign(lease, RegistrationToJson(MyRegistration(0), false)));
  {
    absl::MutexLock lock(&mu_);
    deferred_ = false;
    election_key_ = me.key;
  }
  spdlog::info("cluster: node {} caught up with group {}: campaigning", options_.node, group_);
  OnElection(observer_->candidates());
  return Status::OK();
}

Result<std::vector<Registration>> Membership::GroupRegistrations() {
  RDB_ASSIGN_OR_RETURN(etcd::GetResult got, client_->GetPrefix(layout_.MembersPrefix(group_)));
  std::vector<Registration> out;
  for (const auto& kv : got.kvs) {
    auto reg = RegistrationFromJson(kv.key, kv.value);
    if (reg.ok()) out.push_back(*reg);
  }
  return out;
}

void Membership::OnElection(const std::vector<etcd::Candidate>& candidates) {
  std::map<std::string, int64_t> now;
  std::map<int64_t, std::string> names;
  std::vector<Candidate> ordered;
  for (const etcd::Candidate& c : candidates) {
    auto reg = RegistrationFromJson(c.key, c.value);
    if (!reg.ok()) continue;
    now[c.key] = reg->id;
    names[reg->id] = reg->node;
    ordered.push_back({c.key, *reg, c.create_revision});
  }
  std::vector<int64_t> departed;
  Role role = Role::kJoining;
  {
    absl::MutexLock lock(&mu_);
    for (size_t rank = 0; rank < candidates.size(); ++rank)
      if (candidates[rank].key == election_key_) role = RoleOfRank(rank);
    for (const auto& [key, id] : candidates_)
      if (!now.count(key) && !names.count(id) && id != identity_.id) departed.push_back(id);
    const int64_t epoch = candidates.empty() ? 0 : candidates.front().create_revision;
    if (role != role_ || epoch != epoch_)
      spdlog::info("cluster: group {}: role {} -> {}, epoch {} -> {}", group_, RoleName(role_),
                   RoleName(role), epoch_, epoch);
    role_ = role;
    epoch_ = epoch;
    candidates_ = std::move(now);
    ordered_ = std::move(ordered);
    if (stop_) return;
  }
  if (role == Role::kLeader1 && !departed.empty()) AdvertiseVacancies(departed);
}

void Membership::AdvertiseVacancies(const std::vector<int64_t>& departed) {
  for (int64_t id : departed) {
    // Only if the member's registration is gone too (its lease expired; a clean stop resigns
    // before it revokes, so its registration is usually still there) and the slot is still owned.
    etcd::Txn txn;
    txn.compare.push_back(Compare::Absent(layout_.Member(group_, id)));
    txn.compare.push_back(Compare::Absent(layout_.Vacant(id)));
    txn.compare.push_back(Compare::Version(layout_.Slot(id), Compare::Op::kGreater, 0));
    nlohmann::ordered_json j;
    j["id"] = id;
    j["group"] = group_;
    j["advertised_by"] = options_.node;
    txn.then.push_back(TxnOp::MakePut(layout_.Vacant(id), j.dump()));
    auto r = client_->Commit(txn);
    if (!r.ok()) {
      spdlog::warn("cluster: cannot advertise slot {} as vacant: {}", id, r.status().ToString());
    } else if (r->succeeded) {
      spdlog::info("cluster: node id {} left group {} (lease gone): slot advertised as vacant", id,
                   group_);
    }
  }
}

void Membership::Run() {
  const auto period =
      absl::Milliseconds(std::max<int64_t>(10, Millis(options_.refresh_interval_s)));
  bool evicted = false;
  std::string last_register_error;
  while (true) {
    bool lost = false;
    int64_t lease = 0;
    uint64_t published = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), period);
      if (stop_) return;
      lost = lease_lost_;
      lease = lease_;
      published = published_seq_;
    }
    if (evicted) continue;
    // Re-derive the role from the observer's newest view: self-heals a callback that raced with
    // a re-registration (cheap: no etcd call).
    OnElection(observer_->candidates());
    if (lost) {
      std::unique_ptr<etcd::LeaseKeeper> old;
      {
        absl::MutexLock lock(&mu_);
        old = std::move(keeper_);
      }
      if (old) old->Stop();
      (void)election_->Resign();
      Status s = Register();
      if (s.ok()) {
        spdlog::info("cluster: registered again as node id {} and campaigning", identity_.id);
        // The observer may have seen the new key before election_key_ named it.
        OnElection(observer_->candidates());
      } else if (s.code() == Code::kFailedPrecondition) {
        spdlog::error("cluster: {}; this node stays out of the cluster", s.ToString());
        evicted = true;
      } else if (s.ToString() != last_register_error) {  // once per distinct error
        spdlog::warn("cluster: cannot register again yet: {}", s.ToString());
        last_register_error = s.ToString();
      }
      if (s.ok()) last_register_error.clear();
      continue;
    }
    const uint64_t seq = options_.last_seq();
    if (seq == published) continue;
    etcd::PutOptions with_lease;
    with_lease.lease = lease;
    auto put = client_->Put(layout_.Member(group_, identity_.id),
                            RegistrationToJson(MyRegistration(seq)), with_lease);
    absl::MutexLock lock(&mu_);
    if (put.ok()) {
      if (lease == lease_) published_seq_ = seq;
    } else if (put.status().code() == Code::kNotFound) {
      lease_lost_ = true;  // the lease is gone: register again on the next round
    }
  }
}

void Membership::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (observer_) observer_->Stop();
  // Resign first: leader 2 becomes leader 1 the moment the key is gone, not a TTL later.
  if (election_) {
    Status s = election_->Resign();
    if (!s.ok()) spdlog::warn("cluster: resign failed: {}", s.ToString());
  }
  std::unique_ptr<etcd::LeaseKeeper> keeper;
  int64_t lease = 0;
  {
    absl::MutexLock lock(&mu_);
    keeper = std::move(keeper_);
    lease = lease_;
    role_ = Role::kJoining;
  }
  if (keeper) keeper->Stop();
  if (lease != 0 && client_) {
    Status s = client_->LeaseRevoke(lease);
    if (!s.ok() && s.code() != Code::kNotFound)
      spdlog::warn("cluster: lease revoke failed: {}", s.ToString());
  }
  if (lease != 0) spdlog::info("cluster: node id {} left group {}", identity_.id, group_);
}

Role Membership::role() const {
  absl::MutexLock lock(&mu_);
  return role_;
}

int64_t Membership::epoch() const {
  absl::MutexLock lock(&mu_);
  return epoch_;
}

Result<std::vector<MemberInfo>> Membership::ListMembers() {
  RDB_ASSIGN_OR_RETURN(etcd::GetResult got, client_->GetPrefix(layout_.GroupsPrefix()));
  return BuildRoster(layout_, got.kvs);
}

}  // namespace rdb::cluster

namespace rdb::cluster {

std::vector<Membership::Candidate> Membership::candidates() const {
  absl::MutexLock lock(&mu_);
  return ordered_;
}

void Membership::RequestRejoin() {
  absl::MutexLock lock(&mu_);
  lease_lost_ = true;
}

std::string Membership::election_key() const {
  absl::MutexLock lock(&mu_);
  return election_key_;
}

}  // namespace rdb::cluster
