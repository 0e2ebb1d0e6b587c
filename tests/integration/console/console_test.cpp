// The web console in a real headless Chromium (console_browser.py drives it with Selenium)
// against a canal-server process with two destinations on a real MariaDB, and canal-forwarder's
// admin page for a forwarder keeping a SQL copy of one table; then what both logged of the
// actions taken from the pages.

#include <fstream>

#include "canal/protocol/password_scramble.h"
#include "tests/integration/server/operations_fixture.h"

namespace canal {
namespace {

TEST_F(OperationsTest, TheConsoleInABrowserWatchesStopsEditsSnapshotsAndAddsDestinations) {
  testing::TempDir dir("canal-console");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  // auto-scan on (a destination added from the page is found), but only the page's own scans run.
  writeServerConf(conf, port, metricsPort,
                  "canal.destinations =\ncanal.auto.scan = true\ncanal.auto.scan.interval = 3600\n"
                  "canal.admin.user = admin\ncanal.admin.passwd = " + protocol::passwordHash("secret-1") + "\n");
  writeInstance(conf, "a", 8201, "s\\\\.a");
  writeInstance(conf, "b", 8202, "s\\\\.t");
  testing::ChildProcess server;
  const fs::path logs = dir.path() / "logs";
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string(), "--logs", logs.string()},
                           (dir.path() / "server.out").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "a") && following(metricsPort, "b"); }))
      << status(metricsPort).dump() << server.logTail();

  // canal-forwarder keeping a copy of s.t (destination b) in the database "copy", with its page.
  ASSERT_TRUE(db_->execute("CREATE DATABASE copy; CREATE TABLE copy.t LIKE s.t; "
                           "INSERT INTO s.t (v) VALUES (1), (2), (3), (4), (5)"));
  const int adminPort = testing::freePort();
  const fs::path forwarderConfig = dir.path() / "forwarder.yml";
  std::ofstream(forwarderConfig) << "source:\n  address: 127.0.0.1:" << port << "\n  destination: b\n"
                                 << "admin:\n  listen: 127.0.0.1:" << adminPort << "\n  user: ops\n  password: secret-2\n"
                                 << "sinks:\n  - type: sql\n    name: copy\n    sql:\n      driver: mariadb\n"
                                 << "      host: 127.0.0.1\n      port: " << db_->port() << "\n      user: root\n"
                                 << "      database: copy\n      load:\n        snapshot_url: http://127.0.0.1:" << metricsPort
                                 << "\n        snapshot_user: admin\n        snapshot_password: secret-1\n"
                                 << "      mappings:\n        - table: s.t\n          target: copy.t\n";
  testing::ChildProcess forwarder;
  ASSERT_TRUE(forwarder.start({CANAL_FORWARDER_BINARY, "--config", forwarderConfig.string()},
                              (dir.path() / "forwarder.log").string()));

  testing::ChildProcess browser;
  const fs::path output = dir.path() / "browser.log";
  ASSERT_TRUE(browser.start({"/usr/bin/python3", CANAL_CONSOLE_BROWSER_SCRIPT, "--base",
                             "http://127.0.0.1:" + std::to_string(metricsPort), "--user", "admin", "--password",
                             "secret-1", "--conf", conf.string(), "--db-port", std::to_string(db_->port()),
                             "--screenshots", CANAL_CONSOLE_SCREENSHOTS, "--forwarder",
                             "http://127.0.0.1:" + std::to_string(adminPort)},
                            output.string()));
  const int exit = browser.wait(300s);
  ASSERT_EQ(exit, 0) << testing::readFile(output.string()) << "\nserver:\n" << server.logTail() << "\nforwarder:\n" << forwarder.logTail();
  const std::string forwarderLog = testing::readFile((dir.path() / "forwarder.log").string());
  for (const std::string line : {"admin page: ops logged in from 127.0.0.1", "admin page: ops from 127.0.0.1: POST /load/s.t: 202",
                                 "without a valid CSRF token refused"}) {
    EXPECT_NE(forwarderLog.find(line), std::string::npos) << line << "\n" << forwarder.logTail();
  }
  EXPECT_EQ(forwarder.stop(), 0) << forwarder.logTail();

  // Who did what, from where, in the server's log.
  const std::string log = testing::readFile((logs / "canal" / "canal.log").string());
  for (const std::string line : {"console: admin logged in from 127.0.0.1",
                                 "console: admin from 127.0.0.1: stop destination b",
                                 "console: admin from 127.0.0.1: start destination b",
                                 "console: admin from 127.0.0.1: edited instance.properties of a failed",
                                 "console: admin from 127.0.0.1: edited instance.properties of a\n",
                                 "console: admin from 127.0.0.1: started a snapshot of a",
                                 "console: admin from 127.0.0.1: added destination c\n",
                                 "without a valid CSRF token refused"}) {
    EXPECT_NE(log.find(line), std::string::npos) << line << "\n" << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);
  }
  EXPECT_EQ(server.stop(), 0) << server.logTail();
}

}  // namespace
}  // namespace canal
