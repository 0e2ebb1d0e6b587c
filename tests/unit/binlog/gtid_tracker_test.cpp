#include "server/binlog/gtid_tracker.h"

#include <gtest/gtest.h>

namespace canal::binlog {
namespace {

constexpr const char* kUuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

GtidEvent gtid(std::uint64_t gno, std::string tag = {}) {
  GtidEvent g;
  auto set = MysqlGtidSet::parse(std::string(kUuid) + ":1");
  EXPECT_TRUE(set.isOk());
  const std::string encoded = set->encode();  // n_sids(8), then the uuid's 16 bytes
  std::copy(encoded.begin() + 8, encoded.begin() + 24, g.sid.begin());
  g.gno = gno;
  g.tag = std::move(tag);
  return g;
}

TEST(GtidTracker, MySqlTransactionsCountOnceCommittedAndShowWhileInProgress) {
  GtidTracker t;
  ASSERT_TRUE(t.start("").isOk());
  t.note(gtid(100));
  EXPECT_EQ(t.executedWithPending(), std::string(kUuid) + ":1-100") << "Canal's assumption: 1 up to the first seen";
  EXPECT_EQ(t.mysqlExecuted(), std::string(kUuid) + ":1-99");
  EXPECT_FALSE(t.mysqlWhole());
  t.commit();
  EXPECT_EQ(t.mysqlExecuted(), std::string(kUuid) + ":1-100");
  t.note(gtid(101));
  t.discardPending();  // the link was lost in it
  EXPECT_EQ(t.executedWithPending(), std::string(kUuid) + ":1-100");
  t.note(gtid(101));
  t.note(gtid(102));  // a new GTID: the one before it ended
  EXPECT_EQ(t.mysqlExecuted(), std::string(kUuid) + ":1-101");
  EXPECT_EQ(t.executedWithPending(), std::string(kUuid) + ":1-102");
  t.note(gtid(7, "tag"));
  EXPECT_EQ(t.executedWithPending(), std::string(kUuid) + ":1-102:tag:7") << "tagged GTIDs are in the set under their tag";
  t.commit();
  EXPECT_EQ(t.mysqlExecuted(), std::string(kUuid) + ":1-102:tag:7");
}

TEST(GtidTracker, PreviousGtidsMakeTheSetWholeAndAStartSetIsWhole) {
  GtidTracker t;
  t.note(PreviousGtidsEvent{std::string(kUuid) + ":1-5"});
  EXPECT_TRUE(t.mysqlWhole());
  t.note(gtid(6));
  t.commit();
  EXPECT_EQ(t.mysqlExecuted(), std::string(kUuid) + ":1-6");
  GtidTracker empty;
  empty.note(PreviousGtidsEvent{""});
  EXPECT_TRUE(empty.mysqlWhole());
  empty.note(gtid(9));
  EXPECT_EQ(empty.executedWithPending(), std::string(kUuid) + ":9") << "a known empty set assumes nothing";
  GtidTracker started;
  ASSERT_TRUE(started.start(std::string(kUuid) + ":1-3").isOk());
  EXPECT_TRUE(started.mysqlWhole());
  EXPECT_FALSE(started.start("0-1-x").isOk());
}

TEST(GtidTracker, MariaDbKeepsOneGtidPerDomainAndTheLastCommitted) {
  GtidTracker t;
  ASSERT_TRUE(t.start("0-1-5, 2-1-9").isOk());
  EXPECT_EQ(t.executedWithPending(), "0-1-5,2-1-9");
  MariaGtidEvent g;
  g.domainId = 1;
  g.sequence = 7;
  t.note(g, 2);
  EXPECT_EQ(t.executedWithPending(), "0-1-5,1-2-7,2-1-9");
  EXPECT_EQ(t.mariaLast(), "");
  t.commit();
  EXPECT_EQ(t.mariaLast(), "1-2-7");
  g.domainId = 0;
  g.sequence = 6;
  t.note(g, 1);
  EXPECT_EQ(t.executedWithPending(), "0-1-6,1-2-7,2-1-9");
  EXPECT_EQ(t.mariaLast(), "1-2-7");
}

}  // namespace
}  // namespace canal::binlog
