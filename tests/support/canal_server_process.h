#pragma once

// One canal-server process for tests, with its own configuration directory: canal.properties
// and conf/example/instance.properties written for a MariaDB on 127.0.0.1:`dbPort`, the mode's
// spring template (memory-instance.xml, file-instance.xml, default-instance.xml), optional
// ZooKeeper, free ports for clients and for /metrics and /status, and a log file per start
// under `root`.

#include <chrono>
#include <filesystem>
#include <string>

#include "server/common/status.h"
#include "tests/support/process.h"

namespace canal::testing {

class CanalServerProcess {
 public:
  // `filter` is canal.instance.filter.regex as written in the properties file.
  CanalServerProcess(std::string binary, const std::filesystem::path& root, const std::string& mode, int dbPort,
                     const std::string& zk, const std::string& journal, const std::string& position,
                     const std::string& filter = "s\\\\..*");
  Status start();
  // True once its HTTP port answers /status (its destinations run), within `timeout`.
  bool waitServing(std::chrono::milliseconds timeout);
  void kill() { process_.kill(); }
  int stop() { return process_.stop(); }
  pid_t pid() const { return process_.pid(); }
  int port() const { return port_; }
  int metricsPort() const { return metricsPort_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string logTail(std::size_t maxBytes = 4000) const { return process_.logTail(maxBytes); }
  const std::filesystem::path& root() const { return root_; }

 private:
  std::string binary_;
  std::filesystem::path root_;
  int port_;
  int metricsPort_;
  int starts_ = 0;
  ChildProcess process_;
};

}  // namespace canal::testing
