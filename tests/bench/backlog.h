#pragma once

// The backlog the throughput benchmarks serve: s.t (id, name, amount, created) and `rows` rows of
// it written in 1000-row INSERTs.

#include <algorithm>
#include <string>

#include "tests/support/mariadb_server.h"

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

}  // namespace canal::bench
