#pragma once

// Test helpers for child processes, free ports and polling with a deadline.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "server/common/status.h"

namespace canal::testing {

// A free TCP port on 127.0.0.1 (bound to port 0, then released).
int freePort();

// Calls `ready` until it returns true or `timeout` passes; true when it became ready.
bool waitUntil(std::chrono::milliseconds timeout, const std::function<bool()>& ready,
               std::chrono::milliseconds interval = std::chrono::milliseconds(50));

// A child process with stdout and stderr appended to a log file. Stopped (SIGTERM, then SIGKILL
// after a grace period) on destruction.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (searched in PATH) with `argv`.
  Status start(const std::vector<std::string>& argv, const std::string& logPath);
  bool running();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (waitpid form), or -1.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // Waits up to `timeout` for the process to end by itself; its exit code, or -1 (then it is
  // killed) when it did not end.
  int wait(std::chrono::milliseconds timeout);
  // SIGKILL at once (a crash).
  void kill();
  pid_t pid() const { return pid_; }
  const std::string& logPath() const { return logPath_; }
  // The last `maxBytes` of the log, for failure messages.
  std::string logTail(std::size_t maxBytes = 4000) const;

 private:
  pid_t pid_ = -1;
  std::string logPath_;
};

// Runs a command to completion; returns its exit code, output appended to `output`.
int runCommand(const std::vector<std::string>& argv, std::string* output);

}  // namespace canal::testing
