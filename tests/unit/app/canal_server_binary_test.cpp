// The canal-server binary's command line on configuration alone (--check): Canal's stock files
// in a directory of their own, as a Canal user keeps them in /etc/canal/.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::testing {
namespace {

namespace fs = std::filesystem;

TEST(CanalServerBinary, ConfNamesTheDirectoryOfTheDestinationsWithCanalsStockFiles) {
  TempDir dir("canal-stock-conf");
  const fs::path conf = dir.path() / "etc" / "canal";  // nothing at conf/../conf
  fs::create_directories(conf.parent_path());
  fs::copy(fs::path(CANAL_SOURCE_DIR) / "tests" / "fixtures" / "canal-conf-1.1.8", conf, fs::copy_options::recursive);
  std::string output;
  const int rc = runCommand({CANAL_SERVER_BINARY, "--conf", conf.string(), "--check"}, &output);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("configuration OK: 1 destination(s)"), std::string::npos) << output;
  EXPECT_EQ(output.find("../conf"), std::string::npos) << output;

  // An absolute canal.conf.dir is taken as it is.
  const fs::path elsewhere = dir.path() / "instances";
  fs::create_directories(elsewhere / "other");
  fs::copy_file(conf / "example" / "instance.properties", elsewhere / "other" / "instance.properties");
  std::ofstream(conf / "canal.properties", std::ios::app)
      << "\ncanal.conf.dir = " << elsewhere.string() << "\ncanal.destinations = other\n";
  output.clear();
  EXPECT_EQ(runCommand({CANAL_SERVER_BINARY, "--conf", conf.string(), "--check"}, &output), 0) << output;
}

// Canal's stock canal.properties with canal.serverMode = kafka (nothing else changed) and its
// example instance (canal.mq.topic = example) check out as an MQ-mode configuration.
TEST(CanalServerBinary, CanalsStockFilesInKafkaModeCheckOut) {
  TempDir dir("canal-stock-kafka");
  const fs::path conf = dir.path() / "conf";
  fs::copy(fs::path(CANAL_SOURCE_DIR) / "tests" / "fixtures" / "canal-conf-1.1.8", conf, fs::copy_options::recursive);
  std::ifstream in(conf / "canal.properties");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = text.find("canal.serverMode = tcp");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, std::string("canal.serverMode = tcp").size(), "canal.serverMode = kafka");
  std::ofstream(conf / "canal.properties") << text;
  std::string output;
  EXPECT_EQ(runCommand({CANAL_SERVER_BINARY, "--conf", conf.string(), "--check"}, &output), 0) << output;
  EXPECT_NE(output.find("configuration OK: 1 destination(s), MQ mode kafka"), std::string::npos) << output;
  EXPECT_EQ(output.find("unknown key"), std::string::npos) << output;
}

}  // namespace
}  // namespace canal::testing
