// MySQL-flavour streams end to end through the replica code: a fake MySQL 8 primary streams real
// MySQL binlog fixtures (GTIDs, TRANSACTION_PAYLOAD) over the replication protocol.

#include "tests/support/fake_primary.h"

#include <gtest/gtest.h>

#include "server/binlog/event_type.h"
#include "server/binlog/events.h"
#include "server/binlog/rows_event.h"
#include "server/convert/binlog_changes.h"
#include "server/replica/binlog_dump.h"
#include "server/replica/replica_stream.h"
#include "server/replica/start_position.h"
#include "tests/support/fixtures.h"

namespace canal::replica {
namespace {

using testing::FakePrimary;
using testing::FakePrimaryOptions;

std::unique_ptr<FakePrimary> startPrimary(const std::string& fixture, std::size_t dieAfterEvents = 0) {
  FakePrimaryOptions o;
  o.binlogPath = testing::fixtureDir() + "/" + fixture;
  o.dieAfterEvents = dieAfterEvents;
  auto p = FakePrimary::start(o);
  EXPECT_TRUE(p.isOk()) << p.status().toString();
  return p.isOk() ? std::move(*p) : nullptr;
}

mysql::ConnectOptions account(const FakePrimary& p, std::string password = "canal") {
  mysql::ConnectOptions o;
  o.host = "127.0.0.1";
  o.port = p.port();
  o.user = "canal";
  o.password = std::move(password);
  return o;
}

// Every entry of the stream up to the end of `fixture`, payload transactions included.
std::vector<convert::ChangeEntry> collect(BinlogDump& dump, const std::string& fixture) {
  const std::size_t end = testing::readFile(testing::fixtureDir() + "/" + fixture).size();
  convert::RenderOptions options;
  options.timeZone = convert::TimeZone::utc();
  convert::ChangeAssembler assembler(options);
  std::vector<convert::ChangeEntry> out;
  convert::ChangeEntry entry;
  for (;;) {
    auto e = dump.next();
    EXPECT_TRUE(e.isOk()) << e.status().toString();
    if (!e.isOk()) return out;
    const Status handled = assembler.handleEach(e->raw, dump.format(), e->file, "fake", entry, [&] {
      out.push_back(entry);
      return Status::ok();
    });
    EXPECT_TRUE(handled.isOk()) << handled.toString();
    if (!e->artificial && e->nextPosition >= end) return out;
  }
}

std::size_t rowEntries(const std::vector<convert::ChangeEntry>& entries) {
  std::size_t n = 0;
  for (const auto& e : entries) n += !e.rows.empty();
  return n;
}

TEST(FakePrimaryStream, Mysql80CompressedTransactionsByFilePosition) {
  const std::string fixture = "mysql-8.0/apecloud-mysql-bin.000057";
  auto primary = startPrimary(fixture);
  ASSERT_TRUE(primary);
  auto connection = mysql::MysqlConnection::connect(account(*primary));
  ASSERT_TRUE(connection.isOk()) << connection.status().toString();
  EXPECT_FALSE((*connection)->isMariaDb());
  auto dump = BinlogDump::open(std::move(*connection), DumpOptions{}, DumpStart::at("binlog.000001", 4));
  ASSERT_TRUE(dump.isOk()) << dump.status().toString();
  const auto entries = collect(**dump, fixture);
  ASSERT_EQ(rowEntries(entries), 3u);
  const convert::ChangeEntry* insert = nullptr;
  for (const auto& e : entries) {
    if (!e.rows.empty() && !insert && e.rows[0].after.size() > 5) insert = &e;
  }
  ASSERT_NE(insert, nullptr);
  EXPECT_EQ(insert->rows[0].after[0].text.value, "55555");
  EXPECT_EQ(insert->rows[0].after[9].text.value, R"({"c": 1})");
  EXPECT_EQ(insert->logfileName, "binlog.000001");
  const auto commands = primary->commands();
  EXPECT_NE(std::find(commands.begin(), commands.end(), "QUERY SET @master_binlog_checksum = @@global.binlog_checksum"),
            commands.end());
  EXPECT_NE(std::find(commands.begin(), commands.end(), "REGISTER_SLAVE"), commands.end());
  EXPECT_EQ(commands.back(), "BINLOG_DUMP");
}

TEST(FakePrimaryStream, MysqlGtidDumpSkipsTransactionsTheReplicaHas) {
  const std::string fixture = "mysql-8.0/binlog-invisible-columns.000001";
  // The GTIDs of the file, in order.
  const std::string data = testing::readFile(testing::fixtureDir() + "/" + fixture);
  binlog::EventStream stream(data, fixture);
  binlog::RawEvent e;
  std::vector<std::string> gtids;
  std::size_t rowsEventsAfterThird = 0;
  while (*stream.next(e)) {
    if (e.header.type == binlog::kGtidLogEvent) gtids.push_back(binlog::decodeGtid(e.body, false, "f")->gtid());
    if (binlog::isRowsEvent(e.header.type) && gtids.size() > 3) ++rowsEventsAfterThird;
  }
  ASSERT_GE(gtids.size(), 4u);

  auto primary = startPrimary(fixture);
  ASSERT_TRUE(primary);
  std::size_t all = 0;
  {
    auto connection = mysql::MysqlConnection::connect(account(*primary));
    ASSERT_TRUE(connection.isOk());
    auto dump = BinlogDump::open(std::move(*connection), DumpOptions{}, DumpStart::mysqlGtid(""));
    ASSERT_TRUE(dump.isOk()) << dump.status().toString();
    all = rowEntries(collect(**dump, fixture));
  }
  ASSERT_EQ(all, 3u);
  // Everything up to the third GTID is already here: only later transactions come.
  const std::string uuid = gtids[0].substr(0, gtids[0].find(':'));
  const std::string upTo = gtids[2].substr(gtids[2].find(':') + 1);
  auto connection = mysql::MysqlConnection::connect(account(*primary));
  ASSERT_TRUE(connection.isOk());
  auto dump = BinlogDump::open(std::move(*connection), DumpOptions{}, DumpStart::mysqlGtid(uuid + ":1-" + upTo));
  ASSERT_TRUE(dump.isOk()) << dump.status().toString();
  const auto rest = collect(**dump, fixture);
  EXPECT_EQ(rowEntries(rest), rowsEventsAfterThird);
  EXPECT_LT(rowsEventsAfterThird, all);
  EXPECT_EQ(primary->commands().back(), "BINLOG_DUMP_GTID");
}

// MySQL 8.4 knows only SHOW BINARY LOG STATUS, 8.0 only SHOW MASTER STATUS: the current end is
// found on both. A start by timestamp finds the transaction by its events' times.
TEST(FakePrimaryStream, CurrentEndOnMysql80And84AndStartByTimestamp) {
  const std::string fixture = "mysql-8.0/binlog-invisible-columns.000001";
  const std::string data = testing::readFile(testing::fixtureDir() + "/" + fixture);
  for (const std::string version : {"8.0.36-fake", "8.4.3-fake"}) {
    FakePrimaryOptions o;
    o.binlogPath = testing::fixtureDir() + "/" + fixture;
    o.serverVersion = version;
    auto primary = FakePrimary::start(o);
    ASSERT_TRUE(primary.isOk()) << primary.status().toString();
    auto connection = mysql::MysqlConnection::connect(account(**primary));
    ASSERT_TRUE(connection.isOk()) << connection.status().toString();
    auto end = currentEnd(**connection);
    ASSERT_TRUE(end.isOk()) << version << ": " << end.status().toString();
    EXPECT_EQ(end->file, "binlog.000001");
    EXPECT_EQ(end->position, data.size()) << version;
    const auto commands = (*primary)->commands();
    const bool renamed = version.rfind("8.4", 0) == 0;
    EXPECT_EQ(commands.back(), renamed ? "QUERY SHOW BINARY LOG STATUS" : "QUERY SHOW MASTER STATUS") << version;
  }

  // Where each transaction (GTID event) starts, and when.
  binlog::EventStream stream(data, fixture);
  binlog::RawEvent e;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> starts;
  for (std::uint64_t at = stream.offset(); *stream.next(e); at = stream.offset()) {
    if (e.header.type == binlog::kGtidLogEvent) starts.emplace_back(at, e.header.timestamp);
  }
  ASSERT_GE(starts.size(), 4u);
  ASSERT_LT(starts[1].second, starts[2].second);
  auto primary = startPrimary(fixture);
  ASSERT_TRUE(primary);
  auto third = findByTimestamp(account(*primary), std::int64_t{starts[2].second} * 1000);
  ASSERT_TRUE(third.isOk()) << third.status().toString();
  EXPECT_EQ(third->file, "binlog.000001");
  EXPECT_EQ(third->position, starts[2].first);
  auto past = findByTimestamp(account(*primary), (std::int64_t{starts.back().second} + 3600) * 1000);
  ASSERT_TRUE(past.isOk()) << past.status().toString();
  EXPECT_EQ(past->position, data.size()) << "after every transaction: the current end";
}

TEST(FakePrimaryStream, WrongPasswordIsRefused) {
  auto primary = startPrimary("mysql-8.0/transaction_compression.000001");
  ASSERT_TRUE(primary);
  auto connection = mysql::MysqlConnection::connect(account(*primary, "nope"));
  ASSERT_FALSE(connection.isOk());
  EXPECT_NE(connection.status().message().find("error 1045"), std::string::npos) << connection.status().toString();
  EXPECT_EQ(primary->commands().back(), "AUTH FAILED canal");
}

}  // namespace
}  // namespace canal::replica

