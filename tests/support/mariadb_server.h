#pragma once

// A throwaway MariaDB server for tests: mariadb-install-db + mariadbd in a temporary directory
// on a free port, binary log on (ROW by default). Stopped and deleted on destruction, also when
// the test fails. Thread contract: one thread drives a server; query() opens its own connection.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::testing {

struct MariaDbOptions {
  int serverId = 1;
  std::string binlogFormat = "ROW";
  std::string binlogRowImage = "FULL";
  std::string binlogChecksum = "CRC32";
  // Extra mariadbd options, e.g. "--binlog-annotate-row-events=ON".
  std::vector<std::string> extraArgs;
  // Replication account created at start (SELECT, REPLICATION SLAVE, REPLICATION CLIENT).
  std::string replicaUser = "canal";
  std::string replicaPassword = "canal";
};

class MariaDbServer {
 public:
  // Initializes a data directory, starts the server, waits until it accepts connections.
  static Result<std::unique_ptr<MariaDbServer>> start(const MariaDbOptions& options = {});
  ~MariaDbServer();

  int port() const { return port_; }
  const std::string& host() const { return host_; }
  const std::string& socketPath() const { return socket_; }
  const std::string& dataDir() const { return dataDir_; }
  const MariaDbOptions& options() const { return options_; }
  pid_t pid() const { return process_.pid(); }

  // Runs statements as root (separated by the caller into single statements).
  Status execute(const std::string& sql);
  // Runs a query as root and returns its rows; NULL values are std::nullopt.
  Result<std::vector<std::vector<std::optional<std::string>>>> query(const std::string& sql);

  struct BinlogEnd {
    std::string file;
    std::uint64_t position = 0;
  };
  // The current binlog file and position (SHOW MASTER STATUS).
  Result<BinlogEnd> binlogEnd();

  // The first column of the first row of `sql`; empty when there is none (or it is NULL).
  std::string queryValue(const std::string& sql);

  // Makes this server a replica of `primary` (MariaDB GTID, from the primary's current GTID
  // position on), as the standby of a failover.
  Status replicateFrom(MariaDbServer& primary);
  // Waits until this replica has applied everything `primary` logged so far.
  Status waitCaughtUp(MariaDbServer& primary, std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // Stops the server cleanly (a later start() of a new server may reuse nothing of it).
  Status stop();
  // Kills the server (SIGKILL), as a crash would.
  void kill();
  // Stops / continues the process (SIGSTOP / SIGCONT), as a hung server: connections are
  // accepted by the kernel and then nothing answers.
  void freeze();
  void thaw();
  // Starts the server again on the same port and data directory.
  Status restart();
  // Log of mariadbd, for failure messages.
  std::string errorLog() const;

 private:
  MariaDbServer() = default;
  Status launch();

  MariaDbOptions options_;
  std::unique_ptr<TempDir> dir_;
  std::string dataDir_;
  std::string socket_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
  ChildProcess process_;
  bool frozen_ = false;
};

}  // namespace canal::testing
