// canal-server reading a primary with a standby beside it (canal.instance.standby.address), the
// forwarder writing Redis hashes and Elasticsearch documents. The standby has its own binlog,
// numbered far below the primary's: after the primary is killed and the server reads the standby,
// every change made there must still win over the versions written before, in both sinks, and
// the forwarder's batches stay in sequence across the switch. The same after a RESET MASTER.

#include <nlohmann/json.hpp>
#include <random>

#include "forwarder_fixture.h"
#include "tests/support/background_writer.h"
#include "tests/support/redis_server.h"

namespace canal::forwarder {
namespace {

using Json = nlohmann::json;

class StandbyFailoverTest : public ForwarderTest {
 protected:
  void prepareServer(const std::filesystem::path& conf) override {
    testing::MariaDbOptions options;
    options.serverId = 2;
    options.extraArgs = {"--log-slave-updates"};
    auto standby = testing::MariaDbServer::start(options);
    ASSERT_TRUE(standby.isOk()) << standby.status().toString();
    standby_ = std::move(*standby);
    ASSERT_TRUE(standby_->execute("CREATE DATABASE s"));
    // The primary's binlog is numbered past the standby's (mysql-bin.000005 against .000001).
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(db_->execute("FLUSH BINARY LOGS"));
    ASSERT_TRUE(standby_->replicateFrom(*db_));
    std::ofstream(conf / "example" / "instance.properties", std::ios::app)
        << "\ncanal.instance.standby.address = 127.0.0.1:" << standby_->port()
        << "\ncanal.instance.detecting.retry.threshold = 2\n";
  }

  void SetUp() override {
    ForwarderTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE TABLE s.item (id INT PRIMARY KEY, name VARCHAR(32), price INT)"));
    std::string rows;
    for (int id = 1; id <= 200; ++id) {
      rows += (id > 1 ? "," : "") + ("(" + std::to_string(id) + ", 'a" + std::to_string(id) + "', " + std::to_string(id) + ")");
    }
    ASSERT_TRUE(db_->execute("INSERT INTO s.item VALUES " + rows));
    auto redis = testing::RedisServer::start("pw");
    ASSERT_TRUE(redis.isOk()) << redis.status().toString();
    redis_ = std::move(*redis);
    ASSERT_TRUE(es_.start());
  }

  ForwarderConfig config() const { return redisAndElasticsearch(redis_->port(), es_.url(), "s.item", "items"); }

  // The first difference between `db`'s rows and the two sinks; empty when they are equal.
  std::string difference(testing::MariaDbServer& db) {
    auto rows = db.query("SELECT id, name, price FROM s.item");
    if (!rows.isOk()) return rows.status().toString();
    testing::RedisClient redis(*redis_);
    const auto indexed = es_.documents("items");
    std::set<std::string> keys;
    for (const auto& row : *rows) {
      const std::string& id = *row[0];
      const std::map<std::string, std::string> want = {{"id", id}, {"name", *row[1]}, {"price", *row[2]}};
      keys.insert("s:item:" + id);
      const auto hash = redis.hash("s:item:" + id);
      if (hash != want) return "redis s:item:" + id + ": " + (hash ? Json(*hash).dump() : "missing") + ", row " + Json(want).dump();
      const auto document = indexed.find(id);
      if (document == indexed.end()) return "elasticsearch items/" + id + " missing, row " + Json(want).dump();
      const Json source = Json::parse(document->second.source, nullptr, false);
      const auto text = [&](const char* field) {
        const Json& v = source.is_object() && source.contains(field) ? source[field] : Json();
        return v.is_string() ? v.get<std::string>() : v.dump();
      };
      if (text("name") != *row[1] || text("price") != *row[2]) {
        return "elasticsearch items/" + id + ": " + document->second.source + ", row " + Json(want).dump();
      }
    }
    if (redis.keys("s:item:*") != keys) return "redis holds keys of rows that do not exist";
    if (indexed.size() != keys.size()) return "elasticsearch holds documents of rows that do not exist";
    return "";
  }
  bool converges(testing::MariaDbServer& db, std::chrono::seconds timeout) {
    std::string last;
    const bool same = testing::waitUntil(timeout, [&] {
      last = difference(db);
      return last.empty();
    }, std::chrono::milliseconds(200));
    if (!same) ADD_FAILURE() << last;
    return same;
  }

