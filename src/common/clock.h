// Clock seam: production code reads time through a Clock so tests can move it.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

namespace sluice {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // The process-wide real steady clock.
  static Clock* Real();
};

// A clock that only moves when told. For tests.
class FakeClock : public Clock {
 public:
  TimePoint Now() const override { return TimePoint(std::chrono::nanoseconds(now_ns_.load())); }
  void Advance(std::chrono::nanoseconds d) { now_ns_ += d.count(); }

 private:
  std::atomic<int64_t> now_ns_{1'000'000'000};
};

}  // namespace sluice
