#include "server/common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <thread>

#include "tests/support/fixtures.h"
#include "tests/support/temp_dir.h"

namespace canal {
namespace {

LoggingOptions filesOnly(const std::filesystem::path& dir) {
  LoggingOptions o;
  o.level = "debug";
  o.directory = dir.string();
  o.toStderr = false;
  return o;
}

TEST(Logging, ModuleLoggersShareTheServerFile) {
  canal::testing::TempDir dir;
  auto early = moduleLogger("early");  // created before initLogging: re-pointed by it
  std::string error;
  ASSERT_TRUE(initLogging(filesOnly(dir.path()), &error)) << error;
  auto binlog = moduleLogger("binlog");
  EXPECT_EQ(moduleLogger("binlog"), binlog);  // one logger per module
  binlog->info("decoded {} events", 3);
  early->debug("still here");
  binlog->flush();
  early->flush();
  const std::string text = canal::testing::readFile((dir.path() / "canal" / "canal.log").string());
  EXPECT_NE(text.find("[binlog] decoded 3 events"), std::string::npos) << text;
  EXPECT_NE(text.find("[early] still here"), std::string::npos) << text;
  ASSERT_TRUE(initLogging({}, &error));  // back to stderr before the directory goes away
}

TEST(Logging, DestinationThreadsWriteTheirOwnFile) {
  canal::testing::TempDir dir;
  std::string error;
  ASSERT_TRUE(initLogging(filesOnly(dir.path()), &error)) << error;
  auto log = moduleLogger("replica");
  std::thread([&] {
    DestinationLogScope scope("orders");
    log->info("following from mysql-bin.000001:4");
    {
      DestinationLogScope inner("users");
      log->info("a nested scope wins");
    }
    log->info("and ends");
  }).join();
  log->info("server line");
  log->flush();
  const std::string server = canal::testing::readFile((dir.path() / "canal" / "canal.log").string());
  const std::string orders = canal::testing::readFile((dir.path() / "orders" / "orders.log").string());
  const std::string users = canal::testing::readFile((dir.path() / "users" / "users.log").string());
  EXPECT_NE(orders.find("following from mysql-bin.000001:4"), std::string::npos) << orders;
  EXPECT_NE(orders.find("and ends"), std::string::npos) << orders;
  EXPECT_NE(users.find("a nested scope wins"), std::string::npos) << users;
  EXPECT_NE(server.find("server line"), std::string::npos) << server;
  EXPECT_EQ(server.find("following from"), std::string::npos) << server;
  ASSERT_TRUE(initLogging({}, &error));
}

TEST(Logging, FilesRotateAtTheirSize) {
  canal::testing::TempDir dir;
  std::string error;
  LoggingOptions o = filesOnly(dir.path());
  o.maxFileBytes = 4096;
  o.maxFiles = 2;
  ASSERT_TRUE(initLogging(o, &error)) << error;
  auto log = moduleLogger("net");
  for (int i = 0; i < 200; ++i) log->info("line {} of a log that outgrows its file", i);
  log->flush();
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "canal" / "canal.1.log"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "canal" / "canal.2.log"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "canal" / "canal.3.log"));
  EXPECT_LE(std::filesystem::file_size(dir.path() / "canal" / "canal.log"), 4096u);
  ASSERT_TRUE(initLogging({}, &error));
}

TEST(Logging, BadLevelIsRefused) {
  std::string error;
  LoggingOptions o;
  o.level = "loud";
  EXPECT_FALSE(initLogging(o, &error));
  EXPECT_NE(error.find("loud"), std::string::npos);
}

TEST(RepeatFilter, LetsARepeatThroughOncePerIntervalWithTheCountHeldBack) {
  RepeatFilter f(std::chrono::milliseconds(200));
  EXPECT_EQ(f.admit("connection refused"), 0u);
  EXPECT_FALSE(f.admit("connection refused"));
  EXPECT_FALSE(f.admit("connection refused"));
  EXPECT_EQ(f.admit("access denied"), 0u) << "a different message goes through at once";
  EXPECT_FALSE(f.admit("access denied"));
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_EQ(f.admit("access denied"), 1u) << "after the interval, with the repeats held back";
}

}  // namespace
}  // namespace canal
