// How rdb-bench reports a latency histogram: as JSON (microseconds) and as a text line
// (milliseconds). Shared by every workload so their outputs have the same fields.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/histogram.h"

namespace rdb::bench {

inline nlohmann::ordered_json LatencyJson(const Histogram& h) {
  nlohmann::ordered_json j;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  j["count"] = h.count();
  j["p50"] = us(h.Percentile(50));
  j["p90"] = us(h.Percentile(90));
  j["p99"] = us(h.Percentile(99));
  j["p999"] = us(h.Percentile(99.9));
  j["max"] = us(h.max());
  j["mean"] = h.mean() / 1000.0;
  return j;
}

inline void PrintLatency(const char* name, const Histogram& h) {
  if (h.count() == 0) return;
  auto ms = [](uint64_t ns) { return static_cast<double>(ns) / 1e6; };
  std::printf("%-8s latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p999 %.3f  max %.3f  mean %.3f\n",
              name, ms(h.Percentile(50)), ms(h.Percentile(90)), ms(h.Percentile(99)),
              ms(h.Percentile(99.9)), ms(h.max()), h.mean() / 1e6);
}

}  // namespace rdb::bench
