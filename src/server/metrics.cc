#include "server/metrics.h"

#include <cstdio>

namespace rdb::server {

namespace {

const char* kCodeNames[Metrics::kCodes] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

}  // namespace

const char* MethodName(Method m) {
  switch (m) {
    case Method::kAppend:
      return "Append";
    case Method::kDelete:
      return "Delete";
    case Method::kGet:
      return "Get";
    case Method::kReadStream:
      return "ReadStream";
    case Method::kReadAll:
      return "ReadAll";
    case Method::kStatus:
      return "Status";
    case Method::kSubscribe:
      return "Subscribe";
    case Method::kCommitGroupPosition:
      return "CommitGroupPosition";
    case Method::kListGroups:
      return "ListGroups";
    case Method::kAppendStream:
      return "AppendStream";
    case Method::kDeleteGroup:
      return "DeleteGroup";
    case Method::kCount:
      break;
  }
  return "?";
}

Metrics::Metrics(std::function<std::vector<Sample>()> collect) : collect_(std::move(collect)) {}

void Metrics::Observe(Method method, int grpc_code, uint64_t latency_us) {
  if (grpc_code < 0 || grpc_code >= kCodes) grpc_code = 2;  // UNKNOWN
  Series& s = series_[static_cast<size_t>(method)][grpc_code];
  s.count.fetch_add(1, std::memory_order_relaxed);
  s.sum_us.fetch_add(latency_us, std::memory_order_relaxed);
  double seconds = static_cast<double>(latency_us) / 1e6;
  for (size_t i = 0; i < kBucketsSeconds.size(); i++) {
    if (seconds <= kBucketsSeconds[i]) {
      s.buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
}

uint64_t Metrics::count(Method method, int grpc_code) const {
  return series_[static_cast<size_t>(method)][grpc_code].count.load(std::memory_order_relaxed);
}

std::string Metrics::Render() const {
  std::string out;
  out += "# HELP rdb_requests_total gRPC requests finished, by method and status code.\n";
  out += "# TYPE rdb_requests_total counter\n";
  for (size_t m = 0; m < series_.size(); m++) {
    for (int c = 0; c < kCodes; c++) {
      uint64_t n = series_[m][c].count.load(std::memory_order_relaxed);
      if (n == 0 && c != 0) continue;
      out += "rdb_requests_total{method=\"" + std::string(MethodName(static_cast<Method>(m))) +
             "\",code=\"" + kCodeNames[c] + "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP rdb_request_duration_seconds gRPC request latency, by method and status code.\n";
  out += "# TYPE rdb_request_duration_seconds histogram\n";
  for (size_t m = 0; m < series_.size(); m++) {
    for (int c = 0; c < kCodes; c++) {
      const Series& s = series_[m][c];
      uint64_t n = s.count.load(std::memory_order_relaxed);
      if (n == 0) continue;
      std::string labels = "method=\"" + std::string(MethodName(static_cast<Method>(m))) +
                           "\",code=\"" + kCodeNames[c] + "\"";
      uint64_t cumulative = 0;
      for (size_t i = 0; i < kBucketsSeconds.size(); i++) {
        cumulative += s.buckets[i].load(std::memory_order_relaxed);
        out += "rdb_request_duration_seconds_bucket{" + labels + ",le=\"" +
               Num(kBucketsSeconds[i]) + "\"} " + std::to_string(cumulative) + "\n";
      }
      out += "rdb_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
             std::to_string(n) + "\n";
      out += "rdb_request_duration_seconds_sum{" + labels + "} " +
             Num(static_cast<double>(s.sum_us.load(std::memory_order_relaxed)) / 1e6) + "\n";
      out += "rdb_request_duration_seconds_count{" + labels + "} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP rdb_requests_in_flight Requests being served now.\n";
  out += "# TYPE rdb_requests_in_flight gauge\n";
  out += "rdb_requests_in_flight " + std::to_string(in_flight_.load()) + "\n";
  out += "# HELP rdb_subscribers Open Subscribe streams.\n";
  out += "# TYPE rdb_subscribers gauge\n";
  out += "rdb_subscribers " + std::to_string(subscribers_.load()) + "\n";
  out += "# HELP rdb_cdc_changes_sent_total Changes sent on Subscribe streams.\n";
  out += "# TYPE rdb_cdc_changes_sent_total counter\n";
  out += "rdb_cdc_changes_sent_total " + std::to_string(changes_sent_.load()) + "\n";
  if (collect_) {
    for (const Sample& s : collect_()) {
      out += "# HELP " + s.name + " " + s.help + "\n";
      out += "# TYPE " + s.name + (s.counter ? " counter\n" : " gauge\n");
      out += s.name + " " + Num(s.value) + "\n";
    }
  }
  return out;
}

}  // namespace rdb::server