  std::unique_ptr<testing::MariaDbServer> standby_;
  std::unique_ptr<testing::RedisServer> redis_;
  testing::ElasticsearchServer es_;
};

// The case of the report: updates made on the standby after the switch were counted stale by
// the Redis sink (and shadowed in Elasticsearch) because both versioned rows by the binlog
// position of whichever server was read.
TEST_F(StandbyFailoverTest, ChangesReadFromTheStandbyAfterTheSwitchWinInRedisAndElasticsearch) {
  startForwarder(config());
  {
    testing::BackgroundWriter writer(*db_, 3, [](std::mt19937& random) {
      const int id = 1 + static_cast<int>(random() % 220);
      if (random() % 5 == 0) return "DELETE FROM s.item WHERE id = " + std::to_string(id);
      return "INSERT INTO s.item VALUES (" + std::to_string(id) + ", 'p', 1) ON DUPLICATE KEY UPDATE price = price + 1";
    });
    ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(30), [&] { return writer.statements() > 300; }));
  }
  ASSERT_TRUE(converges(*db_, std::chrono::seconds(40))) << logText() << server_->logTail();
  ASSERT_TRUE(standby_->waitCaughtUp(*db_).isOk());
  const auto primaryEnd = db_->binlogEnd();
  ASSERT_TRUE(primaryEnd.isOk());

  db_->kill();
  ASSERT_TRUE(standby_->execute("STOP SLAVE"));
  // Every row changed on the standby: its binlog positions are all below the primary's.
  ASSERT_TRUE(standby_->execute("UPDATE s.item SET price = price + 1000, name = CONCAT('b', id)"));
  ASSERT_TRUE(standby_->execute("DELETE FROM s.item WHERE id % 7 = 0"));
  ASSERT_TRUE(standby_->execute("INSERT INTO s.item VALUES (500, 'new', 5) ON DUPLICATE KEY UPDATE price = 6"));
  const auto standbyEnd = standby_->binlogEnd();
  ASSERT_TRUE(standbyEnd.isOk());
  ASSERT_LT(standbyEnd->file, primaryEnd->file) << "the standby's binlog must be numbered below the primary's";
  EXPECT_TRUE(converges(*standby_, std::chrono::seconds(60))) << logText() << server_->logTail();
  EXPECT_FALSE(finished_) << result_.toString();
  EXPECT_EQ(logText().find("out of sequence"), std::string::npos) << logText();
}

// A RESET MASTER on the primary read (or a restored backup) starts its binlog again at
// mysql-bin.000001: the server follows the new binlog, and the changes written there win too.
TEST_F(StandbyFailoverTest, ChangesAfterAResetMasterWinInRedisAndElasticsearch) {
  startForwarder(config());
  ASSERT_TRUE(db_->execute("UPDATE s.item SET price = price + 1 WHERE id <= 100"));
  ASSERT_TRUE(converges(*db_, std::chrono::seconds(40))) << logText() << server_->logTail();
  ASSERT_TRUE(db_->execute("RESET MASTER"));
  ASSERT_TRUE(db_->execute("UPDATE s.item SET price = price + 1000, name = CONCAT('r', id)"));
  ASSERT_TRUE(db_->execute("DELETE FROM s.item WHERE id % 9 = 0"));
  EXPECT_TRUE(converges(*db_, std::chrono::seconds(60))) << logText() << server_->logTail();
  EXPECT_FALSE(finished_) << result_.toString();
}

}  // namespace
}  // namespace canal::forwarder
