// Status and Result<T>: the error channel of every I/O path in RDeeBee.
//
// A Status is a code plus a human-readable message. Functions that can fail return Status or
// Result<T>, both [[nodiscard]]; exceptions never cross a module boundary. The one table of codes
// is here; server/ maps it to gRPC codes in exactly one function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/check.h"

namespace rdb {

enum class Code : uint8_t {
  kOk = 0,
  kNotFound,            // the key, file or record does not exist
  kInvalidArgument,     // the request is malformed or breaks a limit
  kFailedPrecondition,  // expected version mismatch, backwards commit, wrong state
  kCorruption,          // stored bytes fail their checksum or do not decode
  kIoError,             // the operating system refused an I/O call
  kNoSpace,             // ENOSPC: the disk is full
  kResourceExhausted,   // a bounded queue or budget is full
  kUnavailable,         // shutting down, or not ready yet
  kAlreadyExists,       // e.g. another process holds the data directory lock
  kNotSupported,        // e.g. a data directory written by an incompatible format version
  kAborted,  // retried internally or abandoned (e.g. a write error made the log read-only)
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status FailedPrecondition(std::string msg) {
    return Status(Code::kFailedPrecondition, std::move(msg));
  }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status NoSpace(std::string msg) { return Status(Code::kNoSpace, std::move(msg)); }
  static Status ResourceExhausted(std::string msg) {
    return Status(Code::kResourceExhausted, std::move(msg));
  }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status AlreadyExists(std::string msg) {
    return Status(Code::kAlreadyExists, std::move(msg));
  }
  static Status NotSupported(std::string msg) {
    return Status(Code::kNotSupported, std::move(msg));
  }
  static Status Aborted(std::string msg) { return Status(Code::kAborted, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }

  // A structured detail: for kFailedPrecondition on an expected-version mismatch, the key's actual
  // version (0 = no events). Absent otherwise.
  std::optional<uint64_t> actual_version() const { return actual_version_; }
  Status& WithActualVersion(uint64_t v) {
    actual_version_ = v;
    return *this;
  }

  // Prefixes the message with context, e.g. the file name: "000012.log: checksum mismatch...".
  Status Annotate(std::string_view context) const;

  // "<CodeName>: <message>", or "OK".
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::optional<uint64_t> actual_version_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    RDB_CHECK(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & {
    RDB_CHECK(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    RDB_CHECK(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    RDB_CHECK(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace rdb

// Returns early with the status if it is not OK.
#define RDB_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::rdb::Status rdb_status_ = (expr);        \
    if (!rdb_status_.ok()) return rdb_status_; \
  } while (0)

#define RDB_CONCAT_INNER(a, b) a##b
#define RDB_CONCAT(a, b) RDB_CONCAT_INNER(a, b)
#define RDB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

// RDB_ASSIGN_OR_RETURN(auto x, Foo()); — assigns the value or returns the error.
#define RDB_ASSIGN_OR_RETURN(lhs, expr) \
  RDB_ASSIGN_OR_RETURN_IMPL(RDB_CONCAT(rdb_result_, __LINE__), lhs, expr)
