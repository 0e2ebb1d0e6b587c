#pragma once

// Logging setup: one spdlog logger per module ("binlog", "replica", "net", ...), all sharing
// the sinks configured by initLogging(). Thread contract: initLogging() once at startup, before
// other threads log; moduleLogger() is thread-safe.

#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace canal {

struct LoggingOptions {
  std::string level = "info";   // trace, debug, info, warn, error, critical, off
  std::string directory;        // empty: stderr only; else also <directory>/<fileName>
  std::string fileName = "canal.log";
  bool toStderr = true;
};

// Configures the shared sinks and the level. Returns false with `error` set on a bad level or
// an unwritable directory.
bool initLogging(const LoggingOptions& options, std::string* error);

// The logger of `module`, created on first use with the shared sinks.
std::shared_ptr<spdlog::logger> moduleLogger(std::string_view module);

}  // namespace canal
