// The binlog dump against a real MariaDB: rows arrive decoded; dumps start from file:pos and from
// a MariaDB GTID position; a purged position is error 1236 naming it, not a silent jump. The
// replica stream over it: a primary killed and restarted, a link cut inside a transaction, and
// heartbeats on a quiet link.

#include "tests/integration/replica/replica_helpers.h"

namespace canal::replica {
namespace {

class BinlogDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = startServer({"CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, amount DECIMAL(10,2), "
                                               "note VARCHAR(20), at DATETIME(3), u INT UNSIGNED)"});
    ASSERT_TRUE(db_);
  }

  std::string gtidPos() {
    auto rows = db_->query("SELECT @@gtid_binlog_pos");
    return rows.isOk() && !rows->empty() && (*rows)[0][0] ? *(*rows)[0][0] : "";
  }

  std::unique_ptr<MariaDbServer> db_;
};

TEST_F(BinlogDumpTest, RowsArriveDecodedFromTheStartOfTheLog) {
  ASSERT_TRUE(db_->execute("INSERT INTO shop.orders VALUES (1, 12.50, 'first', '2024-05-06 07:08:09.123', 4294967295)")
                  .isOk());
  ASSERT_TRUE(db_->execute("UPDATE shop.orders SET note = NULL, amount = 1.00 WHERE id = 1").isOk());
  auto dump = openDump(*db_, DumpStart::at("mysql-bin.000001", 4));
  ASSERT_TRUE(dump);
  const Received r = receive(*dump, 2);
  ASSERT_EQ(r.entries.size(), 2u);
  const auto& insert = r.entries[0];
  EXPECT_EQ(insert.type, convert::ChangeType::kInsert);
  EXPECT_EQ(*insert.schema, "shop");
  EXPECT_EQ(*insert.table, "orders");
  EXPECT_EQ(insert.logfileName, "mysql-bin.000001");
  const auto& a = insert.rows[0].after;
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a[0].text.value, "1");
  EXPECT_EQ(a[1].text.value, "12.50");
  EXPECT_EQ(a[2].text.value, "first");
  EXPECT_EQ(a[3].text.value, "2024-05-06 07:08:09.123");
  EXPECT_EQ(a[4].text.value, "4294967295") << "unsigned, from the binlog's signedness metadata";
  const auto& update = r.entries[1];
  EXPECT_EQ(update.type, convert::ChangeType::kUpdate);
  EXPECT_EQ(update.rows[0].before[2].text.value, "first");
  EXPECT_TRUE(update.rows[0].after[2].text.isNull);
  EXPECT_EQ(update.rows[0].after[1].text.value, "1.0") << "Canal's decimal rendering";
  EXPECT_TRUE(update.rows[0].after[1].updated);
  EXPECT_FALSE(update.rows[0].after[0].updated);
  EXPECT_GT(r.lastCommit, 4u);
}

TEST_F(BinlogDumpTest, ResumesFromAFilePositionAndFromAMariaDbGtid) {
  ASSERT_TRUE(db_->execute("INSERT INTO shop.orders VALUES (1, 1, 'one', NULL, 1)").isOk());
  const std::string gtidAfterFirst = gtidPos();
  ASSERT_FALSE(gtidAfterFirst.empty());
  ASSERT_TRUE(db_->execute("INSERT INTO shop.orders VALUES (2, 2, 'two', NULL, 2)").isOk());

  std::uint64_t afterFirst = 0;
  std::string file;
  {
    auto dump = openDump(*db_, DumpStart::at("mysql-bin.000001", 4));
    ASSERT_TRUE(dump);
    const Received r = receive(*dump, 1);
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].rows[0].after[2].text.value, "one");
    afterFirst = r.lastCommit;
    file = r.file;
  }
  {
    auto dump = openDump(*db_, DumpStart::at(file, afterFirst));
    ASSERT_TRUE(dump);
    const Received r = receive(*dump, 1);
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].rows[0].after[2].text.value, "two") << "no gap, no repeat";
  }
  {
    auto dump = openDump(*db_, DumpStart::mariaGtid(gtidAfterFirst));
    ASSERT_TRUE(dump);
    const Received r = receive(*dump, 1);
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].rows[0].after[2].text.value, "two");
  }
}

TEST_F(BinlogDumpTest, APurgedPositionIsError1236NamingIt) {
  ASSERT_TRUE(db_->execute("FLUSH BINARY LOGS").isOk());
  // MariaDB keeps a file until its binlog checkpoint moved on: purge until it is gone.
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] {
    if (!db_->execute("PURGE BINARY LOGS TO 'mysql-bin.000002'").isOk()) return false;
    auto logs = db_->query("SHOW BINARY LOGS");
    return logs.isOk() && !logs->empty() && (*logs)[0][0] && *(*logs)[0][0] != "mysql-bin.000001";
  }));
  auto dump = openDump(*db_, DumpStart::at("mysql-bin.000001", 4));
  ASSERT_TRUE(dump);
  Status failure;
  for (int i = 0; i < 10 && failure.isOk(); ++i) {
    auto event = dump->next();
    if (!event.isOk()) failure = event.status();
  }
  ASSERT_FALSE(failure.isOk());
  EXPECT_EQ(dump->lastErrorCode(), mysql::kErrorMasterFatalReadingBinlog) << failure.toString();
  EXPECT_EQ(failure.code(), StatusCode::kPositionRefused) << failure.toString();
  EXPECT_NE(failure.message().find("mysql-bin.000001:4"), std::string::npos) << failure.toString();
}

