#pragma once

// A throwaway PostgreSQL server (Debian's postgresql package) for tests: a cluster made by
// initdb in a temporary directory, on a free port of 127.0.0.1 and a unix socket there, trust
// authentication for the postgres user, database "test". Run as the postgres system user when
// the tests run as root (PostgreSQL refuses root). Stopped and deleted on destruction. And a
// small synchronous client (libpq) for what the tests write and check.

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::testing {

class PostgresServer {
 public:
  // Makes the cluster, starts the server and waits until it accepts connections.
  static Result<std::unique_ptr<PostgresServer>> start();
  ~PostgresServer();

  int port() const { return port_; }
  std::string socketDir() const { return (dir_->path() / "run").string(); }
  static constexpr const char* kDatabase = "test";
  static constexpr const char* kUser = "postgres";
  // libpq's connection string for `database` over the unix socket.
  std::string conninfo(const std::string& database = kDatabase) const;
  // SIGKILL (a crash); restart() starts it again on the same port and data.
  void kill() { process_.kill(); }
  Status restart() { return launch(); }
  std::string log() const { return process_.logTail(); }

 private:
  PostgresServer() = default;
  Status launch();
  // `argv` as the postgres user when running as root.
  std::vector<std::string> asServerUser(std::vector<std::string> argv) const;

  std::unique_ptr<TempDir> dir_;
  std::string bin_;  // the server's bin directory
  int port_ = 0;
  ChildProcess process_;
};

// One connection to a PostgresServer's database (reconnects after a restart).
class PostgresClient {
 public:
  explicit PostgresClient(const PostgresServer& server, std::string database = PostgresServer::kDatabase)
      : server_(server), database_(std::move(database)) {}
  ~PostgresClient();
  PostgresClient(const PostgresClient&) = delete;
  PostgresClient& operator=(const PostgresClient&) = delete;

  Status execute(const std::string& sql);
  // Rows of a query, each value as PostgreSQL prints it (NULL as nullopt).
  Result<std::vector<std::vector<std::optional<std::string>>>> query(const std::string& sql);

 private:
  Status connect();
  const PostgresServer& server_;
  const std::string database_;
  PGconn* conn_ = nullptr;
};

}  // namespace canal::testing
