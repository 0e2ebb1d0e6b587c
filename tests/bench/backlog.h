#pragma once

// The backlog the throughput benchmarks serve: a MariaDB started for the run with s.t (id, name,
// amount, created) and `rows` rows of it written in 1000-row INSERTs; and the wait for the
// canal-server that serves it.

#include <algorithm>
#include <memory>
#include <string>

#include "canal/client/canal_connector.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/process.h"

namespace canal::bench {

inline bool createBacklogTable(testing::MariaDbServer& db) {
  return db.execute("CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY, name VARCHAR(32), amount DECIMAL(10,2), "
                    "created DATETIME)")
      .isOk();
}

inline bool writeBacklog(testing::MariaDbServer& db, long rows) {
  for (long i = 0; i < rows; i += 1000) {
    std::string sql = "INSERT INTO s.t VALUES ";
    for (long k = i; k < std::min(rows, i + 1000); ++k) {
      sql += (k > i ? ",(" : "(") + std::to_string(k) + ",'name-" + std::to_string(k) + "'," + std::to_string(k % 1000) +
             ".50,'2024-01-02 03:04:05')";
    }
    if (!db.execute(sql)) return false;
  }
  return true;
}

// True once `server`'s client port takes a connection to destination example (30 s at most).
inline bool clientsAnswer(const testing::CanalServerProcess& server) {
  return testing::waitUntil(std::chrono::seconds(30), [&] {
    client::ConnectorOptions o;
    o.retries = 0;
    return client::newSingleConnector(server.address(), "example", "", "", o)->connect().isOk();
  });
}

struct Backlog {
  std::unique_ptr<testing::MariaDbServer> db;
  testing::MariaDbServer::BinlogEnd start;  // the binlog's end before the rows
  testing::MariaDbServer::BinlogEnd end;    // and after them
};

inline Result<Backlog> startBacklog(long rows) {
  Backlog b;
  auto db = testing::MariaDbServer::start({});
  if (!db) return db.status();
  b.db = std::move(*db);
  if (!createBacklogTable(*b.db)) return Status::internal("cannot create the backlog table");
  auto start = b.db->binlogEnd();
  if (!start) return start.status();
  b.start = *start;
  if (!writeBacklog(*b.db, rows)) return Status::internal("cannot write the backlog rows");
  auto end = b.db->binlogEnd();
  if (!end) return end.status();
  b.end = *end;
  return b;
}

}  // namespace canal::bench
