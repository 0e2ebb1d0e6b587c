#include "server/common/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <mutex>
#include <vector>

namespace canal {
namespace {

struct LoggingState {
  std::mutex mutex;
  std::vector<spdlog::sink_ptr> sinks;
  spdlog::level::level_enum level = spdlog::level::info;
};

LoggingState& state() {
  static LoggingState s;
  return s;
}

constexpr const char* kPattern = "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v";

}  // namespace

bool initLogging(const LoggingOptions& options, std::string* error) {
  const auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    *error = "unknown log level '" + options.level + "'";
    return false;
  }
  std::vector<spdlog::sink_ptr> sinks;
  try {
    if (options.toStderr) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    if (!options.directory.empty()) {
      std::filesystem::create_directories(options.directory);
      const auto path = std::filesystem::path(options.directory) / options.fileName;
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path.string(), 512u << 20, 10));
    }
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
  for (auto& sink : sinks) sink->set_pattern(kPattern);

  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.sinks = std::move(sinks);
  s.level = level;
  // Re-point loggers created before this call.
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    logger->sinks() = s.sinks;
    logger->set_level(level);
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
  }
  auto logger = std::make_shared<spdlog::logger>(name, s.sinks.begin(), s.sinks.end());
  logger->set_level(s.level);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace canal
