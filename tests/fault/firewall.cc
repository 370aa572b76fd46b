#include "tests/fault/firewall.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <sstream>

#include "base/check.h"
#include "tests/support/subprocess.h"

namespace rdb::fault {

namespace {

constexpr const char* kIptables = "/usr/sbin/iptables";
constexpr const char* kTagPrefix = "rdb-fault-";
constexpr int kIptablesTimeoutMs = 30000;

Status Run(std::vector<std::string> args) {
  // -w: wait for the xtables lock (other harnesses, other tools) instead of failing.
  args.insert(args.begin(), {kIptables, "-w", "5"});
  test::ProcessResult r = test::RunProcess(args, {}, "", kIptablesTimeoutMs);
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    return Status::IoError(cmd + "failed (exit " + std::to_string(r.exit_code) + "): " + r.err);
  }
  return Status::OK();
}

// The chain's rules as `iptables -S OUTPUT` prints them ("-A OUTPUT -d ... -j DROP").
Result<std::vector<std::string>> ListOutput() {
  test::ProcessResult r =
      test::RunProcess({kIptables, "-w", "5", "-S", "OUTPUT"}, {}, "", kIptablesTimeoutMs);
  if (r.exit_code != 0) return Status::IoError("iptables -S OUTPUT failed: " + r.err);
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The tag of a listed rule ("" if it has none of ours).
std::string TagOf(const std::vector<std::string>& words) {
  for (size_t i = 0; i + 1 < words.size(); i++) {
    if (words[i] == "--comment" && words[i + 1].rfind(kTagPrefix, 0) == 0) return words[i + 1];
  }
  return "";
}

Status DeleteListed(std::vector<std::string> words) {
  if (words.size() < 2 || words[0] != "-A") return Status::OK();
  words[0] = "-D";
  return Run(words);
}

}  // namespace

Status Firewall::Available() {
  if (geteuid() != 0) {
    return Status::FailedPrecondition(
        "network partitions need root (iptables rules on loopback); run rdb-fault as root, as CI "
        "does");
  }
  if (access(kIptables, X_OK) != 0) {
    return Status::FailedPrecondition(std::string(kIptables) +
                                      " is missing: install Debian's iptables (make deps)");
  }
  Result<std::vector<std::string>> rules = ListOutput();
  if (!rules.ok()) return rules.status();
  return Status::OK();
}

std::string Firewall::Tag(pid_t pid) { return kTagPrefix + std::to_string(pid); }

Result<int> Firewall::RemoveStale() {
  RDB_ASSIGN_OR_RETURN(std::vector<std::string> lines, ListOutput());
  int removed = 0;
  for (const std::string& line : lines) {
    std::vector<std::string> words = Split(line);
    const std::string tag = TagOf(words);
    if (tag.empty()) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(tag.substr(std::string(kTagPrefix).size())));
    if (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)) continue;  // its harness still runs
    RDB_RETURN_IF_ERROR(DeleteListed(words));
    removed++;
  }
  return removed;
}

Status Firewall::RemoveTagged(const std::string& tag) {
  RDB_ASSIGN_OR_RETURN(std::vector<std::string> lines, ListOutput());
  Status first;
  for (const std::string& line : lines) {
    std::vector<std::string> words = Split(line);
    if (TagOf(words) != tag) continue;
    Status s = DeleteListed(words);
    if (first.ok()) first = s;
  }
  return first;
}

Firewall::Firewall() : tag_(Tag(getpid())) {}

Firewall::~Firewall() { (void)RemoveAll(); }

std::vector<std::string> Firewall::Spec(const DropRule& rule) const {
  return {"OUTPUT",
          "-o",
          "lo",
          "-p",
          "tcp",
          "-d",
          rule.address,
          "--dport",
          std::to_string(rule.port),
          "-m",
          "owner",
          "--uid-owner",
          std::to_string(rule.uid),
          "-m",
          "comment",
          "--comment",
          tag_,
          "-j",
          "DROP"};
}

Status Firewall::Drop(const DropRule& rule) {
  std::lock_guard lock(mu_);
  if (std::find(rules_.begin(), rules_.end(), rule) != rules_.end()) return Status::OK();
  RDB_CHECK(rules_.size() < kFirewallRulesMax);
  std::vector<std::string> args = Spec(rule);
  args.insert(args.begin(), "-A");
  RDB_RETURN_IF_ERROR(Run(args));
  rules_.push_back(rule);
  return Status::OK();
}

Status Firewall::Heal(const DropRule& rule) {
  std::lock_guard lock(mu_);
  auto it = std::find(rules_.begin(), rules_.end(), rule);
  if (it == rules_.end()) return Status::OK();
  std::vector<std::string> args = Spec(rule);
  args.insert(args.begin(), "-D");
  RDB_RETURN_IF_ERROR(Run(args));
  rules_.erase(it);
  return Status::OK();
}

Status Firewall::RemoveAll() {
  std::lock_guard lock(mu_);
  rules_.clear();
  // From the listing, so a rule whose -D failed earlier goes too.
  return RemoveTagged(tag_);
}

size_t Firewall::size() const {
  std::lock_guard lock(mu_);
  return rules_.size();
}

}  // namespace rdb::fault
