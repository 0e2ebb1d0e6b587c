#include "server/common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "tests/support/fixtures.h"
#include "tests/support/temp_dir.h"

namespace canal {
namespace {

TEST(Logging, ModuleLoggersShareTheConfiguredFile) {
  canal::testing::TempDir dir;
  auto early = moduleLogger("early");  // created before initLogging: re-pointed by it
  std::string error;
  ASSERT_TRUE(initLogging({"debug", dir.path().string(), "canal.log", false}, &error)) << error;
  auto binlog = moduleLogger("binlog");
  EXPECT_EQ(moduleLogger("binlog"), binlog);  // one logger per module
  binlog->info("decoded {} events", 3);
  early->debug("still here");
  binlog->flush();
  early->flush();
  const std::string text = canal::testing::readFile((dir.path() / "canal.log").string());
  EXPECT_NE(text.find("[binlog] decoded 3 events"), std::string::npos) << text;
  EXPECT_NE(text.find("[early] still here"), std::string::npos) << text;
  ASSERT_TRUE(initLogging({}, &error));  // back to stderr before the directory goes away
}

TEST(Logging, BadLevelIsRefused) {
  std::string error;
  EXPECT_FALSE(initLogging({"loud", "", "canal.log", true}, &error));
  EXPECT_NE(error.find("loud"), std::string::npos);
}

}  // namespace
}  // namespace canal
