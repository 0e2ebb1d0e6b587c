// Which edits of canal.properties a re-read applies at run time and which need a restart.

#include "server/app/server_reload.h"

#include <gtest/gtest.h>

namespace canal::app {
namespace {

PropertiesFile parse(const std::string& text) {
  auto f = PropertiesFile::parse(text, "canal.properties");
  EXPECT_TRUE(f.isOk()) << f.status().toString();
  return std::move(f).value();
}

TEST(ServerReload, ChangedKeysAreSplitIntoAppliedAndNeedingARestart) {
  const PropertiesFile running = parse("canal.port = 11111\ncanal.user = canal\ncanal.net.receive.budget = 1048576\n"
                                       "canal.zkServers = zk:2181\n");
  const PropertiesFile edited = parse("canal.port = 11112\ncanal.user = canal\ncanal.admin.passwd = ABC\n"
                                      "canal.net.receive.budget = 2097152\ncanal.instance.memory.buffer.size = 1024\n");
  const ServerFileChanges c = compareServerFiles(running, edited);
  EXPECT_EQ(c.applied, (std::vector<std::string>{"canal.admin.passwd", "canal.net.receive.budget"}));
  EXPECT_EQ(c.needRestart,
            (std::vector<std::string>{"canal.port", "canal.instance.memory.buffer.size", "canal.zkServers"}))
      << "a removed key counts as changed";
  EXPECT_TRUE(compareServerFiles(running, running).applied.empty());
  EXPECT_TRUE(compareServerFiles(running, running).needRestart.empty());
}

}  // namespace
}  // namespace canal::app
