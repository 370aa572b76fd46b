#include "etcd/election.h"

#include <algorithm>
#include <cstdio>

namespace rdb::etcd {

namespace {

constexpr int64_t kResyncRetryMs = 500;

Candidate FromKv(const KeyValue& kv) {
  return Candidate{kv.key, kv.value, kv.lease, kv.create_revision};
}

std::vector<Candidate> Ordered(const std::map<std::string, Candidate>& by_key) {
  std::vector<Candidate> out;
  out.reserve(by_key.size());
  for (const auto& [_, c] : by_key) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.create_revision < b.create_revision;
  });
  return out;
}

std::string LeaseHex(int64_t lease) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(lease));
  return buf;
}

}  // namespace

Result<std::vector<Candidate>> ListCandidates(Client* client, const std::string& prefix,
                                              int64_t* revision) {
  GetOptions o = GetOptions::Prefix(prefix);
  o.sort_order = SortOrder::kAscend;
  o.sort_target = SortTarget::kCreateRevision;
  RDB_ASSIGN_OR_RETURN(GetResult r, client->Get(prefix, o));
  if (revision != nullptr) *revision = r.revision;
  std::vector<Candidate> out;
  out.reserve(r.kvs.size());
  for (const auto& kv : r.kvs) out.push_back(FromKv(kv));
  return out;
}

// --- Election ---------------------------------------------------------------------------------

Election::Election(Client* client, std::string prefix)
    : client_(client), prefix_(std::move(prefix)) {}

std::optional<Candidate> Election::self() const {
  absl::MutexLock lock(&mu_);
  return self_;
}

Result<Candidate> Election::Campaign(int64_t lease, const std::string& value) {
  if (lease == 0) return Status::InvalidArgument("election campaign: a lease is required");
  std::string key = prefix_ + LeaseHex(lease);
  PutOptions put;
  put.lease = lease;
  Txn txn;
  txn.compare.push_back(Compare::Absent(key));
  txn.then.push_back(TxnOp::MakePut(key, value, put));
  txn.otherwise.push_back(TxnOp::MakeGet(key));
  RDB_ASSIGN_OR_RETURN(TxnResult r, client_->Commit(txn));
  Candidate me{key, value, lease, 0};
  if (r.succeeded) {
    me.create_revision = r.revision;
  } else {
    const auto& got = std::get<GetResult>(r.results.at(0));
    if (got.kvs.empty())  // deleted between the compare and the get: cannot happen in one txn
      return Status::Aborted("election campaign: " + key + " vanished during the campaign");
    me.create_revision = got.kvs[0].create_revision;
    me.value = got.kvs[0].value;
  }
  {
    absl::MutexLock lock(&mu_);
    self_ = me;
  }
  if (me.value != value) {
    RDB_RETURN_IF_ERROR(Proclaim(value));
    me.value = value;
  }
  return me;
}

Status Election::Proclaim(const std::string& value) {
  std::optional<Candidate> me = self();
  if (!me) return Status::FailedPrecondition("election proclaim: not campaigning");
  PutOptions put;
  put.lease = me->lease;
  Txn txn;
  txn.compare.push_back(Compare::CreateRevision(me->key, Compare::Op::kEqual, me->create_revision));
  txn.then.push_back(TxnOp::MakePut(me->key, value, put));
  RDB_ASSIGN_OR_RETURN(TxnResult r, client_->Commit(txn));
  absl::MutexLock lock(&mu_);
  if (!r.succeeded) {
    self_.reset();
    return Status::FailedPrecondition("election: " + me->key +
                                      " is gone (resigned or its lease expired)");
  }
  if (self_ && self_->key == me->key) self_->value = value;
  return Status::OK();
}

Status Election::Resign() {
  std::optional<Candidate> me = self();
  if (!me) return Status::OK();
  Txn txn;
  txn.compare.push_back(Compare::CreateRevision(me->key, Compare::Op::kEqual, me->create_revision));
  txn.then.push_back(TxnOp::MakeDelete(me->key));
  RDB_RETURN_IF_ERROR(client_->Commit(txn).status());
  absl::MutexLock lock(&mu_);
  self_.reset();
  return Status::OK();
}

