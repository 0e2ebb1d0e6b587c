#pragma once

// Wall-clock time as Canal's figures use it: milliseconds since the Unix epoch.

#include <chrono>
#include <cstdint>

namespace canal {

inline std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace canal
