#pragma once

// Logging setup: one spdlog logger per module ("binlog", "replica", "net", ...), all sharing
// the sinks configured by initLogging(). With a log directory the files follow Canal's layout:
// server messages in <dir>/canal/canal.log, a destination's in <dir>/<destination>/<destination>.log
// (whatever module logs them, on a thread that runs under a DestinationLogScope), each rotated
// by size. Thread contract: initLogging() once at startup, before other threads log;
// moduleLogger() and DestinationLogScope are thread-safe.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace canal {

struct LoggingOptions {
  std::string level = "info";   // trace, debug, info, warn, error, critical, off
  std::string directory;        // empty: no files
  std::size_t maxFileBytes = 512u << 20;  // a file is rotated at this size...
  std::size_t maxFiles = 10;              // ...keeping this many old ones (.1 is the newest)
  bool toStderr = true;
  std::string stderrLevel = "trace";  // the least severe message stderr shows as well
};

// Configures the shared sinks and the level. Returns false with `error` set on a bad level or
// an unwritable directory.
bool initLogging(const LoggingOptions& options, std::string* error);

// The newest lines logged for `destination` (empty: the server's own), oldest first: at most
// `max`, of level `minLevel` ("trace" ... "critical") or more severe. The last 1,000 lines of
// each are kept in memory whatever the configured sinks (the web console shows them).
struct RecentLogLine {
  std::int64_t timeMs = 0;
  std::string level;   // "info", "warning", ...
  std::string module;  // the logger's name
  std::string text;
};
std::vector<RecentLogLine> recentLogLines(const std::string& destination, const std::string& minLevel, std::size_t max);

// The logger of `module`, created on first use with the shared sinks.
std::shared_ptr<spdlog::logger> moduleLogger(std::string_view module);

// While it lives, what this thread logs goes to `destination`'s file instead of the server's.
class DestinationLogScope {
 public:
  explicit DestinationLogScope(std::string destination);
  ~DestinationLogScope();
  DestinationLogScope(const DestinationLogScope&) = delete;
  DestinationLogScope& operator=(const DestinationLogScope&) = delete;

 private:
  std::string previous_;
};

// Keeps a message that repeats (a retry loop's error) from flooding the log: a message is let
// through the first time, whenever it differs from the last one, and otherwise once per
// `interval`, with the number of repeats held back. Thread contract: thread-safe.
class RepeatFilter {
 public:
  explicit RepeatFilter(std::chrono::steady_clock::duration interval = std::chrono::minutes(1)) : interval_(interval) {}
  // nullopt: stay quiet; else the repeats held back since the message was last let through.
  std::optional<std::uint64_t> admit(const std::string& message);

 private:
  struct Seen {
    std::chrono::steady_clock::time_point at;
    std::uint64_t heldBack = 0;
  };
  const std::chrono::steady_clock::duration interval_;
  std::mutex mutex_;
  std::string last_;
  Seen seen_;
};

}  // namespace canal
