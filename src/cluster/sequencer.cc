#include "cluster/sequencer.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
#include <utility>
#include <variant>

#include "cluster/keys.h"
#include "etcd/counter.h"

namespace rdb::cluster {

Result<SeqRange> SeqsForRevision(int64_t revision, uint32_t n, uint64_t floor) {
  if (n == 0 || n > kSeqsPerRevision)
    return Status::InvalidArgument("sequencer: a batch takes 1 to " +
                                   std::to_string(kSeqsPerRevision) + " seqs, not " +
                                   std::to_string(n));
  if (revision <= 0) return Status::InvalidArgument("sequencer: etcd revision must be positive");
  if (revision > kMaxRevision)
    return Status::ResourceExhausted("sequencer: etcd revision " + std::to_string(revision) +
                                     " is past the maximum " + std::to_string(kMaxRevision) +
                                     " (its seqs would not fit in 53 bits)");
  SeqRange r;
  r.first = static_cast<uint64_t>(revision) * kSeqsPerRevision;
  r.last = r.first + n - 1;
  if (r.first <= floor)
    return Status::FailedPrecondition(
        "sequencer: etcd's revision " + std::to_string(revision) + " gives seqs from " +
        std::to_string(r.first) + ", not above the group's highest seq " + std::to_string(floor) +
        " (etcd restored from an older backup or replaced?); refusing to issue seqs backwards");
  return r;
}

EtcdSequencer::EtcdSequencer(etcd::Client* client, EtcdSequencerOptions options)
    : client_(client),
      options_(std::move(options)),
      seq_key_(SeqKey(options_.dbname, options_.group)),
      floor_(options_.floor) {}

std::string EtcdSequencer::SeqKey(const std::string& dbname, uint32_t group) {
  return KeyLayout(dbname).Group(group) + "seq";
}

void EtcdSequencer::RaiseFloor(uint64_t seq) {
  absl::MutexLock l(&mu_);
  floor_ = std::max(floor_, seq);
}

uint64_t EtcdSequencer::floor() const {
  absl::MutexLock l(&mu_);
  return floor_;
}

Result<SeqRange> EtcdSequencer::Next(uint32_t n) {
  if (n == 0 || n > kSeqsPerRevision)
    return Status::InvalidArgument("sequencer: a batch takes 1 to " +
                                   std::to_string(kSeqsPerRevision) + " seqs, not " +
                                   std::to_string(n));
  if (options_.epoch <= 0 || options_.election_key.empty())
    return Status::FailedPrecondition("sequencer: no election key and epoch (not leader 1)");
  absl::MutexLock l(&mu_);
  etcd::Txn txn;
  // A create revision equal to a positive epoch implies the key exists.
  txn.compare.push_back(etcd::Compare::CreateRevision(options_.election_key,
                                                      etcd::Compare::Op::kEqual, options_.epoch));
  txn.then.push_back(etcd::TxnOp::MakePut(seq_key_, std::to_string(floor_)));
  txn.otherwise.push_back(etcd::TxnOp::MakeGet(options_.election_key));
  auto committed = client_->Commit(txn);
  if (!committed.ok()) {
    if (committed.status().code() != Code::kUnavailable) return committed.status();
    // What a client sees for a write while etcd is down: say so in words, keep etcd's detail.
    return Status::Unavailable(
        "group " + std::to_string(options_.group) +
        " cannot number the write: etcd is unreachable or not answering " +
        "(writes resume by themselves once it is back; retry): " + committed.status().message());
  }
  const etcd::TxnResult& r = *committed;
  if (!r.succeeded) {
    std::string why = "its election key " + options_.election_key + " is gone";
    if (!r.results.empty()) {
      const auto* g = std::get_if<etcd::GetResult>(&r.results[0]);
      if (g != nullptr && !g->kvs.empty())
        why = "its election key " + options_.election_key + " has create revision " +
              std::to_string(g->kvs[0].create_revision) + ", not the epoch " +
              std::to_string(options_.epoch);
    }
    return Status::FailedPrecondition("sequencer: group " + std::to_string(options_.group) +
                                      ": no longer leader 1 (" + why + "); no seqs issued");
  }
  int64_t revision = r.revision;
  if (!r.results.empty()) {
    if (const auto* p = std::get_if<etcd::PutResult>(&r.results[0]); p && p->revision > 0)
      revision = p->revision;
  }
  RDB_ASSIGN_OR_RETURN(SeqRange range, SeqsForRevision(revision, n, floor_));
  floor_ = range.last;
  return range;
}

Result<int64_t> EtcdSequencer::FencedRevision() {
  if (options_.epoch <= 0 || options_.election_key.empty())
    return Status::FailedPrecondition("sequencer: no election key and epoch (not leader 1)");
  etcd::Txn txn;
  txn.compare.push_back(etcd::Compare::CreateRevision(options_.election_key,
                                                      etcd::Compare::Op::kEqual, options_.epoch));
  auto committed = client_->Commit(txn);
  if (!committed.ok()) return committed.status();
  if (!committed->succeeded) {
    return Status::FailedPrecondition("sequencer: group " + std::to_string(options_.group) +
                                      ": no longer leader 1 (election key " +
                                      options_.election_key + " changed)");
  }
  return committed->revision;
}

Result<std::vector<SeqRange>> EtcdSequencer::NextMany(uint64_t n) {
  if (n == 0) return Status::InvalidArgument("sequencer: NextMany of 0 seqs");
  std::vector<SeqRange> out;
  while (n > 0) {
    auto take = static_cast<uint32_t>(std::min<uint64_t>(n, kSeqsPerRevision));
    RDB_ASSIGN_OR_RETURN(SeqRange r, Next(take));
    out.push_back(r);
    n -= take;
  }
  return out;
}

// ---- LockGetPutSequencer ----

LockGetPutSequencer::LockGetPutSequencer(etcd::Client* client, LockGetPutOptions options,
                                         etcd::Lease lease)
    : client_(client), options_(std::move(options)), lease_(lease) {}

Result<std::unique_ptr<LockGetPutSequencer>> LockGetPutSequencer::Start(etcd::Client* client,
                                                                        LockGetPutOptions options) {
  if (options.lock_key.empty() || options.counter_key.empty())
    return Status::InvalidArgument("lock-get-put sequencer: lock and counter keys are required");
  RDB_ASSIGN_OR_RETURN(etcd::Lease lease, client->LeaseGrant(options.lease_ttl_s));
  std::unique_ptr<LockGetPutSequencer> s(
      new LockGetPutSequencer(client, std::move(options), lease));
  int64_t interval_ms = std::max<int64_t>(lease.ttl_s * 1000 / 3, 100);
  RDB_ASSIGN_OR_RETURN(s->keeper_, etcd::LeaseKeeper::Start(client, lease, interval_ms));
  return s;
}

LockGetPutSequencer::~LockGetPutSequencer() {
  if (keeper_) keeper_->Stop();
  (void)client_->LeaseRevoke(lease_.id);
}

Status LockGetPutSequencer::Lock() {
  // Create-if-absent, attached to our lease (a crashed holder's lock goes with its lease). When
  // someone holds it, retry after a short randomised pause.
  etcd::Txn txn;
  txn.compare.push_back(etcd::Compare::Absent(options_.lock_key));
  etcd::PutOptions po;
  po.lease = lease_.id;
  txn.then.push_back(etcd::TxnOp::MakePut(options_.lock_key, std::to_string(lease_.id), po));
  thread_local std::minstd_rand rng(std::random_device{}());
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(std::max<int64_t>(client_->options().timeout_ms, 1));
  int64_t pause_us = 50;
  while (true) {
    RDB_ASSIGN_OR_RETURN(etcd::TxnResult r, client_->Commit(txn));
    if (r.succeeded) return Status::OK();
    if (std::chrono::steady_clock::now() >= deadline)
      return Status::Unavailable("lock-get-put sequencer: lock " + options_.lock_key +
                                 " still held after the client's timeout");
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (pause_us + 1)));
    pause_us = std::min<int64_t>(pause_us * 2, 2000);
  }
}

