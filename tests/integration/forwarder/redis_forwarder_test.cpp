// The forwarder's Redis sink against a real redis-server (tests/support/redis_server.h): the
// version check that refuses an older change delivered again, the script Redis forgot, refused
// passwords and an unreachable server; then fed by a real MariaDB through canal-server while the
// forwarder is killed with SIGKILL and Redis itself is killed and restarted. Each time every key
// must equal its row, no key may remain for a deleted row, and the index sets must hold exactly
// the rows with their value.

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "forwarder/redis/redis_sink.h"
#include "forwarder_fixture.h"
#include "tests/support/background_writer.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/unit/forwarder/change_builder.h"

namespace canal::forwarder {
namespace {

using Json = nlohmann::json;
using test_changes::Col;
using test_changes::change;

std::unique_ptr<testing::RedisServer> startRedis(const std::string& password = "") {
  auto redis = testing::RedisServer::start(password);
  EXPECT_TRUE(redis.isOk()) << redis.status().toString();
  return redis.isOk() ? std::move(*redis) : nullptr;
}

RedisSinkConfig sinkConfig(const testing::RedisServer& redis) {
  RedisSinkConfig c;
  c.port = redis.port();
  c.password = redis.password();
  c.timeout = std::chrono::milliseconds(2000);
  RedisMapping m;
  m.table = "shop\\..*";
  m.indexes = {{"city", "%{table}:city:%{value}"}};
  c.mappings = {m};
  return c;
}

std::vector<Col> user(const std::string& id, const std::string& city) {
  return {{"id", id, true, false, 4, "int(11)"}, {"city", city}, {"nick", std::nullopt}};
}

TEST(RedisSinkTest, ARedeliveredOlderChangeIsRefusedByTheVersionCheck) {
  auto redis = startRedis("s3cret");
  ASSERT_TRUE(redis);
  auto sink = RedisSink::create("cache", sinkConfig(*redis), [](const std::string&) {});
  ASSERT_TRUE(sink.isOk());
  testing::RedisClient client(*redis);
  const Change insert = change(eb::INSERT, {{{}, user("7", "oslo")}}, 100);
  const Change update = change(eb::UPDATE, {{user("7", "oslo"), user("7", "rome")}}, 200);
  const Change remove = change(eb::DELETE, {{user("7", "rome"), {}}}, 300);

  ASSERT_TRUE((*sink)->write({&insert, &update}, 1).isOk());
  EXPECT_EQ(client.hash("shop:orders:7"), (std::map<std::string, std::string>{{"id", "7"}, {"city", "rome"}}));
  EXPECT_EQ(client.members("orders:city:rome"), std::set<std::string>{"7"});
  EXPECT_EQ(client.members("orders:city:oslo"), std::set<std::string>{}) << "the row left its old set";

  // The first change again (a batch delivered again after a crash): refused, nothing moves.
  ASSERT_TRUE((*sink)->write({&insert}, 2).isOk());
  EXPECT_EQ(client.hash("shop:orders:7"), (std::map<std::string, std::string>{{"id", "7"}, {"city", "rome"}}));
  EXPECT_EQ(client.members("orders:city:oslo"), std::set<std::string>{});
  EXPECT_EQ((*sink)->stats().stale, 1u);

  // After the delete, neither older change brings the row back: the version stays as a tombstone.
  ASSERT_TRUE((*sink)->write({&remove}, 3).isOk());
  ASSERT_TRUE((*sink)->write({&insert, &update}, 4).isOk());
  EXPECT_EQ(client.command({"EXISTS", "shop:orders:7"}), "0");
  EXPECT_EQ(client.members("orders:city:rome"), std::set<std::string>{});
  EXPECT_EQ((*sink)->stats().stale, 3u);
  EXPECT_EQ((*sink)->stats().deleted, 1u);
  const auto ttl = client.command({"TTL", "canal:version:shop:orders:7"});
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GT(std::stoll(*ttl), 0) << "a tombstone expires";
  EXPECT_NE((*sink)->counters().find("3 stale"), std::string::npos) << (*sink)->counters();
}

TEST(RedisSinkTest, TwoRowsOfOneEntryAndAPartialImageApplyInOrder) {
  auto redis = startRedis();
  ASSERT_TRUE(redis);
  RedisSinkConfig config = sinkConfig(*redis);
  config.mappings[0].value = RedisMapping::Value::kJson;
  auto sink = RedisSink::create("docs", config, [](const std::string&) {});
  ASSERT_TRUE(sink.isOk());
  testing::RedisClient client(*redis);
  // One entry, the same key twice (INSERT ... ON DUPLICATE KEY UPDATE of two tuples).
  const Change twice = change(eb::UPDATE, {{user("7", "oslo"), user("7", "rome")}, {user("7", "rome"), user("7", "kyiv")}}, 100);
  // binlog_row_image=MINIMAL: the key before, one column after.
  const Change partial = change(eb::UPDATE, {{{{"id", "7", true, false, 4, "int(11)"}}, {{"nick", std::string("x")}}}}, 200);
  ASSERT_TRUE((*sink)->write({&twice, &partial}, 1).isOk());
  const auto doc = client.command({"GET", "shop:orders:7"});
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(Json::parse(*doc), Json::parse(R"({"id":"7","city":"kyiv","nick":"x"})"));
  EXPECT_EQ(client.members("orders:city:kyiv"), std::set<std::string>{"7"}) << "the partial image kept the set";
  EXPECT_EQ(client.members("orders:city:rome"), std::set<std::string>{});
}

TEST(RedisSinkTest, AScriptRedisForgotIsLoadedAgain) {
  auto redis = startRedis();
  ASSERT_TRUE(redis);
  std::vector<std::string> logged;
  auto sink = RedisSink::create("cache", sinkConfig(*redis), [&](const std::string& line) { logged.push_back(line); });
  ASSERT_TRUE(sink.isOk());
  testing::RedisClient client(*redis);
  const Change first = change(eb::INSERT, {{{}, user("1", "oslo")}}, 100);
  const Change second = change(eb::INSERT, {{{}, user("2", "oslo")}}, 200);
  ASSERT_TRUE((*sink)->write({&first}, 1).isOk());
  ASSERT_EQ(client.command({"SCRIPT", "FLUSH"}), "OK");
  ASSERT_TRUE((*sink)->write({&second}, 2).isOk());
  EXPECT_EQ(client.members("orders:city:oslo"), (std::set<std::string>{"1", "2"}));
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("loaded again"), std::string::npos) << logged[0];
}

TEST(RedisSinkTest, AWrongPasswordIsFatalAnAclUserWorksAndAnUnreachableServerIsRetried) {
  auto redis = startRedis("right");
  ASSERT_TRUE(redis);
  const Change insert = change(eb::INSERT, {{{}, user("1", "oslo")}}, 100);
  RedisSinkConfig wrong = sinkConfig(*redis);
  wrong.password = "wrong";
  auto refused = RedisSink::create("cache", wrong, [](const std::string&) {});
  ASSERT_TRUE(refused.isOk());
  const client::Status s = (*refused)->write({&insert}, 1);
  EXPECT_EQ(s.code(), kSinkFatal);
  EXPECT_NE(s.message().find("authentication refused"), std::string::npos) << s.message();

  // An ACL user (Redis 6+) with its own password.
  testing::RedisClient admin(*redis);
  ASSERT_EQ(admin.command({"ACL", "SETUSER", "forwarder", "on", ">fw-pass", "~*", "&*", "+@all"}), "OK");
  RedisSinkConfig acl = sinkConfig(*redis);
  acl.user = "forwarder";
  acl.password = "fw-pass";
  auto asUser = RedisSink::create("cache", acl, [](const std::string&) {});
  ASSERT_TRUE(asUser.isOk());
  EXPECT_TRUE((*asUser)->write({&insert}, 1).isOk());
  EXPECT_EQ(admin.members("orders:city:oslo"), std::set<std::string>{"1"});

  RedisSinkConfig nowhere = sinkConfig(*redis);
  nowhere.port = testing::freePort();
  auto unreachable = RedisSink::create("cache", nowhere, [](const std::string&) {});
  ASSERT_TRUE(unreachable.isOk());
  const client::Status u = (*unreachable)->write({&insert}, 1);
  EXPECT_EQ(u.code(), kSinkRetry);
  EXPECT_NE(u.message().find("127.0.0.1:" + std::to_string(nowhere.port)), std::string::npos) << u.message();
}

class RedisForwarderTest : public ForwarderTest {
 protected:
  void SetUp() override {
    ForwarderTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE TABLE s.item (id INT PRIMARY KEY, name VARCHAR(32), price DECIMAL(10,2), "
                             "created DATETIME, code VARCHAR(8))"));
    redis_ = startRedis("pw");
    ASSERT_TRUE(redis_);
  }

