#include "server/console/rate_history.h"

#include <nlohmann/json.hpp>

namespace canal::console {

void RateHistory::sample(std::int64_t nowMs, const std::map<std::string, Totals>& totals) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = points_.begin(); it != points_.end();) {
    it = totals.count(it->first) ? std::next(it) : points_.erase(it);  // a destination gone
  }
  for (const auto& [name, t] : totals) {
    auto& points = points_[name];
    points.push_back(Point{nowMs, t});
    while (points.size() > 1 && nowMs - points.front().timeMs > kWindowMs) points.pop_front();
  }
}

std::string RateHistory::json() const {
  nlohmann::json out = nlohmann::json::object();
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, points] : points_) {
    nlohmann::json rates = nlohmann::json::array();
    for (std::size_t i = 1; i < points.size(); ++i) {
      const Point& a = points[i - 1];
      const Point& b = points[i];
      const double seconds = static_cast<double>(b.timeMs - a.timeMs) / 1000.0;
      if (seconds <= 0) continue;
      const auto rate = [&](std::uint64_t from, std::uint64_t to) {
        return static_cast<double>(to >= from ? to - from : to) / seconds;  // a restart counts from 0
      };
      rates.push_back({{"time", b.timeMs},
                       {"rowsPerSecond", rate(a.totals.rows, b.totals.rows)},
                       {"bytesPerSecond", rate(a.totals.bytes, b.totals.bytes)}});
    }
    out[name] = std::move(rates);
  }
  return out.dump();
}

}  // namespace canal::console
