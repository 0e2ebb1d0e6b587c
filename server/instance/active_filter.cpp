#include "server/instance/active_filter.h"

#include <spdlog/spdlog.h>

#include "server/common/logging.h"

namespace canal::instance {

Result<std::unique_ptr<ActiveFilter>> ActiveFilter::create(const convert::TableFilterSpec& spec) {
  auto filter = convert::TableFilter::create(spec);
  if (!filter) return filter.status();
  return std::unique_ptr<ActiveFilter>(new ActiveFilter(std::move(*filter)));
}

std::shared_ptr<const convert::TableFilter> ActiveFilter::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return filter_;
}

Status ActiveFilter::replaceRegex(const std::string& regex, const std::string& destination) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (regex == filter_->spec().regex) return Status::ok();
  convert::TableFilterSpec spec = filter_->spec();
  spec.regex = regex;
  auto replaced = convert::TableFilter::create(spec);
  if (!replaced) return replaced.status();
  filter_ = std::move(*replaced);
  generation_.fetch_add(1, std::memory_order_release);
  moduleLogger("instance")->info("destination {}: subscribe filter change to {}", destination, regex);
  return Status::ok();
}

}  // namespace canal::instance
