// The forwarder's Elasticsearch sink against the test server (tests/support/elasticsearch_server.h,
// which checks every _bulk request against the documented format), fed by a real MariaDB through
// canal-server: injected 429/5xx and partial failures, a mapping error to the dead-letter file,
// and a forwarder process killed with SIGKILL and started again. Each time the final documents
// must equal the final rows of the table exactly.

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "forwarder_fixture.h"
#include "tests/support/background_writer.h"
#include "tests/support/elasticsearch_server.h"
#include "tests/support/process.h"

namespace canal::forwarder {
namespace {

using Json = nlohmann::json;

class ElasticsearchForwarderTest : public ForwarderTest {
 protected:
  void SetUp() override {
    ForwarderTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE TABLE s.item (id INT PRIMARY KEY, name VARCHAR(32), price DECIMAL(10,2), "
                             "created DATETIME, code VARCHAR(8), attrs TEXT)"));
    ASSERT_TRUE(es_.start());
    es_.setFieldType("items", "price", "double");
    es_.setFieldType("items", "created", "date");
    es_.setFieldType("items", "code", "long");
    es_.setFieldType("items", "attrs", "object");
  }

  IndexMapping mapping() const {
    IndexMapping m;
    m.table = "s.item";
    m.index = "items";
    m.rename = {{"name", "title"}};
    m.types = {{"attrs", FieldType::kJson}};
    return m;
  }

  // The documents the table's rows should be, by id.
  std::map<std::string, Json> expectedDocuments() {
    std::map<std::string, Json> out;
    auto rows = db_->query("SELECT id, name, price, DATE_FORMAT(created, '%Y-%m-%dT%H:%i:%s'), code, attrs FROM s.item");
    EXPECT_TRUE(rows.isOk());
    if (!rows.isOk()) return out;
    for (const auto& r : *rows) {
      Json d;
      d["id"] = std::stoll(*r[0]);
      d["title"] = r[1] ? Json(*r[1]) : Json(nullptr);
      d["price"] = r[2] ? Json::parse(*r[2]) : Json(nullptr);
      d["created"] = r[3] ? Json(*r[3]) : Json(nullptr);
      d["code"] = r[4] ? Json(*r[4]) : Json(nullptr);
      d["attrs"] = r[5] ? Json::parse(*r[5]) : Json(nullptr);
      out[*r[0]] = d;
    }
    return out;
  }
  std::map<std::string, Json> indexedDocuments() const {
    std::map<std::string, Json> out;
    for (const auto& [id, d] : es_.documents("items")) out[id] = Json::parse(d.source);
    return out;
  }
  // Waits until the index equals the table; false (and the difference printed) when it never does.
  bool converges(std::chrono::seconds timeout, const std::set<std::string>& refused = {}) {
    std::map<std::string, Json> want;
    std::map<std::string, Json> have;
    const bool same = testing::waitUntil(timeout, [&] {
      want = expectedDocuments();
      for (const auto& id : refused) want.erase(id);
      have = indexedDocuments();
      return want == have;
    }, std::chrono::milliseconds(200));
    if (!same) {
      int shown = 0;
      for (const auto& [id, d] : want) {
        const auto it = have.find(id);
        if ((it == have.end() || it->second != d) && shown++ < 5) {
          ADD_FAILURE() << "id " << id << ": table " << d.dump() << ", index "
                        << (it == have.end() ? std::string("missing") : it->second.dump());
        }
      }
      for (const auto& [id, d] : have) {
        if (!want.count(id) && shown++ < 10) ADD_FAILURE() << "id " << id << " indexed but not in the table";
      }
    }
    return same;
  }

