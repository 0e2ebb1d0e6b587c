#include "forwarder/sql/sql_target.h"

#include <libpq-fe.h>

#include "forwarder/mariadb_login.h"
#include "forwarder/sink.h"

namespace canal::forwarder {
namespace {

// PostgreSQL: an upsert statement of this many rows or more copies them in (SqlDialect::copyRows):
// below it, the two more round trips cost more than the literals they save.
constexpr std::size_t kCopyRows = 16;

using client::Result;
using client::Status;

std::string shortened(const std::string& sql) { return sql.substr(0, 300) + (sql.size() > 300 ? "..." : ""); }

class MariaDbTarget final : public SqlTarget {
 public:
  MariaDbTarget(MYSQL* mysql, std::string sink, std::string where)
      : mysql_(mysql), sink_(std::move(sink)), where_(std::move(where)) {
    dialect_.escape = [this](std::string_view text) {
      std::string out(text.size() * 2 + 1, '\0');
      out.resize(mysql_real_escape_string(mysql_, out.data(), text.data(), static_cast<unsigned long>(text.size())));
      return out;
    };
  }
  ~MariaDbTarget() override { mysql_close(mysql_); }

  const SqlDialect& dialect() const override { return dialect_; }
  std::string where() const override { return where_; }

  Status execute(const std::string& sql) override {
    if (mysql_real_query(mysql_, sql.data(), static_cast<unsigned long>(sql.size())) == 0) {
      if (MYSQL_RES* r = mysql_store_result(mysql_)) mysql_free_result(r);
      return Status::ok();
    }
    return failure(sql);
  }

  Status copyIn(const std::string& copy, const std::string&) override {
    return Status(kSinkFatal, "sql " + sink_ + ": MariaDB takes no COPY: " + shortened(copy));
  }

  Result<std::optional<std::string>> queryValue(const std::string& sql) override {
    if (mysql_real_query(mysql_, sql.data(), static_cast<unsigned long>(sql.size())) != 0) return failure(sql);
    MYSQL_RES* r = mysql_store_result(mysql_);
    std::optional<std::string> value;
    if (r) {
      if (MYSQL_ROW row = mysql_fetch_row(r); row && row[0]) value = row[0];
      mysql_free_result(r);
    }
    return value;
  }

  // Errors worth trying again: the link (client errors 2000-2999), a deadlock, a lock wait
  // timeout, a server going away or shutting down.
  static bool passing(unsigned code) {
    return (code >= 2000 && code < 3000) || code == 1205 || code == 1213 || code == 1053 || code == 1927 || code == 0;
  }

 private:
  Status failure(const std::string& sql) {
    const unsigned code = mysql_errno(mysql_);
    return Status(passing(code) ? kSinkRetry : kSinkFatal, "sql " + sink_ + " (" + where_ + "): error " +
                                                                std::to_string(code) + ": " + mysql_error(mysql_) +
                                                                " in: " + shortened(sql));
  }

  MYSQL* mysql_;
  const std::string sink_;
  const std::string where_;
  SqlDialect dialect_;
};

class PostgresTarget final : public SqlTarget {
 public:
  PostgresTarget(PGconn* conn, std::string sink, std::string where)
      : conn_(conn), sink_(std::move(sink)), where_(std::move(where)) {
    dialect_.postgres = true;
    dialect_.copyRows = kCopyRows;
    dialect_.escape = [this](std::string_view text) {
      std::string out(text.size() * 2 + 1, '\0');
      int error = 0;
      out.resize(PQescapeStringConn(conn_, out.data(), text.data(), text.size(), &error));
      return out;
    };
  }
  ~PostgresTarget() override { PQfinish(conn_); }

  const SqlDialect& dialect() const override { return dialect_; }
  std::string where() const override { return where_; }

  Status execute(const std::string& sql) override {
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(conn_, sql.c_str()), PQclear);
    const auto status = PQresultStatus(r.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Status::ok();
    return failure(r.get(), sql);
  }

  Status copyIn(const std::string& copy, const std::string& data) override {
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(conn_, copy.c_str()), PQclear);
    if (PQresultStatus(r.get()) != PGRES_COPY_IN) return failure(r.get(), copy);
    if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1 || PQputCopyEnd(conn_, nullptr) != 1) {
      return failure(nullptr, copy);
    }
    // The COPY's outcome, then nothing more.
    Status outcome;
    while (PGresult* next = PQgetResult(conn_)) {
      std::unique_ptr<PGresult, void (*)(PGresult*)> result(next, PQclear);
      if (outcome && PQresultStatus(next) != PGRES_COMMAND_OK) outcome = failure(next, copy);
    }
    return outcome;
  }

