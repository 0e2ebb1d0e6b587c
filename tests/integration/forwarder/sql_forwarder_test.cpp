// canal-forwarder's sql sink against a real MariaDB (the source's server, a target database of
// its own): the canal-forwarder binary killed with SIGKILL at random points while rows are
// inserted, updated (the key too) and deleted; the target tables end equal to the source's, and
// an append-only table whose target has no key on the source's id shows every row exactly once.

#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "tests/integration/forwarder/forwarder_fixture.h"
#include "tests/support/background_writer.h"

namespace canal::forwarder {
namespace {

class SqlForwarderTest : public ForwarderTest {
 protected:
  void SetUp() override {
    ForwarderTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE TABLE s.item (id INT PRIMARY KEY, name VARCHAR(32), price DECIMAL(10,2), "
                             "created DATETIME, code VARCHAR(8), raw VARBINARY(8))"));
    ASSERT_TRUE(db_->execute("CREATE TABLE s.ev (id INT PRIMARY KEY, v INT)"));
    ASSERT_TRUE(db_->execute("CREATE DATABASE r"));
    ASSERT_TRUE(db_->execute("CREATE TABLE r.item LIKE s.item"));
    // A repeated INSERT of an event would be a second row here: nothing but the sink's position
    // keeps it out.
    ASSERT_TRUE(db_->execute("CREATE TABLE r.ev (n BIGINT AUTO_INCREMENT PRIMARY KEY, id INT, v INT)"));
  }

  std::string yaml(const std::string& ddl = "stop") const {
    std::ostringstream y;
    y << "source:\n  address: " << server_->address()
      << "\n  destination: example\n  batch_size: 100\n  poll_timeout_ms: 200\n"
      << "progress_interval_ms: 1000\nretry_backoff_ms: 50\nmax_retry_backoff_ms: 400\n"
      << "sinks:\n  - type: sql\n    name: copy\n    sql:\n      unix_socket: " << db_->socketPath()
      << "\n      user: root\n      database: r\n      batch_rows: 40\n      ddl: " << ddl << "\n"
      << "      mappings:\n        - table: s.item\n          target: r.item\n"
      << "        - table: s.ev\n          target: r.ev\n";
    return y.str();
  }

  std::string rows(const std::string& sql) {
    auto result = db_->query(sql);
    if (!result) return "error: " + result.status().toString();
    std::string out;
    for (const auto& row : *result) {
      for (const auto& v : row) out += v.value_or("NULL") + "|";
      out += "\n";
    }
    return out;
  }

