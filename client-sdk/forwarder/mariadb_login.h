#pragma once

// A libmariadb connection opened as canal-forwarder opens them (the source database of
// documents, the sql sink's target): utf8mb4, one timeout for connecting, reading and writing,
// host and port or a unix socket. Thread contract: functions without state.

#include <mysql.h>

#include <chrono>
#include <string>

namespace canal::forwarder {

struct MariaDbLogin {
  std::string host;
  int port = 3306;
  std::string socket;  // instead of host/port
  std::string user;
  std::string password;
  std::string database;  // empty: none
  std::chrono::milliseconds timeout{10000};
};

// The open connection; null with `errorCode` (0: out of memory) and `error` set when it cannot
// be opened.
MYSQL* openMariaDb(const MariaDbLogin& login, unsigned* errorCode, std::string* error);

}  // namespace canal::forwarder