  Result<std::optional<std::string>> queryValue(const std::string& sql) override {
    std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(conn_, sql.c_str()), PQclear);
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return failure(r.get(), sql);
    if (PQntuples(r.get()) == 0 || PQnfields(r.get()) == 0 || PQgetisnull(r.get(), 0, 0)) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(PQgetvalue(r.get(), 0, 0));
  }

  // SQLSTATEs worth trying again: connection exceptions (08), a serialization failure or deadlock
  // (40001, 40P01), insufficient resources (53), an operator or crash shutdown (57P01-57P03),
  // a lock not available (55P03), a statement cancelled by statement_timeout (57014).
  static bool passing(const std::string& state) {
    return state.empty() || state.rfind("08", 0) == 0 || state == "40001" || state == "40P01" ||
           state.rfind("53", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03" || state == "55P03" || state == "57014";
  }

 private:
  Status failure(const PGresult* r, const std::string& sql) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string code = state ? state : "";
    std::string message = PQerrorMessage(conn_);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    const bool retry = PQstatus(conn_) != CONNECTION_OK || passing(code);
    return Status(retry ? kSinkRetry : kSinkFatal, "sql " + sink_ + " (" + where_ + "): error " +
                                                       (code.empty() ? "(no SQLSTATE)" : code) + ": " + message +
                                                       " in: " + shortened(sql));
  }

  PGconn* conn_;
  const std::string sink_;
  const std::string where_;
  SqlDialect dialect_;
};

std::string whereOf(const SqlSinkConfig& c) {
  return c.unixSocket.empty() ? c.host + ":" + std::to_string(c.port) : c.unixSocket;
}

Result<std::unique_ptr<SqlTarget>> connectMariaDb(const SqlSinkConfig& c, const std::string& sink) {
  unsigned code = 0;
  std::string error;
  MYSQL* mysql = openMariaDb({c.host, c.port, c.unixSocket, c.user, c.password, c.database, c.timeout}, &code, &error);
  if (!mysql) {
    // A refused login or an unknown database: retrying cannot fix it.
    return Status(code == 1045 || code == 1044 || code == 1049 ? kSinkFatal : kSinkRetry,
                  "sql " + sink + ": connecting to " + whereOf(c) + " as '" + c.user + "': error " +
                      std::to_string(code) + ": " + error);
  }
  auto target = std::make_unique<MariaDbTarget>(mysql, sink, whereOf(c));
  // Values as the source holds them: zero dates and an explicit 0 in an AUTO_INCREMENT column kept.
  if (Status s = target->execute("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'"); !s) return s;
  if (!c.timeZone.empty()) {
    if (Status s = target->execute("SET SESSION time_zone = '" + target->dialect().escape(c.timeZone) + "'"); !s) {
      return Status(kSinkFatal, s.message() + " (sql.time_zone)");
    }
  }
  return std::unique_ptr<SqlTarget>(std::move(target));
}

// A libpq connection string value, quoted.
std::string conninfoValue(const std::string& v) {
  std::string out = "'";
  for (const char ch : v) {
    if (ch == '\'' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  return out + "'";
}

Result<std::unique_ptr<SqlTarget>> connectPostgres(const SqlSinkConfig& c, const std::string& sink) {
  const long seconds = std::max<long>(1, static_cast<long>(c.timeout.count() / 1000));
  std::string conninfo = "host=" + conninfoValue(c.unixSocket.empty() ? c.host : c.unixSocket) +
                         " port=" + std::to_string(c.port) + " user=" + conninfoValue(c.user) +
                         " connect_timeout=" + std::to_string(seconds) + " client_encoding=UTF8" +
                         " application_name=" + conninfoValue("canal-forwarder " + sink);
  if (!c.password.empty()) conninfo += " password=" + conninfoValue(c.password);
  if (!c.database.empty()) conninfo += " dbname=" + conninfoValue(c.database);
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string error = PQerrorMessage(conn);
    PQfinish(conn);
    while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
    // A refused login or an unknown database: retrying cannot fix it.
    const bool refused = error.find("authentication failed") != std::string::npos ||
                         error.find("does not exist") != std::string::npos ||
                         error.find("no pg_hba.conf entry") != std::string::npos;
    return Status(refused ? kSinkFatal : kSinkRetry,
                  "sql " + sink + ": connecting to PostgreSQL at " + whereOf(c) + " as '" + c.user + "': " + error);
  }
  auto target = std::make_unique<PostgresTarget>(conn, sink, whereOf(c));
  // Statements that fail name themselves; a statement that waits on a lock gives up in time.
  if (Status s = target->execute("SET statement_timeout = " + std::to_string(c.timeout.count() * 6)); !s) return s;
  if (!c.timeZone.empty()) {
    if (Status s = target->execute("SET TIME ZONE '" + target->dialect().escape(c.timeZone) + "'"); !s) {
      return Status(kSinkFatal, s.message() + " (sql.time_zone)");
    }
  }
  return std::unique_ptr<SqlTarget>(std::move(target));
}

}  // namespace

Result<std::unique_ptr<SqlTarget>> connectSqlTarget(const SqlSinkConfig& config, const std::string& sink) {
  return config.postgres ? connectPostgres(config, sink) : connectMariaDb(config, sink);
}

}  // namespace canal::forwarder
