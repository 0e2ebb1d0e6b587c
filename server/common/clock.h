#pragma once

// Where time comes from: wall-clock milliseconds as Canal's figures use them (since the Unix
// epoch), from the system or, in tests, from a clock moved by hand. Parts that report times
// (the binlog pump's figures) take a Clock; the rest call wallClockMs().
// Thread contract: thread-safe.

#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdint>

namespace canal {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t wallMs() const = 0;
  // wallMs() to the system's tick (a few milliseconds), where that is cheaper to read: for what
  // is stamped on every binlog event.
  virtual std::int64_t coarseWallMs() const { return wallMs(); }
  // The system's clock.
  static const Clock& system();
};

inline std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class SystemClock final : public Clock {
 public:
  std::int64_t wallMs() const override { return wallClockMs(); }
  std::int64_t coarseWallMs() const override {
    timespec t{};
    clock_gettime(CLOCK_REALTIME_COARSE, &t);
    return std::int64_t{t.tv_sec} * 1000 + t.tv_nsec / 1000000;
  }
};

inline const Clock& Clock::system() {
  static const SystemClock clock;
  return clock;
}

// A clock that stands still until moved.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t wallMs) : now_(wallMs) {}
  std::int64_t wallMs() const override { return now_.load(); }
  void advance(std::chrono::milliseconds by) { now_ += by.count(); }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace canal
