#include "auth_throttle.h"

#include <algorithm>

namespace canal::http {

AuthThrottle::AuthThrottle(AuthThrottleOptions options)
    : options_(options), all_{static_cast<double>(options.globalBurst), Clock::now()} {}

void AuthThrottle::refill(Bucket& b, int burst, std::chrono::milliseconds every, Clock::time_point now) const {
  const double refills =
      std::chrono::duration<double>(now - b.at) / std::chrono::duration<double>(std::max(every, std::chrono::milliseconds(1)));
  b.tokens = std::min(static_cast<double>(burst), b.tokens + refills);
  b.at = now;
}

bool AuthThrottle::admit(const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = Clock::now();
  refill(all_, options_.globalBurst, options_.globalRefill, now);
  bool ok = all_.tokens >= 1;
  if (const auto it = addresses_.find(address); it != addresses_.end()) {
    refill(it->second, options_.burst, options_.refill, now);
    ok = ok && it->second.tokens >= 1;
  }
  if (!ok) ++refused_;
  return ok;
}

void AuthThrottle::failed(const std::string& address) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto now = Clock::now();
  ++failures_;
  if (addresses_.size() >= 10000) {
    for (auto it = addresses_.begin(); it != addresses_.end();) {
      refill(it->second, options_.burst, options_.refill, now);
      it = it->second.tokens >= options_.burst ? addresses_.erase(it) : std::next(it);
    }
  }
  auto [it, added] = addresses_.try_emplace(address, Bucket{static_cast<double>(options_.burst), now});
  refill(it->second, options_.burst, options_.refill, now);
  it->second.tokens -= 1;
  refill(all_, options_.globalBurst, options_.globalRefill, now);
  all_.tokens -= 1;
}

std::uint64_t AuthThrottle::failures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failures_;
}

std::uint64_t AuthThrottle::refused() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refused_;
}

}  // namespace canal::http
