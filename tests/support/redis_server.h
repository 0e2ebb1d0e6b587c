#pragma once

// A throwaway redis-server (Debian's redis-server package) for tests: temporary directory, free
// port on 127.0.0.1 and a unix socket, append-only file fsynced on every write (so a kill -9
// loses nothing it acknowledged), optional password. Stopped and deleted on destruction. And a
// small synchronous client (hiredis) to read what the tests check.

#include <hiredis/hiredis.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::testing {

class RedisServer {
 public:
  // Starts the server and waits until it answers PING. Without `durable` there is no
  // append-only file (benchmarks).
  static Result<std::unique_ptr<RedisServer>> start(const std::string& password = "", bool durable = true);
  ~RedisServer();

  int port() const { return port_; }
  std::string unixSocket() const { return (dir_->path() / "redis.sock").string(); }
  const std::string& password() const { return password_; }
  // SIGKILL (a crash); restart() starts it again on the same port and data (the append-only file).
  void kill() { process_.kill(); }
  Status restart() { return launch(); }
  std::string log() const { return process_.logTail(); }

 private:
  RedisServer() = default;
  Status launch();

  std::unique_ptr<TempDir> dir_;
  std::string password_;
  bool durable_ = true;
  int port_ = 0;
  ChildProcess process_;
};

// One connection to a RedisServer; every call returns nullopt when Redis cannot be reached.
class RedisClient {
 public:
  explicit RedisClient(const RedisServer& server, int database = 0);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // A command's reply as text: a string, an integer in decimal, an error as "ERR ..." text, nil
  // as nullopt (also when Redis cannot be reached).
  std::optional<std::string> command(const std::vector<std::string>& args);
  std::optional<std::map<std::string, std::string>> hash(const std::string& key);
  std::optional<std::set<std::string>> members(const std::string& key);
  // Sends `commands` in one pipeline and reads every reply; false on an error reply or I/O error.
  bool pipelined(const std::vector<std::vector<std::string>>& commands);
  // Every key matching `pattern` (SCAN).
  std::optional<std::set<std::string>> keys(const std::string& pattern);

 private:
  bool connect();
  std::unique_ptr<redisReply, void (*)(void*)> run(const std::vector<std::string>& args);
  const RedisServer& server_;
  int database_;
  redisContext* context_ = nullptr;
};

}  // namespace canal::testing
