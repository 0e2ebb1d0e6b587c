#pragma once

// The table filter in force on a destination: the configured one until a client subscribes with
// a filter of its own, which then replaces the white list (regex) for the whole destination, as
// in Canal. The client sessions replace it; the binlog pump picks up each new generation.
// Thread contract: thread-safe.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "server/common/status.h"
#include "server/convert/table_filter.h"

namespace canal::instance {

class ActiveFilter {
 public:
  // Fails when the configured filters do not compile.
  static Result<std::unique_ptr<ActiveFilter>> create(const convert::TableFilterSpec& spec);

  std::shared_ptr<const convert::TableFilter> current() const;
  // Changes with every replacement; cheap to poll.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Replaces the regex (white list), keeping the other parts; nothing changes when it is the
  // one in force. `destination` names the log line.
  Status replaceRegex(const std::string& regex, const std::string& destination);

 private:
  explicit ActiveFilter(std::shared_ptr<const convert::TableFilter> filter) : filter_(std::move(filter)) {}

  mutable std::mutex mutex_;
  std::shared_ptr<const convert::TableFilter> filter_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace canal::instance
