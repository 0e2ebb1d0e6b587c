// canal-binlog --events on real fixtures: one JSON line per event (payload events included), and
// for a broken file what decoded, a one-line error naming file:offset and exit code 2.

#include <gtest/gtest.h>

#include <sstream>

#include "tests/support/fixtures.h"
#include "tests/support/process.h"

namespace canal::testing {
namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  std::string line;
  while (std::getline(s, line)) out.push_back(line);
  return out;
}

int count(const std::vector<std::string>& ls, const std::string& needle) {
  int n = 0;
  for (const auto& l : ls) n += l.find(needle) != std::string::npos;
  return n;
}

TEST(CanalBinlogTool, EventsOfACompressedTransaction) {
  std::string output;
  const int rc = runCommand({CANAL_BINLOG_TOOL, "--events", fixtureDir() + "/mysql-8.0/transaction_compression.000001"},
                            &output);
  EXPECT_EQ(rc, 0) << output;
  const auto ls = lines(output);
  ASSERT_EQ(ls.size(), 9u) << output;
  EXPECT_EQ(count(ls, "\"inside\":\"TRANSACTION_PAYLOAD_EVENT\""), 4);
  EXPECT_EQ(count(ls, "\"query\":\"BEGIN\""), 1);
  EXPECT_EQ(count(ls, "\"xid\":462"), 1);
  EXPECT_EQ(count(ls, "\"nextFile\":\"binlog.000043\""), 1);
}

TEST(CanalBinlogTool, BrokenFilePrintsWhatDecodedThenTheError) {
  const std::string file = fixtureDir() + "/mysql-5.0/corrupt-relay-bin.000624";
  std::string output;
  const int rc = runCommand({CANAL_BINLOG_TOOL, "--events", file}, &output);
  EXPECT_EQ(rc, 2);
  const auto ls = lines(output);
  ASSERT_GT(ls.size(), 800u);
  EXPECT_EQ(count(ls, "canal-binlog: " + file + ":91204: QUERY_EVENT is truncated"), 1) << ls.back();
}

TEST(CanalBinlogTool, TruncatedHeader) {
  const std::string file = fixtureDir() + "/mysql-unknown/binlog_truncated_event.000001";
  std::string output;
  EXPECT_EQ(runCommand({CANAL_BINLOG_TOOL, "--events", file}, &output), 2);
  EXPECT_NE(output.find(file + ":4: truncated event header"), std::string::npos) << output;
}

}  // namespace
}  // namespace canal::testing
