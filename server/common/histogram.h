#pragma once

// A fixed-bucket histogram of durations, in the shape Prometheus exposes (cumulative bucket
// counts, sum, count). Thread contract: none; the owner guards it.

#include <chrono>
#include <cstdint>
#include <vector>

namespace canal {

class Histogram {
 public:
  // Upper bounds in seconds, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

  void observe(std::chrono::nanoseconds d) {
    const double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < bounds_.size() && seconds > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += seconds;
    ++count_;
  }

  const std::vector<double>& bounds() const { return bounds_; }
  // Observations at or below bounds()[i] (i < bounds().size()), or all of them (the last one).
  std::uint64_t cumulative(std::size_t i) const {
    std::uint64_t n = 0;
    for (std::size_t k = 0; k <= i && k < counts_.size(); ++k) n += counts_[k];
    return n;
  }
  double sum() const { return sum_; }
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

}  // namespace canal
