#include "server/replica/transaction_tracker.h"

#include <gtest/gtest.h>

#include "server/binlog/event_type.h"
#include "tests/support/fixtures.h"

namespace canal::replica {
namespace {

struct Groups {
  std::vector<std::string> opens;  // type names of the events that opened a group
  std::vector<std::string> ends;   // and of those that ended one
};

Groups walk(const std::string& fixture) {
  const std::string data = testing::readFile(testing::fixtureDir() + "/" + fixture);
  binlog::EventStream stream(data, fixture);
  binlog::RawEvent e;
  TransactionTracker tracker;
  Groups g;
  while (*stream.next(e)) {
    const auto step = tracker.note(e, stream.format());
    std::string name = binlog::eventTypeName(e.header.type);
    if (e.header.type == binlog::kQueryEvent) {
      name += " " + binlog::decodeQuery(e.body, stream.format(), false, "t")->query.substr(0, 15);
    }
    if (step.opens) g.opens.push_back(name);
    if (step.ends) g.ends.push_back(name);
  }
  return g;
}

// Statement-format transactions: the statements between BEGIN and XID/COMMIT/ROLLBACK stay in
// their group; DDL stands alone.
TEST(TransactionTracker, StatementTransactionsAndLoneDdl) {
  const Groups g = walk("mysql-5.0/binlog_transaction.000001");
  EXPECT_EQ(g.opens, (std::vector<std::string>{"QUERY_EVENT create table t1", "QUERY_EVENT create table t2",
                                               "QUERY_EVENT BEGIN", "QUERY_EVENT create table t3",
                                               "QUERY_EVENT create table t4", "QUERY_EVENT BEGIN",
                                               "QUERY_EVENT create table t5", "QUERY_EVENT create table t6",
                                               "QUERY_EVENT BEGIN"}));
  EXPECT_EQ(g.ends, (std::vector<std::string>{"QUERY_EVENT create table t1", "QUERY_EVENT create table t2",
                                              "XID_EVENT", "QUERY_EVENT create table t3",
                                              "QUERY_EVENT create table t4", "QUERY_EVENT ROLLBACK",
                                              "QUERY_EVENT create table t5", "QUERY_EVENT create table t6",
                                              "QUERY_EVENT COMMIT"}));
}

// MariaDB: every GTID opens a group, and each group ends once (XID, COMMIT or its DDL).
TEST(TransactionTracker, MariaDbGroupsEndOnceEach) {
  const Groups g = walk("mariadb-10.11-generated/crc32_full/mariadb-bin.000002");
  EXPECT_EQ(g.opens.size(), 50u);
  EXPECT_EQ(g.ends.size(), 50u);
  for (const auto& o : g.opens) EXPECT_EQ(o, "MARIA_GTID_EVENT");
}

}  // namespace
}  // namespace canal::replica