  testing::ElasticsearchServer es_{"elastic", "changeme"};
};

SinkConfig esSink(const std::string& url, const IndexMapping& m, const std::string& deadLetterFile) {
  SinkConfig s;
  s.name = "es";
  s.kind = SinkConfig::Kind::kElasticsearch;
  s.elasticsearch.url = url;
  s.elasticsearch.user = "elastic";
  s.elasticsearch.password = "changeme";
  s.elasticsearch.bulkActions = 25;
  s.elasticsearch.backoff = std::chrono::milliseconds(20);
  s.elasticsearch.maxBackoff = std::chrono::milliseconds(200);
  s.elasticsearch.retries = 3;
  s.elasticsearch.deadLetterFile = deadLetterFile;
  s.elasticsearch.mappings = {m};
  return s;
}

TEST_F(ElasticsearchForwarderTest, FailuresAreRetriedMappingErrorsDeadLetteredAndTheIndexEqualsTheTable) {
  const std::string deadLetters = (dir_->path() / "es-dead-letter.jsonl").string();
  ForwarderConfig config = baseConfig();
  config.sinks = {esSink(es_.url(), mapping(), deadLetters)};
  es_.failRequests(5, 429);  // more than the sink's 3 retries: the batch is rolled back once
  es_.failItems(4, 503);
  startForwarder(config);
  for (int i = 1; i <= 60; ++i) {
    ASSERT_TRUE(db_->execute("INSERT INTO s.item VALUES (" + std::to_string(i) + ", 'n" + std::to_string(i) + "', " +
                             std::to_string(i) + ".25, '2024-01-02 03:04:05', '" + std::to_string(i) +
                             "', '{\"tags\":[\"a\"],\"n\":" + std::to_string(i) + "}')"));
  }
  ASSERT_TRUE(db_->execute("UPDATE s.item SET price = price * 2, name = CONCAT(name, '!') WHERE id % 3 = 0"));
  ASSERT_TRUE(db_->execute("DELETE FROM s.item WHERE id % 7 = 0"));
  ASSERT_TRUE(db_->execute("UPDATE s.item SET id = id + 1000 WHERE id = 10"));   // the key changes
  ASSERT_TRUE(db_->execute("UPDATE s.item SET created = NULL, attrs = NULL WHERE id = 11"));
  ASSERT_TRUE(db_->execute("BEGIN; INSERT INTO s.item VALUES (500, 'x', 1, NULL, '5', NULL); "
                           "UPDATE s.item SET name = 'y' WHERE id = 500; DELETE FROM s.item WHERE id = 500; "
                           "INSERT INTO s.item VALUES (500, 'z', 2, NULL, '6', NULL); COMMIT"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.item VALUES (900, 'bad', 1, NULL, 'abc', NULL)"));  // code is a long field

  EXPECT_TRUE(converges(std::chrono::seconds(30), {"900"})) << logText();
  stopForwarder();
  EXPECT_TRUE(result_.isOk()) << result_.toString();
  EXPECT_TRUE(es_.violations().empty()) << es_.violations().front();
  EXPECT_GE(forwarder_->counters().rollbacks, 1u);
  std::ifstream in(deadLetters);
  std::string line;
  std::vector<Json> letters;
  while (std::getline(in, line)) letters.push_back(Json::parse(line));
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0]["id"], "900");
  EXPECT_EQ(letters[0]["status"], 400);
  EXPECT_EQ(letters[0]["error"]["type"], "document_parsing_exception");
  EXPECT_EQ(letters[0]["table"], "item");
  EXPECT_NE(logText().find("dead-lettered 1"), std::string::npos);
}

TEST_F(ElasticsearchForwarderTest, WrongPasswordStopsTheForwarderWithAClearError) {
  ForwarderConfig config = baseConfig();
  SinkConfig sink = esSink(es_.url(), mapping(), "");
  sink.elasticsearch.password = "wrong";
  config.sinks = {sink};
  startForwarder(config);
  ASSERT_TRUE(db_->execute("INSERT INTO s.item VALUES (1, 'a', 1, NULL, '1', NULL)"));
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(20), [&] { return finished_.load(); }));
  stopForwarder();
  EXPECT_EQ(result_.code(), kSinkFatal);
  EXPECT_NE(result_.message().find("401"), std::string::npos) << result_.message();
  EXPECT_NE(result_.message().find("user and password"), std::string::npos) << result_.message();
}

