// rdb-client -k KEY -p PAYLOAD write   (or -f FILE, - = stdin)
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "tools/rdb-client/common.h"

namespace rdb::cli {

namespace {

// The largest payload any server accepts (payload_bytes_max is at most the batch limit).
constexpr size_t kFilePayloadBytesMax = 16u << 20;

Result<std::string> ReadPayloadFile(const std::string& path) {
  if (path == "-") {
    std::string data;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
      data.append(buf, n);
      if (data.size() > kFilePayloadBytesMax) break;
    }
    if (std::ferror(stdin)) return Status::IoError("cannot read the payload from stdin");
    if (data.size() > kFilePayloadBytesMax)
      return Status::InvalidArgument(
          "the payload on stdin is over 16 MiB, more than any server "
          "accepts");
    return data;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot open payload file " + path);
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kFilePayloadBytesMax)
      return Status::InvalidArgument("payload file " + path +
                                     " is over 16 MiB, more than any server accepts");
  }
  if (in.bad()) return Status::IoError("cannot read payload file " + path);
  return data;
}

int RunWrite(const Options& o, client::Client& c) {
  bool has_payload = o.given("payload");
  bool has_file = o.given("file");
  if (has_payload && has_file) return UsageError("-p/--payload and -f/--file exclude each other");
  if (!has_payload && !has_file)
    return UsageError("write needs a payload: -p PAYLOAD or -f FILE (- = stdin)");
  auto expected = client::Expected::Parse(o.expected);
  if (!expected.ok()) return UsageError(expected.status().message());
  std::string payload = o.payload;
  if (has_file) {
    auto data = ReadPayloadFile(o.file);
    if (!data.ok()) return Fail(data.status());
    payload = std::move(data).value();
  }
  auto r = c.Append(o.key, client::EventInput{std::move(payload), o.event_type}, *expected, o.id);
  if (!r.ok()) return Fail(r.status());
  if (o.json) {
    std::cout << "{\"seq\": " << r->first_seq << ", \"version\": " << r->first_version << "}\n";
  } else {
    std::cout << "seq=" << r->first_seq << " version=" << r->first_version << "\n";
  }
  return kExitOk;
}

}  // namespace

Verb WriteVerb() {
  return {"write", "Append an event (a PUT) to the key: -p PAYLOAD or -f FILE", {}, true, RunWrite};
}

}  // namespace rdb::cli
