#include "forwarder/mariadb_login.h"

namespace canal::forwarder {

MYSQL* openMariaDb(const MariaDbLogin& login, unsigned* errorCode, std::string* error) {
  MYSQL* mysql = mysql_init(nullptr);
  if (!mysql) {
    *errorCode = 0;
    *error = "mysql_init failed (out of memory)";
    return nullptr;
  }
  const unsigned seconds = static_cast<unsigned>((login.timeout.count() + 999) / 1000);
  mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &seconds);
  mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &seconds);
  mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &seconds);
  mysql_options(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  // libmariadb takes the socket only without a host (or with "localhost").
  const bool bySocket = !login.socket.empty();
  if (!mysql_real_connect(mysql, bySocket ? nullptr : login.host.c_str(), login.user.c_str(), login.password.c_str(),
                          login.database.empty() ? nullptr : login.database.c_str(), static_cast<unsigned>(login.port),
                          bySocket ? login.socket.c_str() : nullptr, 0)) {
    *errorCode = mysql_errno(mysql);
    *error = mysql_error(mysql);
    mysql_close(mysql);
    return nullptr;
  }
  return mysql;
}

}  // namespace canal::forwarder