Status LockGetPutSequencer::Unlock() {
  etcd::Txn txn;
  txn.compare.push_back(
      etcd::Compare::Lease(options_.lock_key, etcd::Compare::Op::kEqual, lease_.id));
  txn.then.push_back(etcd::TxnOp::MakeDelete(options_.lock_key));
  RDB_ASSIGN_OR_RETURN(etcd::TxnResult r, client_->Commit(txn));
  if (!r.succeeded)
    return Status::FailedPrecondition("lock-get-put sequencer: lost the lock " + options_.lock_key +
                                      " (lease expired?)");
  return Status::OK();
}

Result<uint64_t> LockGetPutSequencer::Next() {
  absl::MutexLock l(&mu_);
  RDB_RETURN_IF_ERROR(Lock());
  auto got = client_->Get(options_.counter_key);
  int64_t value = 0;
  Status st = got.status();
  if (st.ok() && !got->kvs.empty()) {
    auto parsed = etcd::ParseCounter(options_.counter_key, got->kvs[0].value);
    if (parsed.ok()) value = *parsed;
    st = parsed.status();
  }
  if (st.ok()) st = client_->Put(options_.counter_key, std::to_string(value + 1)).status();
  Status unlocked = Unlock();
  RDB_RETURN_IF_ERROR(st);
  RDB_RETURN_IF_ERROR(unlocked);
  return static_cast<uint64_t>(value + 1);
}

}  // namespace rdb::cluster
