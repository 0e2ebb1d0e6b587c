// canal.properties edited while canal-server runs: SIGHUP applies what can change at run time
// (the admin login of the snapshot API, the client port's credentials and limits), names in the
// log what needs a restart, and a file that does not load changes nothing.

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include "canal/client/canal_connector.h"
#include "canal/protocol/password_scramble.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/http_get.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/temp_dir.h"

namespace canal {
namespace {

using namespace std::chrono_literals;

class ReloadTest : public testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s"));
    auto end = db_->binlogEnd();
    ASSERT_TRUE(end) << end.status().toString();
    server_ = std::make_unique<testing::CanalServerProcess>(CANAL_SERVER_BINARY, dir_.path(), "memory-instance.xml",
                                                            db_->port(), "", end->file, std::to_string(end->position));
    ASSERT_TRUE(server_->start());
    ASSERT_TRUE(server_->waitServing(20s)) << server_->logTail();
  }

  // Appends `lines` to canal.properties, sends SIGHUP and waits for the log to say `expect`
  // after what it said before; the log.
  std::string edit(const std::string& lines, const std::string& expect) {
    std::ofstream(dir_.path() / "conf" / "canal.properties", std::ios::app) << lines;
    ::kill(server_->pid(), SIGHUP);
    std::string log;
    const bool said = testing::waitUntil(10s, [&] {
      log = server_->logTail(100000);
      return log.find(expect, seen_) != std::string::npos;
    });
    EXPECT_TRUE(said) << "expected \"" << expect << "\" in\n" << log;
    seen_ = said ? log.find(expect, seen_) + expect.size() : seen_;
    return log;
  }
  long snapshots(const std::string& user, const std::string& password) {
    return testing::httpRequest("GET",
                                "http://127.0.0.1:" + std::to_string(server_->metricsPort()) +
                                    "/destinations/example/snapshots",
                                "", user, password)
        .status;
  }
  client::Status login(const std::string& user, const std::string& password) {
    auto c = client::newSingleConnector(server_->address(), "example", user, password, client::ConnectorOptions{});
    return c->connect();
  }

  testing::TempDir dir_{"canal-reload"};
  std::unique_ptr<testing::CanalServerProcess> server_;
  std::size_t seen_ = 0;
};

TEST_F(ReloadTest, SighupAppliesNewCredentialsNamesWhatNeedsARestartAndKeepsTheRunningValuesOfABrokenFile) {
  EXPECT_EQ(snapshots("admin", "admin"), 403) << "no admin password yet";
  edit("canal.admin.user = admin\ncanal.admin.passwd = " + protocol::passwordHash("admin") + "\n" +
           "canal.port = " + std::to_string(testing::freePort()) + "\n",
       "re-read; applied: canal.admin.user, canal.admin.passwd; changed, needing a restart: canal.port");
  EXPECT_EQ(snapshots("admin", "admin"), 404) << "authorized: no snapshot has run";
  EXPECT_EQ(snapshots("admin", "wrong"), 401);

  EXPECT_TRUE(login("", "")) << "no client credentials yet";
  edit("canal.user = canal\ncanal.passwd = " + protocol::passwordHash("secret") + "\n", "applied: canal.admin.user, "
                                                                                        "canal.admin.passwd, canal.user, "
                                                                                        "canal.passwd");
  EXPECT_FALSE(login("canal", "wrong"));
  EXPECT_TRUE(login("canal", "secret"));

  const std::string log = edit("canal.net.connections.max = many\n", "the running values stay");
  EXPECT_NE(log.find("canal.net.connections.max"), std::string::npos) << log;
  EXPECT_TRUE(login("canal", "secret"));
  EXPECT_EQ(snapshots("admin", "admin"), 404);
  EXPECT_EQ(server_->stop(), 0);
}

}  // namespace
}  // namespace canal