  // Waits until database 0 holds one hash per row (NULL columns absent), the code sets hold
  // exactly the ids with that code, and database 1 one JSON document per row; false (and the
  // first differences) when it never does.
  bool converges(std::chrono::seconds timeout) {
    std::string difference;
    const bool same = testing::waitUntil(timeout, [&] {
      difference = this->difference();
      return difference.empty();
    }, std::chrono::milliseconds(200));
    if (!same) ADD_FAILURE() << difference;
    return same;
  }

  // DECIMAL as Canal renders it by default (1.00 is "1.0"): compared as numbers.
  static void canonical(std::map<std::string, std::string>& fields) {
    if (const auto it = fields.find("price"); it != fields.end()) {
      char text[32];
      std::snprintf(text, sizeof text, "%.2f", std::stod(it->second));
      it->second = text;
    }
  }

  std::string difference() {
    auto rows = db_->query("SELECT id, name, price, created, code FROM s.item");
    if (!rows.isOk()) return rows.status().toString();
    static const char* kColumns[] = {"id", "name", "price", "created", "code"};
    std::set<std::string> keys;
    std::map<std::string, std::set<std::string>> byCode;
    testing::RedisClient hashes(*redis_, 0);
    testing::RedisClient documents(*redis_, 1);
    for (const auto& row : *rows) {
      std::map<std::string, std::string> want;
      Json doc = Json::object();
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (row[i]) want[kColumns[i]] = *row[i];
        doc[kColumns[i]] = row[i] ? Json(*row[i]) : Json(nullptr);
      }
      const std::string key = "s:item:" + *row[0];
      keys.insert(key);
      if (row[4]) byCode[*row[4]].insert(*row[0]);
      auto have = hashes.hash(key);
      if (have) canonical(*have);
      if (have != want) return key + ": hash " + (have ? Json(*have).dump() : "missing") + ", row " + Json(want).dump();
      const auto json = documents.command({"GET", key});
      Json stored = json ? Json::parse(*json, nullptr, false) : Json();
      if (stored.is_object() && stored["price"].is_string()) {
        std::map<std::string, std::string> price = {{"price", stored["price"]}};
        canonical(price);
        stored["price"] = price["price"];
      }
      if (stored != doc) return key + ": document " + json.value_or("missing") + ", row " + doc.dump();
    }
    if (hashes.keys("s:item:*") != keys) return "database 0 holds keys of rows that do not exist";
    if (documents.keys("s:item:*") != keys) return "database 1 holds keys of rows that do not exist";
    const auto sets = hashes.keys("item:code:*");
    if (!sets) return "SCAN failed";
    std::set<std::string> wantSets;
    for (const auto& [code, ids] : byCode) {
      wantSets.insert("item:code:" + code);
      if (hashes.members("item:code:" + code) != ids) return "item:code:" + code + " members differ";
    }
    if (*sets != wantSets) return "sets remain for codes no row has";
    return "";
  }

  std::unique_ptr<testing::RedisServer> redis_;
};

