#pragma once

// A RabbitMQ broker for tests: Debian's rabbitmq-server started in a temporary directory on free
// ports (AMQP, distribution, its own epmd), no plugins; kill() and restart() for broker faults.
// And a consumer that takes what a queue holds.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::testing {

class RabbitMqServer {
 public:
  // An error (not a skip) when the broker is not installed or does not come up.
  static Result<std::unique_ptr<RabbitMqServer>> start();
  ~RabbitMqServer();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // SIGKILL (a crash); restart() brings it back with its data on the same port.
  void kill();
  Status restart();
  std::string logTail() const { return process_.logTail(); }

 private:
  RabbitMqServer() = default;
  Status launch();
  std::unique_ptr<TempDir> dir_;
  int port_ = 0;
  int distPort_ = 0;
  int epmdPort_ = 0;
  ChildProcess process_;
};

// Takes the messages of a queue (acknowledging them), as guest on the default virtual host.
class RabbitMqConsumer {
 public:
  RabbitMqConsumer(const RabbitMqServer& server, std::string queue);
  ~RabbitMqConsumer();
  // The message bodies that arrive until `expected` were taken in all or `timeout` passed
  // without one.
  std::vector<std::string> take(std::size_t expected, std::chrono::milliseconds timeout);
  // The "canal-sequence" header of every message taken so far, in order (0 when absent).
  const std::vector<std::int64_t>& sequences() const { return sequences_; }

 private:
  struct Connection;
  const RabbitMqServer& server_;
  std::string queue_;
  std::unique_ptr<Connection> connection_;
  std::vector<std::int64_t> sequences_;
};

}  // namespace canal::testing
