// rdb-client -k KEY read: the payload bytes exactly (a newline only when stdout is a terminal).
#include <unistd.h>

#include <iostream>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

int RunRead(const Options& o, client::Client& c) {
  auto r = c.Get(o.key);
  if (!r.ok()) return Fail(r.status());
  if (o.json) {
    std::cout << EventJson(*r) << "\n";
    return kExitOk;
  }
  WriteStdout(r->payload);
  if (isatty(STDOUT_FILENO)) WriteStdout("\n");
  return kExitOk;
}

}  // namespace

Verb ReadVerb() {
  return {"read",
          "Print the key's latest value (exit 1 if absent or deleted)",
          {"stale"},
          true,
          RunRead};
}

}  // namespace rdb::cli