Result<size_t> Election::WaitForRank(size_t max_rank, int64_t timeout_ms) {
  std::optional<Candidate> me = self();
  if (!me) return Status::FailedPrecondition("election: not campaigning");
  RDB_ASSIGN_OR_RETURN(auto observer, ElectionObserver::Start(client_, prefix_));
  size_t rank = 0;
  bool gone = false;
  bool done = observer->WaitUntil(
      [&](const std::vector<Candidate>& cs) {
        for (size_t i = 0; i < cs.size(); i++) {
          if (cs[i].key == me->key && cs[i].create_revision == me->create_revision) {
            rank = i;
            return i <= max_rank;
          }
        }
        gone = true;
        return true;
      },
      timeout_ms);
  if (!done)
    return Status::Unavailable("election: " + me->key + " did not reach rank " +
                               std::to_string(max_rank) + " within " + std::to_string(timeout_ms) +
                               " ms");
  if (gone) {
    absl::MutexLock lock(&mu_);
    self_.reset();
    return Status::FailedPrecondition("election: " + me->key +
                                      " is gone (resigned or its lease expired)");
  }
  return rank;
}

// --- ElectionObserver -------------------------------------------------------------------------

Result<std::unique_ptr<ElectionObserver>> ElectionObserver::Start(Client* client,
                                                                  std::string prefix,
                                                                  Callback on_change) {
  if (client == nullptr || prefix.empty())
    return Status::InvalidArgument("election observer: a client and a prefix are required");
  std::unique_ptr<ElectionObserver> o(
      new ElectionObserver(client, std::move(prefix), std::move(on_change)));
  RDB_RETURN_IF_ERROR(o->Resync());
  o->resync_thread_ = std::thread([p = o.get()] { p->RunResync(); });
  return o;
}

ElectionObserver::ElectionObserver(Client* client, std::string prefix, Callback on_change)
    : client_(client), prefix_(std::move(prefix)), on_change_(std::move(on_change)) {}

ElectionObserver::~ElectionObserver() { Stop(); }

void ElectionObserver::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (resync_thread_.joinable()) resync_thread_.join();
  watcher_.reset();
}

std::vector<Candidate> ElectionObserver::candidates() const {
  absl::MutexLock lock(&mu_);
  return Ordered(by_key_);
}

int64_t ElectionObserver::revision() const {
  absl::MutexLock lock(&mu_);
  return revision_;
}

bool ElectionObserver::WaitUntil(const std::function<bool(const std::vector<Candidate>&)>& pred,
                                 int64_t timeout_ms) {
  absl::MutexLock lock(&mu_);
  auto holds = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pred(Ordered(by_key_)); };
  return mu_.AwaitWithTimeout(absl::Condition(&holds), absl::Milliseconds(timeout_ms));
}

Status ElectionObserver::Resync() {
  watcher_.reset();
  int64_t revision = 0;
  RDB_ASSIGN_OR_RETURN(std::vector<Candidate> list, ListCandidates(client_, prefix_, &revision));
  {
    absl::MutexLock lock(&mu_);
    by_key_.clear();
    for (auto& c : list) by_key_[c.key] = std::move(c);
    revision_ = revision;
    resync_ = false;
  }
  Notify();
  RDB_ASSIGN_OR_RETURN(watcher_,
                       Watcher::Start(
                           client_, WatchOptions::Prefix(prefix_, revision + 1),
                           [this](const std::vector<WatchEvent>& events) { OnEvents(events); },
                           [this](const Status&) {
                             absl::MutexLock lock(&mu_);
                             resync_ = true;  // compacted: read the state again
                           }));
  return Status::OK();
}

void ElectionObserver::OnEvents(const std::vector<WatchEvent>& events) {
  {
    absl::MutexLock lock(&mu_);
    for (const auto& e : events) {
      if (e.type == WatchEvent::Type::kDelete) {
        by_key_.erase(e.kv.key);
      } else {
        by_key_[e.kv.key] = FromKv(e.kv);
      }
    }
    revision_ = events.back().kv.mod_revision;
  }
  Notify();
}

void ElectionObserver::Notify() {
  if (!on_change_) return;
  absl::MutexLock notify(&notify_mu_);
  std::vector<Candidate> list;
  int64_t revision;
  {
    absl::MutexLock lock(&mu_);
    list = Ordered(by_key_);
    revision = revision_;
  }
  on_change_(list, revision);
}

void ElectionObserver::RunResync() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || resync_; };
      mu_.Await(absl::Condition(&wake));
      if (stop_) return;
    }
    if (!Resync().ok()) {
      absl::MutexLock lock(&mu_);
      resync_ = true;  // try again after a pause
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(kResyncRetryMs));
    }
  }
}

}  // namespace rdb::etcd