// A new index filled from the table's existing rows and kept equal to it: canal-server restarted
// with an initial snapshot (no stored position in memory mode) while a writer changes the rows;
// snapshot rows carry their chunk's watermark as the external version, so neither a snapshot row
// over a newer change nor a change under an older snapshot row survives.
TEST_F(ElasticsearchForwarderTest, AnInitialSnapshotFillsTheIndexAndTheStreamKeepsItEqual) {
  for (int from = 1; from <= 3000; from += 500) {
    std::string sql = "INSERT INTO s.item VALUES ";
    for (int i = from; i < from + 500; ++i) {
      sql += (i > from ? ",(" : "(") + std::to_string(i) + ", 'n" + std::to_string(i) + "', " + std::to_string(i % 90) +
             ".5, '2024-01-02 03:04:05', '" + std::to_string(i % 9) + "', '{\"n\":" + std::to_string(i) + "}')";
    }
    ASSERT_TRUE(db_->execute(sql));
  }
  server_->stop();
  std::ofstream(server_->root() / "conf" / "example" / "instance.properties", std::ios::app)
      << "canal.instance.snapshot.mode = initial\ncanal.instance.snapshot.chunk.size = 200\n"
      << "canal.instance.snapshot.rows.per.second = 6000\n";
  ASSERT_TRUE(server_->start());
  ForwarderConfig config = baseConfig();
  config.sinks = {esSink(es_.url(), mapping(), "")};
  startForwarder(config);
  testing::BackgroundWriter writer(*db_, 5, [](std::mt19937& random) {
    const int id = 1 + static_cast<int>(random() % 3200);
    const int op = static_cast<int>(random() % 4);
    if (op < 2) return "UPDATE s.item SET price = price + 1, name = 'w' WHERE id = " + std::to_string(id);
    if (op == 2) return "DELETE FROM s.item WHERE id = " + std::to_string(id);
    return "INSERT INTO s.item VALUES (" + std::to_string(id) + ", 'i', 2.5, NULL, '3', NULL) "
           "ON DUPLICATE KEY UPDATE code = '4'";
  });
  // The writer runs until the snapshot has delivered the last table rows.
  const bool filled = testing::waitUntil(std::chrono::seconds(60), [&] { return es_.documents("items").size() >= 2000; });
  writer.stop();
  ASSERT_TRUE(filled) << logText();
  EXPECT_TRUE(converges(std::chrono::seconds(40))) << logText();
  std::printf("[ figures ] elasticsearch: initial snapshot of 3000 rows with %d statements meanwhile, %zu documents\n",
              writer.statements(), indexedDocuments().size());
  EXPECT_GT(writer.statements(), 50);
  EXPECT_TRUE(es_.violations().empty()) << es_.violations().front();
}

// The canal-forwarder binary with a YAML configuration, killed with SIGKILL at random points
// while rows change, and started again: at-least-once delivery plus external versions leave the
// index equal to the table.
TEST_F(ElasticsearchForwarderTest, KilledAndRestartedForwarderEndsWithTheIndexEqualToTheTable) {
  std::ostringstream yaml;
  yaml << "source:\n  address: " << server_->address()
                        << "\n  destination: example\n  batch_size: 100\n  poll_timeout_ms: 200\n"
                        << "progress_interval_ms: 1000\nretry_backoff_ms: 50\n"
                        << "sinks:\n  - type: elasticsearch\n    elasticsearch:\n      url: " << es_.url()
                        << "\n      user: elastic\n      password: changeme\n      bulk_actions: 50\n"
                        << "      mappings:\n        - table: s.item\n          index: items\n"
                        << "          rename: {name: title}\n          types: {attrs: json}\n";
  writeBinaryConfig(yaml.str());
  ASSERT_TRUE(startBinary());

  testing::BackgroundWriter writer(*db_, 7, [](std::mt19937& random) {
    const int id = 1 + static_cast<int>(random() % 80);
    const int op = static_cast<int>(random() % 10);
    if (op < 5) {
      return "INSERT INTO s.item VALUES (" + std::to_string(id) + ", 'n', 1.5, '2024-05-06 07:08:09', '1', '{\"v\":1}') "
             "ON DUPLICATE KEY UPDATE price = price + 1, name = CONCAT('n', price), attrs = CONCAT('{\"v\":', price, '}')";
    }
    if (op < 8) {
      return "UPDATE s.item SET price = price + 0.25, code = '" + std::to_string(op) + "' WHERE id BETWEEN " +
             std::to_string(id) + " AND " + std::to_string(id + 5);
    }
    return "DELETE FROM s.item WHERE id = " + std::to_string(id);
  });
  const int kills = 4;
  ASSERT_TRUE(killAndRestartBinary(kills));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  writer.stop();
  const bool same = converges(std::chrono::seconds(40));
  EXPECT_TRUE(same) << binary_.logTail();
  std::printf("[ figures ] elasticsearch: %d kill -9 runs, %d statements, %zu documents, %llu bulk requests, "
              "%llu bulk items\n",
              kills, writer.statements(), indexedDocuments().size(), static_cast<unsigned long long>(es_.bulkRequests()),
              static_cast<unsigned long long>(es_.bulkItems()));
  EXPECT_GT(writer.statements(), 100);
  EXPECT_TRUE(es_.violations().empty()) << es_.violations().front();
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

}  // namespace
}  // namespace canal::forwarder
