#include "base/status.h"

#include <cstdio>
#include <cstdlib>

namespace rdb {

namespace internal {
void CheckFailed(const char* file, int line, const char* expr) {
  std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, expr);
  std::fflush(stderr);
  std::abort();
}
}  // namespace internal

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "NotFound";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kFailedPrecondition:
      return "FailedPrecondition";
    case Code::kCorruption:
      return "Corruption";
    case Code::kIoError:
      return "IOError";
    case Code::kNoSpace:
      return "NoSpace";
    case Code::kResourceExhausted:
      return "ResourceExhausted";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kNotSupported:
      return "NotSupported";
    case Code::kAborted:
      return "Aborted";
  }
  return "Unknown";
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return *this;
  Status s(code_, std::string(context) + ": " + message_);
  s.actual_version_ = actual_version_;
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace rdb
