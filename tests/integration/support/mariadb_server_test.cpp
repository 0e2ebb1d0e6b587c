// The MariaDB launcher starts a real server with a binary log that moves when rows are written.

#include "tests/support/mariadb_server.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace canal::testing {
namespace {

std::pair<std::string, long long> masterStatus(MariaDbServer& db) {
  auto rows = db.query("SHOW MASTER STATUS");
  EXPECT_TRUE(rows.isOk()) << rows.status().toString();
  if (!rows.isOk() || rows->empty()) return {"", -1};
  return {*(*rows)[0][0], std::stoll(*(*rows)[0][1])};
}

TEST(MariaDbServerTest, StartsWritesRowsAndBinlogMoves) {
  MariaDbOptions options;
  options.serverId = 7;
  auto started = MariaDbServer::start(options);
  ASSERT_TRUE(started.isOk()) << started.status().toString();
  auto& db = **started;
  EXPECT_GT(db.port(), 0);

  auto vars = db.query("SELECT @@server_id, @@binlog_format, @@log_bin, @@port");
  ASSERT_TRUE(vars.isOk()) << vars.status().toString();
  EXPECT_EQ(*(*vars)[0][0], "7");
  EXPECT_EQ(*(*vars)[0][1], "ROW");
  EXPECT_EQ(*(*vars)[0][2], "1");
  EXPECT_EQ(*(*vars)[0][3], std::to_string(db.port()));

  const auto before = masterStatus(db);
  EXPECT_EQ(before.first.rfind("mysql-bin.", 0), 0u) << before.first;
  ASSERT_TRUE(db.execute("CREATE DATABASE t").isOk());
  ASSERT_TRUE(db.execute("CREATE TABLE t.a (id INT PRIMARY KEY, v VARCHAR(10))").isOk());
  ASSERT_TRUE(db.execute("INSERT INTO t.a VALUES (1, 'x'), (2, NULL)").isOk());
  const auto after = masterStatus(db);
  EXPECT_EQ(after.first, before.first);
  EXPECT_GT(after.second, before.second);

  auto rows = db.query("SELECT id, v FROM t.a ORDER BY id");
  ASSERT_TRUE(rows.isOk());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(*(*rows)[0][1], "x");
  EXPECT_FALSE((*rows)[1][1].has_value());

  // The replication account exists with the grants a Canal destination needs.
  auto grants = db.query("SHOW GRANTS FOR 'canal'@'127.0.0.1'");
  ASSERT_TRUE(grants.isOk()) << grants.status().toString();
  EXPECT_NE((*grants)[0][0]->find("REPLICATION SLAVE"), std::string::npos);
}

TEST(MariaDbServerTest, RestartKeepsDataAndRemovesDirectoryAtEnd) {
  std::string dataDir;
  {
    auto started = MariaDbServer::start();
    ASSERT_TRUE(started.isOk()) << started.status().toString();
    auto& db = **started;
    dataDir = db.dataDir();
    ASSERT_TRUE(db.execute("CREATE DATABASE kept").isOk());
    db.kill();
    ASSERT_TRUE(db.restart().isOk()) << db.errorLog();
    auto rows = db.query("SHOW DATABASES LIKE 'kept'");
    ASSERT_TRUE(rows.isOk());
    EXPECT_EQ(rows->size(), 1u);
    ASSERT_TRUE(db.execute("FLUSH BINARY LOGS").isOk());
    EXPECT_EQ(masterStatus(db).first, "mysql-bin.000003");  // one after the crash, one after the flush
  }
  EXPECT_FALSE(std::filesystem::exists(dataDir));
}

}  // namespace
}  // namespace canal::testing