TEST_F(BinlogDumpTest, WrongPasswordIsAClearError) {
  auto o = replicaAccount(*db_);
  o.password = "wrong";
  auto connection = mysql::MysqlConnection::connect(o);
  ASSERT_FALSE(connection.isOk());
  EXPECT_NE(connection.status().message().find("1045"), std::string::npos) << connection.status().toString();
  EXPECT_EQ(connection.status().where(), db_->host() + ":" + std::to_string(db_->port()));
}

TEST_F(BinlogDumpTest, CancelUnblocksAWaitingDump) {
  auto dump = openDump(*db_, DumpStart::at("mysql-bin.000001", 4));
  ASSERT_TRUE(dump);
  // Drain what exists, then wait for more in a thread and cancel it.
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (dump->next().isOk()) {
    }
    done = true;
  });
  // Give the reader time to block in the read; cancel() also works if it has not yet.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  dump->cancel();
  reader.join();
  EXPECT_TRUE(done);
}


class ReplicaStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = startServer({"CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, pad VARCHAR(200))"});
    ASSERT_TRUE(db_);
  }
  Status insert(int from, int to) {  // one transaction
    std::string sql = "INSERT INTO s.t VALUES ";
    for (int i = from; i <= to; ++i) sql += (i > from ? ",(" : "(") + std::to_string(i) + ", REPEAT('x', 200))";
    return db_->execute(sql);
  }
  std::unique_ptr<ReplicaStream> stream() {
    ReconnectPolicy policy;
    policy.initialDelay = std::chrono::milliseconds(50);
    policy.maxDelay = std::chrono::milliseconds(500);
    return std::make_unique<ReplicaStream>(replicaAccount(*db_), DumpOptions{}, DumpStart::at("mysql-bin.000001", 4),
                                           policy);
  }
  std::unique_ptr<MariaDbServer> db_;
};

TEST_F(ReplicaStreamTest, PrimaryKilledAndRestartedNoRowLostOrDoubled) {
  auto s = stream();
  Collector collector(*s);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(insert(i * 5 + 1, i * 5 + 5).isOk());
  ASSERT_TRUE(collector.waitFor(50, std::chrono::seconds(30))) << collector.ids().size();
  db_->kill();
  ASSERT_TRUE(db_->restart().isOk()) << db_->errorLog();
  for (int i = 10; i < 20; ++i) ASSERT_TRUE(insert(i * 5 + 1, i * 5 + 5).isOk());
  ASSERT_TRUE(collector.waitFor(100, std::chrono::seconds(60))) << collector.ids().size() << " "
                                                                  << collector.error().toString();
  expectEachOnce(collector.ids(), 100);
  EXPECT_GE(s->reconnects(), 1);
  EXPECT_TRUE(collector.error().isOk()) << collector.error().toString();
}

TEST_F(ReplicaStreamTest, LinkCutInsideATransactionResumesWithoutRepeats) {
  // One transaction large enough for many rows events (each holds ~8 KB of rows).
  ASSERT_TRUE(insert(1, 2000).isOk());
  auto s = stream();
  std::atomic<int> cuts{0};
  Collector collector(*s);
  collector.onRows = [&](std::size_t n) {
    if ((n > 300 && cuts == 0) || (n > 1200 && cuts == 1)) {
      ++cuts;
      s->interrupt();
    }
  };
  ASSERT_TRUE(collector.waitFor(2000, std::chrono::seconds(30))) << collector.ids().size();
  ASSERT_TRUE(insert(2001, 2010).isOk());
  ASSERT_TRUE(collector.waitFor(2010, std::chrono::seconds(30))) << collector.ids().size();
  expectEachOnce(collector.ids(), 2010);
  EXPECT_EQ(cuts, 2);
  EXPECT_GE(s->reconnects(), 2);
  EXPECT_EQ(s->committed().file, "mysql-bin.000001");
}


// With a 1 s heartbeat period a quiet primary keeps the link alive: heartbeats arrive, the read
// timeout (three periods) never fires, and a row written later arrives on the same link.
TEST_F(ReplicaStreamTest, HeartbeatsKeepAQuietLinkAlive) {
  DumpOptions options;
  options.heartbeatSeconds = 1;
  ReplicaStream stream(replicaAccount(*db_), options, DumpStart::at("mysql-bin.000001", 4));
  Collector collector(stream);
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(15), [&] { return stream.heartbeats() >= 4; }))
      << stream.heartbeats();
  ASSERT_TRUE(insert(1, 3).isOk());
  ASSERT_TRUE(collector.waitFor(3, std::chrono::seconds(10)));
  expectEachOnce(collector.ids(), 3);
  EXPECT_EQ(stream.reconnects(), 0);
}


}  // namespace
}  // namespace canal::replica