  // Waits until r.item equals s.item and r.ev holds each event of s.ev once.
  bool converges(std::chrono::seconds timeout) {
    std::string difference;
    const bool same = testing::waitUntil(timeout, [&] {
      const std::string items = "SELECT id, name, price, created, code, HEX(raw) FROM %s.item ORDER BY id";
      const auto of = [&](const char* db) {
        std::string q = items;
        q.replace(q.find("%s"), 2, db);
        return rows(q);
      };
      const std::string source = of("s");
      const std::string target = of("r");
      const std::string events = rows("SELECT id, v FROM s.ev ORDER BY id");
      const std::string copied = rows("SELECT id, v FROM r.ev ORDER BY id, n");
      difference.clear();
      if (source != target) difference += "items differ:\n" + source + "---\n" + target;
      if (events != copied) difference += "events differ: " + std::to_string(events.size()) + " vs " +
                                          std::to_string(copied.size()) + " bytes";
      return difference.empty();
    }, std::chrono::milliseconds(200));
    if (!same) ADD_FAILURE() << difference;
    return same;
  }
};

TEST_F(SqlForwarderTest, TablesEqualTheSourceAndEveryEventOnceThroughForwarderKills) {
  writeBinaryConfig(yaml());
  ASSERT_TRUE(startBinary());
  std::atomic<int> nextEvent{1};
  testing::BackgroundWriter writer(*db_, 13, [&](std::mt19937& random) {
    const int id = 1 + static_cast<int>(random() % 60);
    const int op = static_cast<int>(random() % 14);
    const std::string code = std::to_string(random() % 6);
    if (op < 4) {
      return "INSERT INTO s.item VALUES (" + std::to_string(id) + ", 'n''" + code + "', 1.50, '2024-05-06 07:08:09', '" +
             code + "', X'00FF" + code + "0') ON DUPLICATE KEY UPDATE price = price + 1, name = CONCAT('n', price)";
    }
    if (op < 7) {
      return "UPDATE s.item SET price = price + 0.25, code = " + (op == 6 ? std::string("NULL") : "'" + code + "'") +
             ", created = NULL WHERE id BETWEEN " + std::to_string(id) + " AND " + std::to_string(id + 5);
    }
    if (op < 9) {
      return "UPDATE s.item SET id = " + std::to_string(id + 60 * (1 + random() % 2)) + " WHERE id = " + std::to_string(id);
    }
    if (op < 10) return "DELETE FROM s.item WHERE id = " + std::to_string(id) + " OR id = " + std::to_string(id + 60);
    const int e = nextEvent++;
    return "INSERT INTO s.ev VALUES (" + std::to_string(e) + ", " + std::to_string(random() % 1000) + ")";
  });
  const int kills = 3;
  ASSERT_TRUE(killAndRestartBinary(kills));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  writer.stop();
  EXPECT_TRUE(converges(std::chrono::seconds(60))) << binary_.logTail();
  const std::string events = rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM r.ev");
  std::printf("[ figures ] sql: %d kill -9 runs of the forwarder, %d statements, events (rows, distinct) %s\n", kills,
              writer.statements(), events.c_str());
  EXPECT_GT(nextEvent.load(), 20);
  const std::string position = rows("SELECT sink, version > 0 FROM r.canal_sink_positions");
  EXPECT_EQ(position, "copy|1|\n") << "the position recorded with the rows";
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
  EXPECT_NE(binaryLogs().find("copy: rows "), std::string::npos) << "the progress line shows the sink";
}

// A statement the target refuses (its table has no such column) stops the forwarder naming the
// sink, the error and the statement; the batch stays unacked.
TEST_F(SqlForwarderTest, AStatementTheTargetRefusesStopsTheForwarderNamingIt) {
  ASSERT_TRUE(db_->execute("ALTER TABLE r.item DROP COLUMN code"));
  writeBinaryConfig(yaml());
  ASSERT_TRUE(startBinary());
  ASSERT_TRUE(db_->execute("INSERT INTO s.item VALUES (1, 'a', 1.00, NULL, 'c', NULL)"));
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(30), [&] { return !binary_.running(); })) << binary_.logTail();
  const std::string log = binary_.logTail(100000);
  EXPECT_NE(log.find("Unknown column 'code'"), std::string::npos) << log;
  EXPECT_NE(log.find("INSERT INTO `r`.`item`"), std::string::npos) << log;
  EXPECT_EQ(rows("SELECT COUNT(*) FROM r.item"), "0|\n");
}

// A column change of a mapped table stops the sink at the statement (the rows before it applied,
// the statement named with the way on); set to mirror, the forwarder goes on from there with the
// column added to the copy.
TEST_F(SqlForwarderTest, AnAlterStopsTheSinkAtItsPlaceUntilItIsMirrored) {
  writeBinaryConfig(yaml());
  ASSERT_TRUE(startBinary());
  ASSERT_TRUE(db_->execute("INSERT INTO s.item VALUES (1, 'a', 1.00, NULL, 'c', NULL)"));
  ASSERT_TRUE(db_->execute("ALTER TABLE s.item ADD COLUMN qty INT NOT NULL DEFAULT 3"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.item VALUES (2, 'b', 2.00, NULL, 'd', NULL, 5)"));
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(30), [&] { return !binary_.running(); })) << binary_.logTail();
  const std::string log = binary_.logTail(100000);
  EXPECT_NE(log.find("ALTER TABLE s.item ADD COLUMN qty INT NOT NULL DEFAULT 3"), std::string::npos) << log;
  EXPECT_NE(log.find("sql.ddl: mirror"), std::string::npos) << log;
  EXPECT_EQ(rows("SELECT id FROM r.item"), "1|\n") << "the row before the ALTER is applied, none after";
  writeBinaryConfig(yaml("mirror"));
  ASSERT_TRUE(startBinary());
  EXPECT_TRUE(testing::waitUntil(std::chrono::seconds(30), [&] {
    return rows("SELECT id, qty FROM r.item ORDER BY id") == "1|3|\n2|5|\n";
  })) << rows("SELECT id, qty FROM r.item ORDER BY id") << binary_.logTail();
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

}  // namespace
}  // namespace canal::forwarder
