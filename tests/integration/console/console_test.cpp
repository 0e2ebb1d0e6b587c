// The web console in a real headless Chromium (console_browser.py drives it with Selenium)
// against a canal-server process with two destinations on a real MariaDB; then what the server
// logged of the actions taken from the page.

#include <fstream>
#include <sstream>

#include "canal/protocol/password_scramble.h"
#include "tests/integration/server/operations_fixture.h"

namespace canal {
namespace {

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

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

  testing::ChildProcess browser;
  const fs::path output = dir.path() / "browser.log";
  ASSERT_TRUE(browser.start({"/usr/bin/python3", CANAL_CONSOLE_BROWSER_SCRIPT, "--base",
                             "http://127.0.0.1:" + std::to_string(metricsPort), "--user", "admin", "--password",
                             "secret-1", "--conf", conf.string(), "--db-port", std::to_string(db_->port()),
                             "--screenshots", CANAL_CONSOLE_SCREENSHOTS},
                            output.string()));
  const int exit = browser.wait(300s);
  ASSERT_EQ(exit, 0) << readFile(output) << "\nserver:\n" << server.logTail();

  // Who did what, from where, in the server's log.
  const std::string log = readFile(logs / "canal" / "canal.log");
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
