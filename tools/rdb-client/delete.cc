// rdb-client -k KEY delete: appends a DELETE event (exit 1 if the key is absent: nothing written).
#include <iostream>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

int RunDelete(const Options& o, client::Client& c) {
  auto expected = client::Expected::Parse(o.expected);
  if (!expected.ok()) return UsageError(expected.status().message());
  auto r = c.Delete(o.key, *expected, o.id);
  if (!r.ok()) return Fail(r.status());
  if (o.json) {
    std::cout << "{\"seq\": " << r->first_seq << ", \"version\": " << r->first_version << "}\n";
  } else {
    std::cout << "seq=" << r->first_seq << " version=" << r->first_version << "\n";
  }
  return kExitOk;
}

}  // namespace

Verb DeleteVerb() {
  return {
      "delete", "Delete the key (appends a DELETE event; history is kept)", {}, true, RunDelete};
}

}  // namespace rdb::cli
