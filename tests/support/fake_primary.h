#pragma once

// A fake MySQL primary for tests: speaks the server side of the client/server protocol far
// enough for a replica (handshake with mysql_native_password, the SET/SELECT statements a
// replica sends, SHOW MASTER STATUS / SHOW BINARY LOG STATUS (8.4+) / SHOW BINARY LOGS, COM_REGISTER_SLAVE, COM_BINLOG_DUMP and COM_BINLOG_DUMP_GTID) and streams a
// binlog file, so MySQL-flavour streams (GTIDs, TRANSACTION_PAYLOAD) are tested end to end
// without a MySQL server. Each client on a thread of its own.

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <vector>
#include <string>
#include <thread>

#include "server/common/status.h"

namespace canal::testing {

struct FakePrimaryOptions {
  std::string binlogPath;                  // the file to stream
  std::string binlogName = "binlog.000001";  // its name on the primary
  std::string serverVersion = "8.0.32-fake";
  std::string checksum = "CRC32";          // answer to SELECT @@global.binlog_checksum
  std::string user = "canal";
  std::string password = "canal";          // checked (mysql_native_password)
  // Dies after sending this many events of the file (0: never): drops the replica's link and
  // stops accepting connections, as a crashed primary would.
  std::size_t dieAfterEvents = 0;
};

class FakePrimary {
 public:
  static Result<std::unique_ptr<FakePrimary>> start(const FakePrimaryOptions& options);
  ~FakePrimary();

  int port() const { return port_; }
  // Commands received, in order, for assertions ("QUERY SET ...", "REGISTER_SLAVE", "BINLOG_DUMP_GTID").
  std::vector<std::string> commands() const;

 private:
  FakePrimary() = default;
  void serve();
  void session(int fd);

  FakePrimaryOptions options_;
  std::string binlog_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;  // accepts
  std::vector<std::thread> sessions_;  // joined at destruction
  mutable std::mutex mutex_;
  std::set<int> sessionFds_;
  std::vector<std::string> commands_;
};

}  // namespace canal::testing
