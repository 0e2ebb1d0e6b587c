#pragma once

// Rows and binlog bytes per second of each destination over the last hour, for the console's
// chart: fed the destinations' running totals every few seconds (from /status), it keeps the
// last hour of samples and answers the rate between each two. A total that falls (the
// destination restarted) starts its count again.
// Thread contract: thread-safe.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace canal::console {

struct Totals {
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;
};

class RateHistory {
 public:
  static constexpr std::int64_t kWindowMs = 3600 * 1000;

  void sample(std::int64_t nowMs, const std::map<std::string, Totals>& totals);
  // {"<destination>": [{"time": ms, "rowsPerSecond": r, "bytesPerSecond": b}, ...], ...}
  std::string json() const;

 private:
  struct Point {
    std::int64_t timeMs;
    Totals totals;
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::deque<Point>> points_;
};

}  // namespace canal::console
