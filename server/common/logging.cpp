#include "server/common/logging.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <filesystem>
#include <vector>

namespace canal {
namespace {

thread_local std::string currentDestination;

constexpr const char* kPattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";

// Routes each message to the server's file or to the file of the destination the logging
// thread works for, opening destination files on first use.
class LayoutSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LayoutSink(std::filesystem::path root, std::size_t maxBytes, std::size_t maxFiles)
      : root_(std::move(root)), maxBytes_(maxBytes), maxFiles_(maxFiles) {
    server_ = open("canal", "canal.log");
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::sink_ptr target = server_;
    if (!currentDestination.empty()) {
      auto& s = destinations_[currentDestination];
      if (!s) {
        try {
          s = open(currentDestination, currentDestination + ".log");
        } catch (const std::exception&) {
          s = server_;  // an unwritable destination directory: keep the message
        }
      }
      target = s;
    }
    target->log(msg);
  }
  void flush_() override {
    server_->flush();
    for (auto& [name, s] : destinations_) s->flush();
  }
  void set_pattern_(const std::string& pattern) override {
    server_->set_pattern(pattern);
    for (auto& [name, s] : destinations_) s->set_pattern(pattern);
  }

 private:
  spdlog::sink_ptr open(const std::string& dir, const std::string& file) {
    std::filesystem::create_directories(root_ / dir);
    auto s = std::make_shared<spdlog::sinks::rotating_file_sink_st>((root_ / dir / file).string(), maxBytes_, maxFiles_);
    s->set_pattern(kPattern);
    return s;
  }

  const std::filesystem::path root_;
  const std::size_t maxBytes_;
  const std::size_t maxFiles_;
  spdlog::sink_ptr server_;
  std::map<std::string, spdlog::sink_ptr> destinations_;
};

// The last lines of the server and of each destination, for recentLogLines().
class RecentSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr std::size_t kLines = 1000;
  std::vector<RecentLogLine> lines(const std::string& destination, spdlog::level::level_enum minLevel, std::size_t max) {
    std::lock_guard<std::mutex> lock(base_sink<std::mutex>::mutex_);
    std::vector<RecentLogLine> out;
    const auto it = kept_.find(destination);
    if (it == kept_.end()) return out;
    for (auto line = it->second.rbegin(); line != it->second.rend() && out.size() < max; ++line) {
      if (line->first >= minLevel) out.push_back(line->second);
    }
    return {out.rbegin(), out.rend()};
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto& kept = kept_[currentDestination];
    if (kept.size() == kLines) kept.pop_front();
    RecentLogLine line;
    line.timeMs = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    const auto level = spdlog::level::to_string_view(msg.level);
    line.level.assign(level.data(), level.size());
    line.module.assign(msg.logger_name.data(), msg.logger_name.size());
    line.text.assign(msg.payload.data(), msg.payload.size());
    kept.emplace_back(msg.level, std::move(line));
  }
  void flush_() override {}

 private:
  std::map<std::string, std::deque<std::pair<spdlog::level::level_enum, RecentLogLine>>> kept_;
};

std::shared_ptr<RecentSink> recentSink() {
  static const auto sink = std::make_shared<RecentSink>();
  return sink;
}

struct LoggingState {
  std::mutex mutex;
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::level::level_enum level = spdlog::level::info;
};

LoggingState& state() {
  static LoggingState s;
  return s;
}

}  // namespace

bool initLogging(const LoggingOptions& options, std::string* error) {
  const auto level = spdlog::level::from_str(options.level);
  const auto stderrLevel = spdlog::level::from_str(options.stderrLevel);
  for (const std::string* name : {&options.level, &options.stderrLevel}) {
    if (spdlog::level::from_str(*name) == spdlog::level::off && *name != "off") {
      *error = "unknown log level '" + *name + "'";
      return false;
    }
  }
  std::vector<spdlog::sink_ptr> sinks;
  try {
    if (options.toStderr) {
      sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
      sinks.back()->set_level(stderrLevel);
    }
    if (!options.directory.empty()) {
      sinks.push_back(std::make_shared<LayoutSink>(options.directory, options.maxFileBytes, options.maxFiles));
    }
  } catch (const std::exception& e) {
    *error = options.directory + ": " + e.what();
    return false;
  }
  for (auto& sink : sinks) sink->set_pattern(kPattern);
  sinks.push_back(recentSink());

  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.sinks = std::move(sinks);
  s.level = level;
  // Re-point loggers created before this call.
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    logger->sinks() = s.sinks;
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
  });
  return true;
}

std::shared_ptr<spdlog::logger> moduleLogger(std::string_view module) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  std::string name(module);
  if (auto existing = spdlog::get(name)) return existing;
  if (s.sinks.empty()) {
    s.sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    s.sinks.back()->set_pattern(kPattern);
    s.sinks.push_back(recentSink());
  }
  auto logger = std::make_shared<spdlog::logger>(name, s.sinks.begin(), s.sinks.end());
  logger->set_level(s.level);
  logger->flush_on(spdlog::level::info);
  spdlog::register_logger(logger);
  return logger;
}

std::vector<RecentLogLine> recentLogLines(const std::string& destination, const std::string& minLevel, std::size_t max) {
  return recentSink()->lines(destination, spdlog::level::from_str(minLevel), max);
}

DestinationLogScope::DestinationLogScope(std::string destination) : previous_(std::move(currentDestination)) {
  currentDestination = std::move(destination);
}

DestinationLogScope::~DestinationLogScope() { currentDestination = std::move(previous_); }

std::optional<std::uint64_t> RepeatFilter::admit(const std::string& message) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  if (message != last_ || seen_.at == std::chrono::steady_clock::time_point{} || now - seen_.at >= interval_) {
    const std::uint64_t heldBack = message == last_ ? seen_.heldBack : 0;
    last_ = message;
    seen_ = Seen{now, 0};
    return heldBack;
  }
  ++seen_.heldBack;
  return std::nullopt;
}

}  // namespace canal
