#pragma once

// A throwaway standalone ZooKeeper (Debian's zookeeper package) for tests: temporary data
// directory, free client port, admin server off. Stopped and deleted on destruction.

#include <memory>
#include <string>

#include "server/common/status.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::testing {

class ZooKeeperServer {
 public:
  // Starts the server and waits until it answers "imok" to "ruok".
  static Result<std::unique_ptr<ZooKeeperServer>> start();
  ~ZooKeeperServer();

  int port() const { return port_; }
  // "127.0.0.1:<port>", for zookeeper_init() and canal.zkServers.
  std::string connectString() const { return "127.0.0.1:" + std::to_string(port_); }

  void kill() { process_.kill(); }
  Status restart();
  std::string log() const { return process_.logTail(); }

 private:
  ZooKeeperServer() = default;
  Status launch();

  std::unique_ptr<TempDir> dir_;
  int port_ = 0;
  ChildProcess process_;
};

// Sends a four-letter command to 127.0.0.1:port and returns the reply ("" when unreachable).
std::string zooKeeperFourLetter(int port, const std::string& command);

}  // namespace canal::testing
