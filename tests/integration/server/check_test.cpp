// canal-server --check --connect against a real MariaDB: a configuration that works passes, and
// each broken one (a wrong password, an address nothing listens on, a filter that matches no
// table, a binlog not in ROW format, a user without replication privileges) exits non-zero with
// a message naming the key and the file.

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/canal_server_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal {
namespace {

using namespace std::chrono_literals;

class CheckConnectTest : public testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY)"));
  }

  // canal-server --check --connect on a fresh conf/ whose instance.properties gets `extra`
  // appended (a later line wins); its exit code, and its output in `out`.
  int check(const std::string& extra, std::string& out) {
    testing::TempDir dir("canal-check");
    testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db_->port(), "",
                                       "mysql-bin.000001", "4");
    std::ofstream(dir.path() / "conf" / "example" / "instance.properties", std::ios::app) << extra;
    testing::ChildProcess p;
    const std::string log = (dir.path() / "check.log").string();
    EXPECT_TRUE(p.start({CANAL_SERVER_BINARY, "--config", (dir.path() / "conf" / "canal.properties").string(), "--check",
                         "--connect"},
                        log));
    const int rc = p.wait(60s);
    out = testing::readFile(log);
    return rc;
  }
};

TEST_F(CheckConnectTest, AWorkingConfigurationPassesAndEachBrokenOneIsNamed) {
  std::string out;
  EXPECT_EQ(check("", out), 0) << out;
  EXPECT_NE(out.find("configuration OK"), std::string::npos) << out;

  EXPECT_NE(check("canal.instance.dbPassword = wrong\n", out), 0);
  EXPECT_NE(out.find("canal.instance.master.address in "), std::string::npos) << out;
  EXPECT_NE(out.find("instance.properties"), std::string::npos) << out;
  EXPECT_NE(out.find("canal.instance.dbPassword"), std::string::npos) << out;

  EXPECT_NE(check("canal.instance.master.address = 127.0.0.1:" + std::to_string(testing::freePort()) + "\n", out), 0);
  EXPECT_NE(out.find("canal.instance.master.address in "), std::string::npos) << out;

  EXPECT_NE(check("canal.instance.filter.regex = nothing\\\\..*\n", out), 0);
  EXPECT_NE(out.find("canal.instance.filter.regex 'nothing\\..*'"), std::string::npos) << out;
  EXPECT_NE(out.find("matches no table"), std::string::npos) << out;

  ASSERT_TRUE(db_->execute("CREATE USER weak@'%' IDENTIFIED BY 'weak'; GRANT SELECT ON *.* TO weak@'%'"));
  EXPECT_NE(check("canal.instance.dbUsername = weak\ncanal.instance.dbPassword = weak\n", out), 0);
  EXPECT_NE(out.find("lacks REPLICATION SLAVE"), std::string::npos) << out;

  ASSERT_TRUE(db_->execute("SET GLOBAL binlog_format = STATEMENT"));
  EXPECT_NE(check("", out), 0);
  ASSERT_TRUE(db_->execute("SET GLOBAL binlog_format = ROW"));
  EXPECT_NE(out.find("binlog_format is statement"), std::string::npos) << out;
}

}  // namespace
}  // namespace canal
