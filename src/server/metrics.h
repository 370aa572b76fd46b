// Metrics: the server's Prometheus counters and latency histograms, rendered in the text
// exposition format (version 0.0.4) for GET /metrics (http_server.h).
//
// Request series are labelled by method and gRPC code. They are fixed arrays of atomics (no lock on
// the request path); engine gauges and counters are read at scrape time through a callback.
//
// Thread-safety: Observe and Render may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace rdb::server {

enum class Method : uint8_t {
  kAppend,
  kDelete,
  kGet,
  kReadStream,
  kReadAll,
  kStatus,
  kSubscribe,  // observed when the stream ends; latency = the stream's lifetime
  kCommitGroupPosition,
  kListGroups,
  kDeleteGroup,
  kAppendStream,  // observed per request on the stream (AppendStreamRequest), not per stream
  kCount
};
const char* MethodName(Method m);

// A sample from the engine and the server, collected at scrape time.
struct Sample {
  std::string name;  // e.g. "rdb_log_syncs_total"
  std::string help;
  bool counter = false;  // else gauge
  double value = 0;
};

class Metrics {
 public:
  // Latency bucket upper bounds, seconds (Prometheus "le").
  static constexpr std::array<double, 18> kBucketsSeconds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  static constexpr int kCodes = 17;  // gRPC status codes 0..16

  explicit Metrics(std::function<std::vector<Sample>()> collect = nullptr);

  // Records one finished request.
  void Observe(Method method, int grpc_code, uint64_t latency_us);
  // Requests currently being served (a gauge).
  void AddInFlight(int delta) { in_flight_.fetch_add(delta, std::memory_order_relaxed); }

  // Change data capture: open Subscribe streams (a gauge) and changes sent on them (a counter).
  void AddSubscribers(int delta) { subscribers_.fetch_add(delta, std::memory_order_relaxed); }
  void AddChangesSent(uint64_t n) { changes_sent_.fetch_add(n, std::memory_order_relaxed); }
  int64_t subscribers() const { return subscribers_.load(std::memory_order_relaxed); }
  uint64_t changes_sent() const { return changes_sent_.load(std::memory_order_relaxed); }

  uint64_t count(Method method, int grpc_code) const;
  std::string Render() const;

 private:
  struct Series {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> sum_us{0};
    std::array<std::atomic<uint64_t>, kBucketsSeconds.size()> buckets{};
  };
  std::array<std::array<Series, kCodes>, static_cast<size_t>(Method::kCount)> series_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> subscribers_{0};
  std::atomic<uint64_t> changes_sent_{0};
  std::function<std::vector<Sample>()> collect_;
};

}  // namespace rdb::server
