// rdb-client: RDeeBee's command-line client (CONTRACT.md "rdb-client").
//
//   rdb-client -k KEY -p PAYLOAD write     rdb-client -k KEY read     rdb-client -k KEY delete
//   rdb-client -k KEY history [--from-version V] [--backward] [--limit N] [--stale]
//   rdb-client scan [--from SEQ] [--limit N]     rdb-client status
//   rdb-client subscribe [--from earliest|latest|SEQ] [--prefix P]... [--type T]... [--group G]
//                        [--before] [--count N]
//   rdb-client groups [--delete G]     rdb-client members
//   rdb-client import [-f FILE]   (JSON lines, as scan --json prints them)
//
// Options may come before or after the verb. Each verb lives in its own file (write.cc, ...) and is
// listed in Verbs() below.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>

#include "tools/rdb-client/common.h"

namespace rdb::cli {
namespace {

std::vector<Verb> Verbs() {
  return {
      WriteVerb(),  ReadVerb(),      DeleteVerb(), HistoryVerb(), ScanVerb(),
      StatusVerb(), SubscribeVerb(), GroupsVerb(), MembersVerb(), ImportVerb(),
  };
}

constexpr char kFooter[] = R"(Examples:
  rdb-client -k Deep -p "First write" write
  rdb-client -k Deep read
  rdb-client -k Deep history --json
  rdb-client subscribe --from latest --prefix order/ --json
  rdb-client subscribe --group billing --count 100
  rdb-client groups
  rdb-client members
  rdb-client scan --json --server A:2048 | rdb-client import --server B:2048
Server: --server HOST:PORT, else SERVER_IP / SERVER_PORT, else 127.0.0.1:2048.
Exit codes: 0 ok; 1 not found or precondition failed (expected version mismatch, busy consumer
group, backwards group commit); 2 any other error (usage included).)";

// Adds the verb options to `app` (the main app, hidden, or a verb's subcommand).
void AddVerbOptions(CLI::App* app, Options* o, const std::vector<std::string>& names, bool hidden,
                    std::map<std::string, std::vector<CLI::Option*>>* opts) {
  auto add = [&](const std::string& name, CLI::Option* opt) {
    if (hidden) opt->group("");
    (*opts)[name].push_back(opt);
  };
  for (const std::string& n : names) {
    if (n == "from-version")
      add(n, app->add_option("--from-version", o->from_version,
                             "First version (forward: 0 = the first; backward: 0 = the last)"));
    if (n == "backward") add(n, app->add_flag("--backward", o->backward, "Newest first"));
    if (n == "stale")
      add(n, app->add_flag("--stale", o->stale,
                           "Cluster: read the asked node's own copy (may be behind leader 1) "
                           "instead of a linearizable read from leader 1"));
    if (n == "limit")
      add(n, app->add_option("--limit", o->limit, "At most N events (default 1000, max 10000)")
                 ->check(CLI::Range(1u, kLimitMax)));
    if (n == "from")
      add(n, app->add_option("--from", o->from,
                             "scan: first seq, inclusive (default: the start); subscribe: "
                             "earliest (default), latest, or the last seq processed"));
    if (n == "prefix")
      add(n, app->add_option("--prefix", o->prefixes, "Only keys with this prefix (repeatable)"));
    if (n == "group")
      add(n, app->add_option("--group", o->group,
                             "Consumer group: resume after its position, commit as it goes"));
    if (n == "before") add(n, app->add_flag("--before", o->before, "Include the previous value"));
    if (n == "count")
      add(n,
          app->add_option("--count", o->count, "Exit after N changes")->check(CLI::PositiveNumber));
    if (n == "delete")
      add(n, app->add_option("--delete", o->delete_group, "Delete this consumer group"));
  }
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{"rdb-client: the command-line client of RDeeBee, an event database.", "rdb-client"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  std::map<std::string, std::vector<CLI::Option*>> opts;
  auto global = [&](const std::string& name, CLI::Option* opt) { opts[name].push_back(opt); };
  global("key", app.add_option("-k,--key", o.key, "The key (1..1024 bytes)"));
  global("payload", app.add_option("-p,--payload", o.payload, "The payload to write"));
  global("file", app.add_option("-f,--file", o.file, "Read the payload from FILE (- = stdin)"));
  global("type", app.add_option("--type", o.event_types,
                                "Event type, e.g. OrderPlaced (subscribe: a filter, repeatable)"));
  global("id", app.add_option("--id", o.id, "Idempotency id: a retry with it writes nothing"));
  global("expected-version",
         app.add_option("--expected-version", o.expected,
                        "any (default), none (the key has no events) or a version N"));
  global("server", app.add_option("--server", o.server, "HOST:PORT of the server"));
  global("json", app.add_flag("--json", o.json, "One JSON object per line"));
  global("timeout", app.add_option("--timeout", o.timeout_seconds,
                                   "Seconds to wait for the server (default 10)")
                        ->check(CLI::PositiveNumber));
  global("no-direct",
         app.add_flag("--no-direct", o.no_direct,
                      "Cluster: send keyed requests through --server (it forwards them) instead "
                      "of straight to their group's leader 1"));
  const std::vector<std::string> kVerbOptions = {"from-version", "backward", "limit",  "from",
                                                 "prefix",       "group",    "before", "count",
                                                 "delete",       "stale"};
  AddVerbOptions(&app, &o, kVerbOptions, /*hidden=*/true, &opts);

  std::vector<Verb> verbs = Verbs();
  std::map<std::string, CLI::App*> subs;
  for (const Verb& v : verbs) {
    CLI::App* sub = app.add_subcommand(v.name, v.description);
    sub->footer(std::string("Global options (before or after the verb): -k, -p, -f, --type, --id,\n"
                            "--expected-version, --server, --json, --timeout, --no-direct; see\n"
                            "rdb-client --help.\n") +
                kFooter);
    AddVerbOptions(sub, &o, v.verb_options, /*hidden=*/false, &opts);
    subs[v.name] = sub;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitError;
  }
  o.given = [&opts](const std::string& name) {
    auto it = opts.find(name);
    if (it == opts.end()) return false;
    for (CLI::Option* opt : it->second)
      if (opt->count() > 0) return true;
    return false;
  };

  const Verb* verb = nullptr;
  for (const Verb& v : verbs)
    if (subs[v.name]->parsed()) verb = &v;
  if (verb == nullptr)
    return UsageError(
        "a verb is needed: write, read, delete, history, scan, status, subscribe, groups, "
        "members, import");
  for (const std::string& name : kVerbOptions) {
    bool accepted = std::find(verb->verb_options.begin(), verb->verb_options.end(), name) !=
                    verb->verb_options.end();
    if (o.given(name) && !accepted)
      return UsageError("--" + name + " does not apply to " + verb->name);
  }
  if (verb->needs_key && !o.given("key")) return UsageError(verb->name + " needs a key: -k KEY");
  if (!verb->needs_key && o.given("key")) return UsageError("-k does not apply to " + verb->name);
  if (verb->name != "write" && verb->name != "delete" &&
      (o.given("id") || o.given("expected-version")))
    return UsageError("--id and --expected-version apply to write and delete only");
  if (verb->name != "write" && o.given("payload")) return UsageError("-p applies to write only");
  if (verb->name != "write" && verb->name != "import" && o.given("file"))
    return UsageError("-f applies to write and import only");
  if (verb->name != "write" && verb->name != "subscribe" && o.given("type"))
    return UsageError("--type applies to write and subscribe only");
  if (verb->name == "write" && o.event_types.size() > 1)
    return UsageError("write takes one --type");
  if (!o.event_types.empty()) o.event_type = o.event_types.front();

  client::ClientOptions co;
  co.timeout_seconds = o.timeout_seconds;
  co.stale_reads = o.stale;
  // Keyed requests go straight to their group's leader 1 in a cluster (one member-map read first;
  // a single node, or a map that cannot be read, keeps everything on --server).
  co.route_direct = !o.no_direct;
  std::string address = o.server.empty() ? client::DefaultServerAddress() : o.server;
  const char* trace = std::getenv("TRACE_LEVEL");
  if (trace != nullptr && (std::string(trace) == "debug" || std::string(trace) == "trace"))
    std::cerr << "rdb-client: " << verb->name << " via " << address << "\n";
  auto c = client::Client::Connect(address, co);
  if (!c.ok()) return Fail(c.status());
  return verb->run(o, **c);
}

}  // namespace
}  // namespace rdb::cli

int main(int argc, char** argv) { return rdb::cli::Main(argc, argv); }
