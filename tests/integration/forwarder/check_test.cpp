// canal-forwarder --check --connect against real parts: canal-server with a reindex destination,
// Redis, the Elasticsearch test server, Kafka's mock cluster and the MariaDB documents read
// from. A configuration that works has no problem; each broken one (an unreachable server or
// sink, a wrong password, an unknown table or join column, a missing index file, an unknown
// reindex destination) is found, naming the key that leads to it.

#include <fstream>

#include "forwarder/connect_check.h"
#include "forwarder_fixture.h"
#include "tests/support/mock_kafka.h"
#include "tests/support/redis_server.h"

namespace canal::forwarder {
namespace {

class CheckConnectTest : public ReindexFixture {
 protected:
  void SetUp() override {
    ReindexFixture::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE TABLE s.item (id INT PRIMARY KEY, name VARCHAR(16)); "
                             "CREATE TABLE s.line (id INT PRIMARY KEY, item_id INT, qty INT)"));
    auto redis = testing::RedisServer::start("pw");
    ASSERT_TRUE(redis.isOk()) << redis.status().toString();
    redis_ = std::move(*redis);
    ASSERT_TRUE(es_.start());
    std::ofstream(dir_->path() / "items.json") << R"({"settings": {"number_of_shards": 1}})";
  }

  ForwarderConfig working() {
    ForwarderConfig c = redisAndElasticsearch(redis_->port(), es_.url(), "s.item", "items");
    ElasticsearchSinkConfig& es = c.sinks[1].elasticsearch;
    es.mappings[0].table = "s\\.it.*";  // an expression matching s.item
    es.mappings[0].index = "flat";
    DocumentMapping d;
    d.table = "s.item";
    d.index = "items";
    DocumentJoin lines;
    lines.table = "s.line";
    lines.on = {{"id", "item_id"}};
    lines.as = "lines";
    lines.many = true;
    d.joins = {lines};
    es.documents = {d};
    es.database.port = db_->port();
    es.database.user = "root";
    es.reindex.destination = "reindex";
    es.reindex.snapshotUrl = snapshotUrl();
    es.reindex.snapshotPassword = "admin";
    es.reindex.indexFiles = {{"items", (dir_->path() / "items.json").string()}};
    SinkConfig kafka;
    kafka.name = "kafka";
    kafka.kind = SinkConfig::Kind::kKafka;
    kafka.kafka.brokers = kafka_.bootstraps();
    c.sinks.push_back(kafka);
    return c;
  }

  // The problems of `c`, joined; with exactly one that contains `expected`.
  void expectOneProblem(const ForwarderConfig& c, const std::string& expected) {
    const auto problems = checkConnections(c);
    std::string all;
    for (const auto& p : problems) all += p + "\n";
    EXPECT_EQ(problems.size(), 1u) << all;
    EXPECT_NE(all.find(expected), std::string::npos) << "expected \"" << expected << "\" in\n" << all;
  }

  std::unique_ptr<testing::RedisServer> redis_;
  testing::ElasticsearchServer es_;
  testing::MockKafka kafka_{1};
};

TEST_F(CheckConnectTest, AWorkingConfigurationHasNoProblemAndEachBrokenPartIsNamed) {
  const auto fine = checkConnections(working());
  EXPECT_TRUE(fine.empty()) << fine.front();

  const std::string dead = "127.0.0.1:" + std::to_string(testing::freePort());
  ForwarderConfig c = working();
  c.source.address = dead;
  expectOneProblem(c, "source.address " + dead);

  c = working();
  c.sinks[0].redis.password = "wrong";
  expectOneProblem(c, "sinks[0].redis.password");

  c = working();
  c.sinks[1].elasticsearch.url = "http://" + dead;
  expectOneProblem(c, "sinks[1].elasticsearch.url http://" + dead);

  c = working();
  c.sinks[1].elasticsearch.documents[0].table = "s.nosuch";
  expectOneProblem(c, "sinks[1].elasticsearch.documents[0].table s.nosuch: no such table");

  c = working();
  IndexMapping unknown;
  unknown.table = "s\\.nosuch_.*";
  unknown.index = "other";
  c.sinks[1].elasticsearch.mappings = {unknown};
  expectOneProblem(c, "sinks[1].elasticsearch.mappings[0].table s\\.nosuch_.*: matches no table");

  c = working();
  c.sinks[1].elasticsearch.documents[0].joins[0].table = "s.nosuch";
  expectOneProblem(c, "sinks[1].elasticsearch.documents[0].joins[0].table s.nosuch: no such table");

  c = working();
  c.sinks[1].elasticsearch.documents[0].joins[0].on = {{"id", "item"}};
  expectOneProblem(c, "sinks[1].elasticsearch.documents[0].joins[0].on: s.line has no column item");

  c = working();
  c.sinks[1].elasticsearch.reindex.indexFiles = {{"items", (dir_->path() / "missing.json").string()}};
  expectOneProblem(c, "sinks[1].elasticsearch.reindex.indexes.items");

  c = working();
  c.sinks[1].elasticsearch.reindex.snapshotPassword = "wrong";
  expectOneProblem(c, "sinks[1].elasticsearch.reindex.snapshot_password");

  c = working();
  c.sinks[1].elasticsearch.reindex.destination = "nosuch";
  expectOneProblem(c, "sinks[1].elasticsearch.reindex.destination nosuch");

  c = working();
  c.sinks[1].elasticsearch.database.password = "wrong";
  c.sinks[1].elasticsearch.database.user = "nobody";
  expectOneProblem(c, "sinks[1].elasticsearch.database");

  c = working();
  c.sinks[2].kafka.brokers = dead;
  expectOneProblem(c, "sinks[2].kafka.brokers " + dead);
}

}  // namespace
}  // namespace canal::forwarder