namespace canal::replica {
namespace {

std::string describe(const convert::ChangeEntry& e) {
  std::string out = *e.table + " " + std::string(convert::changeTypeName(e.type));
  for (const auto& row : e.rows) {
    for (const auto& c : row.after) out += " " + (c.text.isNull ? std::string("NULL") : c.text.value);
  }
  return out;
}

// Two MySQL primaries with the same history: the stream loses the first inside its stream and
// carries on at the second by the executed GTID set, each row once.
TEST(FakePrimaryStream, FailoverBetweenMysqlPrimariesByGtidSet) {
  const std::string fixture = "mysql-8.0/binlog-invisible-columns.000001";
  const std::string data = testing::readFile(testing::fixtureDir() + "/" + fixture);
  std::vector<std::string> expected;
  {
    convert::BinlogChangeReader reader(data, fixture, convert::RenderOptions{});
    convert::ChangeEntry e;
    while (*reader.next(e)) {
      if (!e.rows.empty()) expected.push_back(describe(e));
    }
  }
  ASSERT_EQ(expected.size(), 3u);

  // The first primary dies inside the second row transaction: after its TABLE_MAP, before
  // its rows.
  std::size_t dieAfter = 0;
  {
    binlog::EventStream s(data, fixture);
    binlog::RawEvent e;
    std::size_t index = 0;
    int rowsEvents = 0;
    while (*s.next(e)) {
      if (binlog::isRowsEvent(e.header.type) && ++rowsEvents == 2) {
        dieAfter = index;
        break;
      }
      ++index;
    }
  }
  ASSERT_GT(dieAfter, 0u);
  auto a = startPrimary(fixture, dieAfter);
  auto b = startPrimary(fixture);
  ASSERT_TRUE(a && b);
  ReconnectPolicy policy;
  policy.initialDelay = std::chrono::milliseconds(20);
  policy.failoverAfter = 2;
  ReplicaStream stream(account(*a), DumpOptions{}, DumpStart::at("binlog.000001", 4), policy);
  stream.addStandby(account(*b));

  convert::ChangeAssembler assembler(convert::RenderOptions{});
  convert::ChangeEntry entry;
  std::vector<std::string> got;
  while (got.size() < expected.size()) {
    auto e = stream.next();
    ASSERT_TRUE(e.isOk()) << e.status().toString();
    auto produced = assembler.handle(e->raw, stream.format(), e->file, "stream", entry);
    ASSERT_TRUE(produced.isOk()) << produced.status().toString();
    if (*produced && !entry.rows.empty()) got.push_back(describe(entry));
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(stream.currentAddress(), 1u);
  EXPECT_EQ(b->commands().back(), "BINLOG_DUMP_GTID");
  EXPECT_FALSE(stream.committed().mysqlGtidSet.empty());
}

}  // namespace
}  // namespace canal::replica
