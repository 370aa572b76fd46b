// The injectable clock. Production code takes a Clock* so tests can drive time deterministically.
#pragma once

#include <atomic>
#include <cstdint>

namespace rdb {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (event timestamps).
  virtual uint64_t NowMillis() = 0;
  // Monotonic microseconds, for durations and deadlines.
  virtual uint64_t NowMicros() = 0;

  // The process-wide real clock. Never null; lives forever.
  static Clock* Real();
};

// A clock that moves only when told to. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(uint64_t start_ms = 1'700'000'000'000) : micros_(start_ms * 1000) {}
  uint64_t NowMillis() override { return micros_.load() / 1000; }
  uint64_t NowMicros() override { return micros_.load(); }
  void AdvanceMicros(uint64_t d) { micros_.fetch_add(d); }

 private:
  std::atomic<uint64_t> micros_;
};

}  // namespace rdb
