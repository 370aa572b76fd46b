// Network partitions on loopback for rdb-fault: iptables rules in the OUTPUT chain that drop the
// TCP packets one uid sends to one address:port on `lo`.
//
// Linux gives every loopback connection the source address 127.0.0.1, so rules cannot tell nodes
// apart by source. Each node therefore runs under a uid of its own and listens on an address of
// its own; a rule `-o lo -m owner --uid-owner U -d ADDR -p tcp --dport PORT -j DROP` cuts what
// that uid sends there and leaves every other process alone. Every rule carries the comment
// `rdb-fault-<pid of the harness>`: RemoveAll() removes this process's rules (also from the
// SIGINT/SIGTERM handler of rdb-fault), RemoveStale() those of harnesses that are gone.
//
// Needs root and /usr/sbin/iptables (Debian `iptables`). Thread-safe (calls are serialized).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"

namespace rdb::fault {

// Most rules one harness holds at once (an RDB_CHECK beyond it): a group cut of a node with
// 15 peers is 30 rules.
inline constexpr size_t kFirewallRulesMax = 512;

struct DropRule {
  uint32_t uid = 0;
  std::string address;  // an IPv4 address on 127.0.0.0/8
  int port = 0;

  bool operator==(const DropRule& o) const {
    return uid == o.uid && address == o.address && port == o.port;
  }
};

class Firewall {
 public:
  // OK if this process can change the rules (root, iptables installed), else why not.
  static Status Available();
  // The tag of this process's rules: "rdb-fault-<pid>".
  static std::string Tag(pid_t pid);
  // Removes every rule tagged rdb-fault-<pid> whose process no longer exists. Returns how many.
  static Result<int> RemoveStale();
  // Removes every rule carrying `tag`, found by listing the chain (so it works without any state:
  // from a signal-handling thread, or after a crash).
  static Status RemoveTagged(const std::string& tag);

  Firewall();
  ~Firewall();  // RemoveAll()
  Firewall(const Firewall&) = delete;
  Firewall& operator=(const Firewall&) = delete;

  const std::string& tag() const { return tag_; }
  // Adds the rule (once: adding a rule that is in place again is a no-op).
  Status Drop(const DropRule& rule);
  // Removes the rule if this Firewall added it.
  Status Heal(const DropRule& rule);
  // Removes every rule of this process.
  Status RemoveAll();
  size_t size() const;

 private:
  std::vector<std::string> Spec(const DropRule& rule) const;

  const std::string tag_;
  mutable std::mutex mu_;
  std::vector<DropRule> rules_;  // guarded by mu_
};

}  // namespace rdb::fault
