#include "server/mysql/mysql_connection.h"

#include <mysql.h>
#include <sys/socket.h>

namespace canal::mysql {

Result<std::unique_ptr<MysqlConnection>> MysqlConnection::connect(const ConnectOptions& o) {
  std::unique_ptr<MysqlConnection> c(new MysqlConnection());
  c->peer_ = o.unixSocket.empty() ? o.host + ":" + std::to_string(o.port) : o.unixSocket;
  c->mysql_ = mysql_init(nullptr);
  if (!c->mysql_) return Status::internal("mysql_init failed (out of memory)");
  const unsigned connectTimeout = static_cast<unsigned>(o.connectTimeoutSeconds);
  mysql_options(c->mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout);
  if (o.readTimeoutSeconds > 0) {
    const unsigned readTimeout = static_cast<unsigned>(o.readTimeoutSeconds);
    mysql_options(c->mysql_, MYSQL_OPT_READ_TIMEOUT, &readTimeout);
  }
  mysql_options(c->mysql_, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  if (o.tls) {
    mysql_ssl_set(c->mysql_, o.tlsKey.empty() ? nullptr : o.tlsKey.c_str(),
                  o.tlsCert.empty() ? nullptr : o.tlsCert.c_str(), o.tlsCa.empty() ? nullptr : o.tlsCa.c_str(),
                  nullptr, nullptr);
    const my_bool enforce = 1;
    mysql_options(c->mysql_, MYSQL_OPT_SSL_ENFORCE, &enforce);
    const my_bool verify = o.tlsVerifyServer ? 1 : 0;
    mysql_options(c->mysql_, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  } else {
    const my_bool verify = 0;
    mysql_options(c->mysql_, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
  }
  if (!mysql_real_connect(c->mysql_, o.unixSocket.empty() ? o.host.c_str() : nullptr, o.user.c_str(),
                          o.password.c_str(), o.database.empty() ? nullptr : o.database.c_str(),
                          static_cast<unsigned>(o.port), o.unixSocket.empty() ? nullptr : o.unixSocket.c_str(), 0)) {
    const unsigned code = mysql_errno(c->mysql_);
    std::string message = "connecting as '" + o.user + "': error " + std::to_string(code) + ": " + mysql_error(c->mysql_);
    return code == 1045 ? Status::invalidArgument(message, c->peer_) : Status::unavailable(message, c->peer_);
  }
  c->serverVersion_ = mysql_get_server_info(c->mysql_);
  return c;
}

MysqlConnection::~MysqlConnection() {
  if (mysql_) mysql_close(mysql_);
}

Status MysqlConnection::error(const std::string& what) {
  lastError_ = mysql_errno(mysql_);
  const std::string message = what + ": error " + std::to_string(lastError_) + ": " + mysql_error(mysql_);
  if (lastError_ >= 2000 && lastError_ < 3000) return Status::unavailable(message, peer_);  // client side: link lost
  if (lastError_ == kErrorMasterFatalReadingBinlog) return Status::positionRefused(message, peer_);
  return Status::ioError(message, peer_);
}

Status MysqlConnection::execute(const std::string& sql) {
  lastError_ = 0;
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return error(sql);
  // Drain every result so the connection is ready for the next command.
  do {
    if (MYSQL_RES* r = mysql_store_result(mysql_)) mysql_free_result(r);
  } while (mysql_next_result(mysql_) == 0);
  if (mysql_errno(mysql_) != 0) return error(sql);
  return Status::ok();
}

Result<QueryResult> MysqlConnection::query(const std::string& sql) {
  lastError_ = 0;
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return error(sql);
  MYSQL_RES* r = mysql_store_result(mysql_);
  if (!r) {
    if (mysql_errno(mysql_) != 0) return error(sql);
    return QueryResult{};
  }
  QueryResult out;
  const unsigned n = mysql_num_fields(r);
  MYSQL_FIELD* fields = mysql_fetch_fields(r);
  for (unsigned i = 0; i < n; ++i) out.columns.emplace_back(fields[i].name);
  while (MYSQL_ROW row = mysql_fetch_row(r)) {
    const unsigned long* lengths = mysql_fetch_lengths(r);
    auto& values = out.rows.emplace_back();
    for (unsigned i = 0; i < n; ++i) {
      if (row[i]) values.emplace_back(std::string(row[i], lengths[i])); else values.emplace_back(std::nullopt);
    }
  }
  mysql_free_result(r);
  while (mysql_next_result(mysql_) == 0) {
    if (MYSQL_RES* more = mysql_store_result(mysql_)) mysql_free_result(more);
  }
  return out;
}

Status MysqlConnection::queryEach(const std::string& sql, const ColumnsCallback& columns, const RowCallback& each) {
  lastError_ = 0;
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return error(sql);
  MYSQL_RES* r = mysql_use_result(mysql_);
  if (!r) {
    if (mysql_errno(mysql_) != 0) return error(sql);
    return columns(0);
  }
  const unsigned n = mysql_num_fields(r);
  Status s = columns(n);
  std::vector<std::optional<std::string_view>> values(n);
  while (s.isOk()) {
    MYSQL_ROW row = mysql_fetch_row(r);
    if (!row) break;
    const unsigned long* lengths = mysql_fetch_lengths(r);
    for (unsigned i = 0; i < n; ++i) {
      values[i] = row[i] ? std::optional<std::string_view>(std::string_view(row[i], lengths[i])) : std::nullopt;
    }
    s = each(values);
  }
  // The rest of the result is read (and dropped) whatever happened, so the connection stays usable.
  while (mysql_fetch_row(r)) {
  }
  const bool failed = mysql_errno(mysql_) != 0;
  mysql_free_result(r);
  if (s.isOk() && failed) return error(sql);
  return s;
}

Result<std::optional<std::string>> MysqlConnection::queryValue(const std::string& sql) {
  auto r = query(sql);
  if (!r) return r.status();
  if (r->rows.empty() || r->rows[0].empty()) return std::optional<std::string>();
  return r->rows[0][0];
}

Status MysqlConnection::sendCommand(std::uint8_t command, std::string_view payload, bool expectOk) {
  lastError_ = 0;
  if (mysql_->methods->db_command(mysql_, static_cast<enum_server_command>(command), payload.data(), payload.size(),
                                  expectOk ? 0 : 1, nullptr) != 0) {
    return error("command 0x" + std::to_string(command));
  }
  return Status::ok();
}

Result<std::string_view> MysqlConnection::readPacket() {
  lastError_ = 0;
  const unsigned long length = mysql_net_read_packet(mysql_);
  if (length == packet_error) return error("reading the binlog stream");
  // Error packets never get here: the read turns them into the connection's error.
  return std::string_view(reinterpret_cast<const char*>(mysql_->net.read_pos), length);
}

std::string MysqlConnection::quote(std::string_view value) {
  std::string out = "'";
  for (const char c : value) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

void MysqlConnection::cancel() {
  const my_socket fd = mysql_get_socket(mysql_);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

}  // namespace canal::mysql
