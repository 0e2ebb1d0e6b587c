#pragma once

// Password guessing held to a rate, for every port that checks credentials (canal-server's client
// port and HTTP port, canal-forwarder's admin endpoint): each failed attempt spends a token of
// its client address (a burst of `burst`, one more every `refill`) and one of a budget shared by
// all addresses (a burst of `globalBurst`, one more every `globalRefill`). While either is empty
// an attempt is refused without being checked — the right password too — so reconnecting or
// spreading over addresses does not buy more tries. Addresses whose bucket is full again are
// forgotten. Thread contract: every function from any thread.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace canal::http {

struct AuthThrottleOptions {
  int burst = 5;
  std::chrono::milliseconds refill{1000};
  int globalBurst = 50;
  std::chrono::milliseconds globalRefill{50};
};

class AuthThrottle {
 public:
  explicit AuthThrottle(AuthThrottleOptions options = {});
  // True when an attempt from `address` may be checked now.
  bool admit(const std::string& address);
  // Counts a failed attempt from `address`.
  void failed(const std::string& address);
  // How long an address waits for its next attempt once refused (Retry-After).
  std::chrono::milliseconds refill() const { return options_.refill; }
  std::uint64_t failures() const;
  std::uint64_t refused() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Bucket {
    double tokens;
    Clock::time_point at;
  };
  void refill(Bucket& b, int burst, std::chrono::milliseconds every, Clock::time_point now) const;

  const AuthThrottleOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> addresses_;
  Bucket all_;
  std::uint64_t failures_ = 0;
  std::uint64_t refused_ = 0;
};

}  // namespace canal::http
