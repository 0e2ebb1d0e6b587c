// canal-binlog on real fixtures: FlatMessage lines by default, one JSON line per event with
// --events (payload events included), and for a broken file what decoded, a one-line error naming
// file:offset and exit code 2.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
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

TEST(CanalBinlogTool, FlatMessagesOfTheMariaDbWorkload) {
  const std::string file = fixtureDir() + "/mariadb-10.11-generated/crc32_full/mariadb-bin.000002";
  std::string output;
  ASSERT_EQ(runCommand({CANAL_BINLOG_TOOL, "--time-zone=UTC", file}, &output), 0) << output.substr(0, 2000);
  const auto ls = lines(output);
  ASSERT_GT(ls.size(), 40u);
  int inserts = 0;
  for (const auto& l : ls) {
    const auto m = nlohmann::json::parse(l);
    std::vector<std::string> keys;
    for (const auto& [k, v] : m.items()) keys.push_back(k);
    EXPECT_EQ(keys, (std::vector<std::string>{"data", "database", "es", "gtid", "id", "isDdl", "mysqlType", "old",
                                              "pkNames", "sql", "sqlType", "table", "ts", "type"}));
    if (m["table"] != "t_int" || m["type"] != "INSERT" || inserts++ > 0) continue;  // the extremes
    ASSERT_EQ(m["data"].size(), 6u);
    EXPECT_EQ(m["pkNames"], nlohmann::json::array({"id"}));
    EXPECT_EQ(m["mysqlType"]["tiu"], "tinyint unsigned");
    EXPECT_EQ(m["data"][1]["tiu"], "255");
    EXPECT_EQ(m["data"][1]["biu"], "18446744073709551615");
    EXPECT_EQ(m["data"][5]["biu"], nullptr);
  }
  EXPECT_EQ(inserts, 5);
  EXPECT_EQ(count(ls, R"("type":"CREATE")"), 13);  // the CREATE TABLEs (CREATE DATABASE is a QUERY)
  EXPECT_EQ(count(ls, R"("sql":"CREATE DATABASE fx)"), 1);
}

TEST(CanalBinlogTool, UndecodableHiresTemporalsStopWithTheReason) {
  const std::string file = fixtureDir() + "/mariadb-10.11-generated/none_minimal/mariadb-bin.000003";
  std::string output;
  EXPECT_EQ(runCommand({CANAL_BINLOG_TOOL, "--time-zone=UTC", file}, &output), 2);
  const auto ls = lines(output);
  ASSERT_GE(ls.size(), 2u);
  EXPECT_EQ(count(ls, R"("table":"t_time_old")"), 2) << output;  // CREATE and INSERT
  EXPECT_NE(ls.back().find("canal-binlog: " + file + ":"), std::string::npos) << ls.back();
  EXPECT_NE(ls.back().find("hires"), std::string::npos) << ls.back();
}

TEST(CanalBinlogTool, BadOptionsAreUsageErrors) {
  std::string output;
  EXPECT_EQ(runCommand({CANAL_BINLOG_TOOL, "--time-zone=Nowhere/Else", "x"}, &output), 64);
  EXPECT_NE(output.find("time zone 'Nowhere/Else'"), std::string::npos) << output;
  EXPECT_EQ(runCommand({CANAL_BINLOG_TOOL, "--frobnicate", "x"}, &output), 64);
}

}  // namespace
}  // namespace canal::testing