// A new cache filled from the table's existing rows and kept equal to it: canal-server restarted
// with an initial snapshot (memory mode: no stored position) while a writer changes the rows;
// snapshot rows carry their chunk's watermark as their version, so neither a snapshot row over a
// newer change nor a change under an older snapshot row survives.
TEST_F(RedisForwarderTest, AnInitialSnapshotFillsTheCacheAndTheStreamKeepsItEqual) {
  for (int from = 1; from <= 2000; from += 500) {
    std::string sql = "INSERT INTO s.item VALUES ";
    for (int i = from; i < from + 500; ++i) {
      sql += (i > from ? ",(" : "(") + std::to_string(i) + ", 'n" + std::to_string(i) + "', " + std::to_string(i % 90) +
             ".5, '2024-01-02 03:04:05', '" + std::to_string(i % 6) + "')";
    }
    ASSERT_TRUE(db_->execute(sql));
  }
  server_->stop();
  std::ofstream(server_->root() / "conf" / "example" / "instance.properties", std::ios::app)
      << "canal.instance.snapshot.mode = initial\ncanal.instance.snapshot.chunk.size = 200\n"
      << "canal.instance.snapshot.rows.per.second = 5000\n";
  ASSERT_TRUE(server_->start());
  ForwarderConfig config = baseConfig();
  SinkConfig hashes;
  hashes.name = "cache";
  hashes.kind = SinkConfig::Kind::kRedis;
  hashes.redis = sinkConfig(*redis_);
  hashes.redis.mappings[0].table = "s.item";
  hashes.redis.mappings[0].indexes = {{"code", "%{table}:code:%{value}"}};
  SinkConfig documents = hashes;
  documents.name = "docs";
  documents.redis.database = 1;
  documents.redis.mappings[0].value = RedisMapping::Value::kJson;
  documents.redis.mappings[0].indexes.clear();
  config.sinks = {hashes, documents};
  startForwarder(config);
  testing::BackgroundWriter writer(*db_, 3, [](std::mt19937& random) {
    const int id = 1 + static_cast<int>(random() % 2100);
    const int op = static_cast<int>(random() % 4);
    if (op < 2) return "UPDATE s.item SET price = price + 1, code = '" + std::to_string(random() % 6) + "' WHERE id = " + std::to_string(id);
    if (op == 2) return "DELETE FROM s.item WHERE id = " + std::to_string(id);
    return "INSERT INTO s.item VALUES (" + std::to_string(id) + ", 'i', 2.50, NULL, NULL) ON DUPLICATE KEY UPDATE name = 'u'";
  });
  testing::RedisClient client(*redis_);
  const bool filled = testing::waitUntil(std::chrono::seconds(60), [&] {
    const auto keys = client.keys("s:item:*");
    return keys && keys->size() >= 1500;
  });
  writer.stop();
  ASSERT_TRUE(filled) << logText();
  EXPECT_TRUE(converges(std::chrono::seconds(40))) << logText();
  std::printf("[ figures ] redis: initial snapshot of 2000 rows with %d statements meanwhile\n", writer.statements());
  EXPECT_GT(writer.statements(), 50);
}

