#include "cdc/groups.h"

#include <algorithm>
#include <charconv>

#include "cdc/change.h"
#include "engine/sequencer.h"

namespace rdb::cdc {

namespace {

Result<uint64_t> ParseSeq(const std::string& name, std::string_view payload) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), v);
  if (ec != std::errc() || p != payload.data() + payload.size() || payload.empty()) {
    return Status::Corruption("consumer group '" + name + "' has an undecodable position");
  }
  return v;
}

Result<AppendResult> Put(Engine* engine, const std::string& key, std::string payload,
                         ExpectedVersion expected) {
  AppendRequest req;
  req.key = key;
  req.events.push_back(EventData{EventKind::kPut, "", std::move(payload)});
  req.expected = expected;
  req.system = true;
  return engine->Append(std::move(req));
}

ExpectedVersion Expect(uint64_t version) {
  return version == 0 ? ExpectedVersion::NoStream() : ExpectedVersion::Exact(version);
}

}  // namespace

GroupStore::GroupStore(Engine* engine, GroupStoreOptions options)
    : engine_(engine), options_(std::move(options)) {}

Result<std::optional<GroupPosition>> GroupStore::Get(const std::string& name) {
  RDB_RETURN_IF_ERROR(ValidateGroupName(name));
  Result<Event> e = engine_->Get(Key(name));
  if (e.status().IsNotFound()) return std::optional<GroupPosition>();
  if (!e.ok()) return e.status();
  RDB_ASSIGN_OR_RETURN(uint64_t seq, ParseSeq(name, e->payload));
  return std::optional<GroupPosition>(GroupPosition{name, seq, e->timestamp_ms});
}

Result<std::vector<std::string>> GroupStore::ReadRegistry(uint64_t* version) {
  RDB_ASSIGN_OR_RETURN(KeyState ks, engine_->GetKeyState(options_.registry_key));
  *version = ks.version;
  std::vector<std::string> names;
  if (ks.version == 0 || ks.kind != EventKind::kPut) return names;
  RDB_ASSIGN_OR_RETURN(Event e, engine_->Get(options_.registry_key));
  *version = e.version;
  std::string_view rest = e.payload;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    names.emplace_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  return names;
}

Status GroupStore::WriteRegistry(const std::vector<std::string>& names, uint64_t version) {
  std::string payload;
  for (const std::string& n : names) {
    if (!payload.empty()) payload += '\n';
    payload += n;
  }
  return Put(engine_, options_.registry_key, std::move(payload), Expect(version)).status();
}

Result<uint64_t> GroupStore::Commit(const std::string& name, uint64_t seq) {
  RDB_RETURN_IF_ERROR(ValidateGroupName(name));
  if (options_.bounded_by_local_log) {
    const uint64_t last = engine_->last_seq();
    if (seq > last) {
      return Status::InvalidArgument("cannot commit seq " + std::to_string(seq) + " for group '" +
                                     name + "': the log's last seq is " + std::to_string(last));
    }
  } else if (seq > kSeqMax) {
    return Status::InvalidArgument("cannot commit seq " + std::to_string(seq) + " for group '" +
                                   name + "': seqs are at most " + std::to_string(kSeqMax));
  }
  std::lock_guard lock(write_mu_);
  RDB_ASSIGN_OR_RETURN(KeyState ks, engine_->GetKeyState(Key(name)));
  if (ks.version > 0 && ks.kind == EventKind::kPut) {
    RDB_ASSIGN_OR_RETURN(std::optional<GroupPosition> cur, Get(name));
    if (cur && seq < cur->seq) {
      return Status::FailedPrecondition("consumer group '" + name + "' is at seq " +
                                        std::to_string(cur->seq) + "; committing " +
                                        std::to_string(seq) + " would move it backwards");
    }
    if (cur && seq == cur->seq) return seq;
  } else {
    // A new group (or one deleted earlier): register its name before its first position.
    uint64_t reg_version = 0;
    RDB_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadRegistry(&reg_version));
    if (!std::binary_search(names.begin(), names.end(), name)) {
      if (names.size() >= kGroupsMax) {
        return Status::ResourceExhausted("there are already " + std::to_string(names.size()) +
                                         " consumer groups (groups_max)");
      }
      names.insert(std::upper_bound(names.begin(), names.end(), name), name);
      RDB_RETURN_IF_ERROR(WriteRegistry(names, reg_version));
    }
  }
  RDB_RETURN_IF_ERROR(Put(engine_, Key(name), std::to_string(seq), Expect(ks.version)).status());
  return seq;
}

Result<std::vector<GroupPosition>> GroupStore::List() {
  uint64_t version = 0;
  RDB_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadRegistry(&version));
  std::vector<GroupPosition> out;
  for (const std::string& n : names) {
    RDB_ASSIGN_OR_RETURN(std::optional<GroupPosition> g, Get(n));
    if (g) out.push_back(std::move(*g));
  }
  return out;
}

Status GroupStore::Delete(const std::string& name) {
  RDB_RETURN_IF_ERROR(ValidateGroupName(name));
  std::lock_guard lock(write_mu_);
  RDB_ASSIGN_OR_RETURN(KeyState ks, engine_->GetKeyState(Key(name)));
  if (ks.version == 0 || ks.kind != EventKind::kPut) {
    return Status::NotFound("consumer group '" + name + "' not found");
  }
  AppendRequest req;
  req.key = Key(name);
  req.events.push_back(EventData{EventKind::kDelete, "", ""});
  req.expected = ExpectedVersion::Exact(ks.version);
  req.system = true;
  RDB_RETURN_IF_ERROR(engine_->Append(std::move(req)).status());
  uint64_t reg_version = 0;
  RDB_ASSIGN_OR_RETURN(std::vector<std::string> names, ReadRegistry(&reg_version));
  auto it = std::lower_bound(names.begin(), names.end(), name);
  if (it != names.end() && *it == name) {
    names.erase(it);
    RDB_RETURN_IF_ERROR(WriteRegistry(names, reg_version));
  }
  return Status::OK();
}

GroupStore::Lease::~Lease() {
  std::lock_guard lock(store_->active_mu_);
  store_->active_.erase(name_);
}

Result<std::unique_ptr<GroupStore::Lease>> GroupStore::Acquire(const std::string& name) {
  RDB_RETURN_IF_ERROR(ValidateGroupName(name));
  std::lock_guard lock(active_mu_);
  if (!active_.insert(name).second) {
    return Status::FailedPrecondition("consumer group '" + name +
                                      "' already has an active subscriber");
  }
  return std::unique_ptr<Lease>(new Lease(this, name));
}

bool GroupStore::IsActive(const std::string& name) const {
  std::lock_guard lock(active_mu_);
  return active_.count(name) > 0;
}

}  // namespace rdb::cdc
