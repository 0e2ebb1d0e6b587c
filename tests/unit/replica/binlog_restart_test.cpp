// A binlog started again (RESET MASTER, a restored backup) told from a purged one by the
// server's binlog list.

#include <gtest/gtest.h>

#include "server/replica/replica_stream.h"

namespace canal::replica {
namespace {

TEST(BinlogStartedAgain, AGoneOrShorterFileIsARestartAPurgedOneIsNot) {
  using Logs = std::vector<std::pair<std::string, std::uint64_t>>;
  const Logs afterReset{{"mysql-bin.000001", 328}};
  EXPECT_TRUE(binlogStartedAgain(afterReset, "mysql-bin.000006", 1200).has_value()) << "gone, nothing newer";
  EXPECT_TRUE(binlogStartedAgain(afterReset, "mysql-bin.000001", 2991).has_value()) << "shorter than read";
  EXPECT_FALSE(binlogStartedAgain(afterReset, "mysql-bin.000001", 328).has_value()) << "read to its end";
  const Logs purged{{"mysql-bin.000005", 900}, {"mysql-bin.000006", 400}};
  EXPECT_FALSE(binlogStartedAgain(purged, "mysql-bin.000003", 700).has_value()) << "purged: the dump says so";
  EXPECT_FALSE(binlogStartedAgain(purged, "mysql-bin.000006", 400).has_value());
  EXPECT_TRUE(binlogStartedAgain(purged, "mysql-bin.000006", 401).has_value());
  EXPECT_FALSE(binlogStartedAgain({}, "mysql-bin.000006", 4).has_value()) << "no list: nothing concluded";
  const auto reason = binlogStartedAgain(afterReset, "mysql-bin.000006", 1200);
  EXPECT_NE(reason->find("mysql-bin.000006"), std::string::npos) << *reason;
  EXPECT_TRUE(isPositionRefused(Status::positionRefused("reading the binlog stream: error 1236: could not find next log")));
  EXPECT_FALSE(isPositionRefused(Status::ioError("reading the binlog stream: error 1236 in a message")));
  EXPECT_FALSE(isPositionRefused(Status::unavailable("link lost")));
}

}  // namespace
}  // namespace canal::replica