// The canal-forwarder binary (two Redis sinks: hashes with an index set over TCP, JSON documents
// over the unix socket in database 1), killed with SIGKILL at random points while rows are
// inserted, updated (the key too) and deleted, and Redis killed and restarted once meanwhile.
TEST_F(RedisForwarderTest, KeysEqualRowsThroughForwarderKillsAndARedisRestart) {
  std::ostringstream yaml;
  yaml << "source:\n  address: " << server_->address()
                        << "\n  destination: example\n  batch_size: 100\n  poll_timeout_ms: 200\n"
                        << "progress_interval_ms: 1000\nretry_backoff_ms: 50\nmax_retry_backoff_ms: 400\n"
                        << "sinks:\n"
                        << "  - type: redis\n    name: cache\n    redis:\n      port: " << redis_->port()
                        << "\n      password: pw\n      pipeline: 40\n      timeout_ms: 2000\n"
                        << "      mappings:\n        - table: s.item\n"
                        << "          indexes: [{column: code, key: \"%{table}:code:%{value}\"}]\n"
                        << "  - type: redis\n    name: docs\n    redis:\n      unix_socket: " << redis_->unixSocket()
                        << "\n      password: pw\n      database: 1\n      timeout_ms: 2000\n"
                        << "      mappings:\n        - table: s.item\n          value: json\n";
  writeBinaryConfig(yaml.str());
  ASSERT_TRUE(startBinary());

  testing::BackgroundWriter writer(*db_, 11, [](std::mt19937& random) {
    const int id = 1 + static_cast<int>(random() % 80);
    const int op = static_cast<int>(random() % 12);
    const std::string code = std::to_string(random() % 6);
    if (op < 5) {
      return "INSERT INTO s.item VALUES (" + std::to_string(id) + ", 'n', 1.50, '2024-05-06 07:08:09', '" + code +
             "') ON DUPLICATE KEY UPDATE price = price + 1, name = CONCAT('n', price), code = '" + code + "'";
    }
    if (op < 8) {
      return "UPDATE s.item SET price = price + 0.25, code = " + (op == 7 ? std::string("NULL") : "'" + code + "'") +
             ", created = NULL WHERE id BETWEEN " + std::to_string(id) + " AND " + std::to_string(id + 5);
    }
    if (op < 10) {
      return "UPDATE s.item SET id = " + std::to_string(id + 80 * (1 + random() % 2)) + " WHERE id = " + std::to_string(id);
    }
    return "DELETE FROM s.item WHERE id = " + std::to_string(id) + " OR id = " + std::to_string(id + 80);
  });
  std::mt19937 random(std::random_device{}());
  const int kills = 3;
  for (int i = 0; i < kills; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + random() % 800));
    binary_.kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 200));
    ASSERT_TRUE(startBinary());
    if (i == 1) {
      // Redis crashes and stays down until the forwarder has rolled a batch back for it.
      redis_->kill();
      ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(20), [&] {
        return binary_.logTail(100000).find("rolled back: redis") != std::string::npos;
      })) << binary_.logTail();
      ASSERT_TRUE(redis_->restart().isOk()) << redis_->log();
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  writer.stop();
  EXPECT_TRUE(converges(std::chrono::seconds(40))) << binary_.logTail();
  testing::RedisClient client(*redis_);
  const auto keys = client.keys("s:item:*");
  std::printf("[ figures ] redis: %d kill -9 runs of the forwarder, 1 of Redis, %d statements, %zu keys\n", kills,
              writer.statements(), keys ? keys->size() : 0);
  EXPECT_GT(writer.statements(), 100);
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
  // The progress lines carry the sinks' counters.
  EXPECT_NE(binaryLogs().find("cache: "), std::string::npos) << "the progress line shows the sink";
}

}  // namespace
}  // namespace canal::forwarder
