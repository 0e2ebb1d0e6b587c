#pragma once

// A client connection to a MySQL or MariaDB server through libmysqlclient (Debian's is MariaDB
// Connector/C, which brings mysql_native_password, ed25519, caching_sha2_password and TLS):
// control-plane queries, and raw commands whose responses are read packet by packet (the binlog
// dump). Thread contract: one thread uses a connection; cancel() may be called from another.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

struct st_mysql;

namespace canal::mysql {

struct ConnectOptions {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string unixSocket;  // used instead of host:port when set
  std::string user;
  std::string password;
  std::string database;
  int connectTimeoutSeconds = 10;
  int readTimeoutSeconds = 0;  // 0: none (a dump connection waits for events as long as needed)
  bool tls = false;
  std::string tlsCa;
  std::string tlsCert;
  std::string tlsKey;
  bool tlsVerifyServer = false;
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // NULL = nullopt
};

// Server error codes this project acts on.
inline constexpr unsigned kErrorMasterFatalReadingBinlog = 1236;  // purged or missing binlog
inline constexpr unsigned kErrorServerLost = 2013;
inline constexpr unsigned kErrorServerGone = 2006;

class MysqlConnection {
 public:
  static Result<std::unique_ptr<MysqlConnection>> connect(const ConnectOptions& options);
  ~MysqlConnection();
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;

  Status execute(const std::string& sql);
  Result<QueryResult> query(const std::string& sql);
  // Runs a query and hands each row to `each` as it arrives (nothing is materialized; the
  // values, nullopt for NULL, are valid during the call only), after `columns` with the column
  // count. An error from a callback stops reading and is returned.
  using ColumnsCallback = std::function<Status(unsigned count)>;
  using RowCallback = std::function<Status(const std::vector<std::optional<std::string_view>>& values)>;
  Status queryEach(const std::string& sql, const ColumnsCallback& columns, const RowCallback& each);
  // First column of the first row, nullopt for no row or NULL.
  Result<std::optional<std::string>> queryValue(const std::string& sql);

  // Sends a command packet; with `expectOk` reads and checks its OK/ERR response, otherwise the
  // response is left for readPacket().
  Status sendCommand(std::uint8_t command, std::string_view payload, bool expectOk);
  // The next packet of a response, valid until the next call on this connection. A server error
  // packet comes back as an error Status (its code in lastErrorCode()).
  Result<std::string_view> readPacket();

  // Unblocks a readPacket() waiting in another thread (the socket is shut down).
  void cancel();

  const std::string& serverVersion() const { return serverVersion_; }
  bool isMariaDb() const { return serverVersion_.find("MariaDB") != std::string::npos; }
  unsigned lastErrorCode() const { return lastError_; }
  // "host:port" or the socket path, for messages.
  const std::string& peer() const { return peer_; }

  // `value` as a SQL string literal: quoted, with quotes and backslashes escaped.
  static std::string quote(std::string_view value);

 private:
  MysqlConnection() = default;
  Status error(const std::string& what);

  st_mysql* mysql_ = nullptr;
  std::string serverVersion_;
  std::string peer_;
  unsigned lastError_ = 0;
};

}  // namespace canal::mysql
