#pragma once

// The sql sink's target database: MariaDB/MySQL (libmariadb) or PostgreSQL (libpq), one
// connection, statements run one at a time. Errors are classified for the forwarder: kSinkRetry
// for what passes (the link, a deadlock, a lock wait, a server going away or starting), with the
// connection closed; kSinkFatal for a refused login or statement (an unknown table or column, a
// value the column cannot hold), naming the target and the statement.
// Thread contract: one thread.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "canal/client/status.h"
#include "forwarder/forwarder_config.h"
#include "forwarder/sql/sql_statements.h"

namespace canal::forwarder {

class SqlTarget {
 public:
  virtual ~SqlTarget() = default;
  // Literals and names as this target spells them (the escape is the connection's).
  virtual const SqlDialect& dialect() const = 0;
  virtual client::Status execute(const std::string& sql) = 0;
  // PostgreSQL: `copy` (COPY ... FROM STDIN) fed `data`. MariaDB has none: an error.
  virtual client::Status copyIn(const std::string& copy, const std::string& data) = 0;
  // The first value of the first row (nullopt: no row, or NULL).
  virtual client::Result<std::optional<std::string>> queryValue(const std::string& sql) = 0;
  // host:port, or the socket.
  virtual std::string where() const = 0;
};

// Opens a connection to the sink's target, with the session settings the sink needs (UTF-8, the
// configured time zone; MariaDB: NO_AUTO_VALUE_ON_ZERO, so an explicit 0 in an AUTO_INCREMENT
// column stays 0).
client::Result<std::unique_ptr<SqlTarget>> connectSqlTarget(const SqlSinkConfig& config, const std::string& sink);

}  // namespace canal::forwarder
