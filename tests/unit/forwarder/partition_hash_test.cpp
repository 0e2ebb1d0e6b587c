// Canal's partition hash and table expressions, and the forwarder's configuration reader.

#include "publish/partition_hash.h"

#include <gtest/gtest.h>

#include <climits>
#include <filesystem>

#include "forwarder/forwarder_config.h"
#include "forwarder/kafka/kafka_sink.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

TEST(PartitionHashTest, JavaStringHashOverUtf16CodeUnits) {
  EXPECT_EQ(publish::javaStringHash(""), 0);
  EXPECT_EQ(publish::javaStringHash("abc"), 96354);
  EXPECT_EQ(publish::javaStringHash("hello"), 99162322);
  EXPECT_EQ(publish::javaStringHash("\xe4\xb8\xad\xe6\x96\x87"), 646394);  // 中文
  EXPECT_EQ(publish::javaStringHash("\xf0\x9f\x98\x80"), 1772899);          // U+1F600: a surrogate pair
  EXPECT_EQ(publish::javaStringHash("polygenelubricants"), INT_MIN);
}

TEST(PartitionHashTest, PartitionKeepsJavasAbsOfIntMin) {
  EXPECT_EQ(publish::canalPartition(INT_MIN, 3), 2);
  EXPECT_EQ(publish::canalPartition(INT_MIN, 4), 0);
  EXPECT_EQ(publish::canalPartition(-7, 4), 3);
  EXPECT_EQ(publish::canalPartition(7, 4), 3);
  const std::int64_t h = publish::javaStringHash("orders");
  EXPECT_EQ(publish::canalPartition(publish::javaStringHash("orders"), 5), (h < 0 ? -h : h) % 5);
}

TEST(PartitionHashTest, RowHashIsDatabaseXorKeyValues) {
  EXPECT_EQ(publish::rowHash("shop", {std::string("1")}, true), publish::javaStringHash("shop") ^ publish::javaStringHash("1"));
  EXPECT_EQ(publish::rowHash("shop", {std::string("1"), std::nullopt}, false), publish::javaStringHash("1") ^ 0);
}

TEST(PartitionHashTest, ParsesCanalsGrammarFirstMatchWins) {
  auto hash = publish::PartitionHash::parse("shop.orders:id^region; shop\\..*:$pk$ , audit.log");
  ASSERT_TRUE(hash.isOk()) << hash.status().toString();
  const publish::PartitionRule* orders = hash->ruleFor("SHOP.Orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->by, publish::PartitionRule::By::kColumns);
  EXPECT_EQ(orders->columns, (std::vector<std::string>{"id", "region"}));
  const publish::PartitionRule* users = hash->ruleFor("shop.users");
  ASSERT_NE(users, nullptr);
  EXPECT_EQ(users->by, publish::PartitionRule::By::kPrimaryKey);
  const publish::PartitionRule* log = hash->ruleFor("audit.log");
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->by, publish::PartitionRule::By::kTable);
  EXPECT_EQ(hash->ruleFor("audit.other"), nullptr);
  EXPECT_EQ(hash->ruleFor("shopx.users"), nullptr);  // the regex is anchored

  EXPECT_FALSE(publish::PartitionHash::parse("shop.t:").isOk());
  EXPECT_FALSE(publish::PartitionHash::parse("shop.(t:id").isOk());
  EXPECT_FALSE(publish::PartitionHash::parse("shop.t:a^^b").isOk());
  EXPECT_TRUE(publish::PartitionHash::parse("").isOk());
}

TEST(TablePatternTest, PlainTextIsExactAndCaseInsensitive) {
  auto set = publish::TableSet::create({"shop.orders", "log\\..*"});
  ASSERT_TRUE(set.isOk());
  EXPECT_TRUE(set->matches("Shop.Orders"));
  EXPECT_FALSE(set->matches("shop.orders2"));
  EXPECT_TRUE(set->matches("log.a"));
  EXPECT_FALSE(set->matches("logs.a"));
  EXPECT_TRUE(publish::TableSet::create({})->matches("any.thing"));
}

TEST(KafkaTopicTest, TopicPatternsAndIllegalCharacters) {
  EXPECT_EQ(topicFor("%{database}_%{table}", "shop", "orders"), "shop_orders");
  EXPECT_EQ(topicFor("cdc.%{database}", "my db", "t"), "cdc.my_db");
  EXPECT_EQ(topicFor("fixed", "a", "b"), "fixed");
}

const char* kConfig = R"(
source:
  address: 127.0.0.1:11111
  destination: example
  batch_size: 500
sinks:
  - type: kafka
    tables: ["shop\\..*"]
    kafka:
      brokers: 127.0.0.1:9092
      topic: "%{database}_%{table}"
      partition_hash: "shop\\..*:$pk$"
      compression: zstd
      dead_letter_topic: dlq
      properties: {linger.ms: "20"}
  - type: elasticsearch
    name: search
    elasticsearch:
      url: http://127.0.0.1:9200/
      bulk_actions: 200
      mappings:
        - table: shop.orders
          index: orders
          rename: {user_name: user}
          exclude: [secret]
          types: {attrs: json, created: date}
  - type: redis
    redis:
      unix_socket: /run/redis/redis.sock
      password: p
      database: 2
      mappings:
        - table: shop.users
          key: "user:%{pk}"
          value: json
          indexes: [{column: city, key: "users:city:%{value}"}]
)";

TEST(ForwarderConfigTest, ReadsEveryPart) {
  auto c = parseForwarderConfig(kConfig, "test.yml");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->source.batchSize, 500);
  EXPECT_EQ(c->sinks[0].name, "kafka-0");
  EXPECT_EQ(c->sinks[0].tables, (std::vector<std::string>{"shop\\..*"}));
  EXPECT_EQ(c->sinks[0].kafka.partitionHash, "shop\\..*:$pk$");
  EXPECT_EQ(c->sinks[0].kafka.properties.at("linger.ms"), "20");
  EXPECT_EQ(c->sinks[1].name, "search");
  EXPECT_EQ(c->sinks[1].elasticsearch.url, "http://127.0.0.1:9200");
  EXPECT_EQ(c->sinks[1].elasticsearch.bulkActions, 200);
  ASSERT_EQ(c->sinks[1].elasticsearch.mappings.size(), 1u);
  EXPECT_EQ(c->sinks[1].elasticsearch.mappings[0].types.at("attrs"), FieldType::kJson);
  EXPECT_EQ(c->sinks[1].elasticsearch.mappings[0].rename.at("user_name"), "user");
  ASSERT_EQ(c->sinks.size(), 3u);
  const RedisSinkConfig& redis = c->sinks[2].redis;
  EXPECT_EQ(c->sinks[2].kind, SinkConfig::Kind::kRedis);
  EXPECT_EQ(redis.unixSocket, "/run/redis/redis.sock");
  EXPECT_EQ(redis.database, 2);
  ASSERT_EQ(redis.mappings.size(), 1u);
  EXPECT_EQ(redis.mappings[0].key, "user:%{pk}");
  EXPECT_EQ(redis.mappings[0].value, RedisMapping::Value::kJson);
  ASSERT_EQ(redis.mappings[0].indexes.size(), 1u);
  EXPECT_EQ(redis.mappings[0].indexes[0].key, "users:city:%{value}");
}

// The shipped configuration has one sink (a forwarder starts against what it names and nothing
// else); each example under conf/examples/ has one sink of its kind, every key shown.
TEST(ForwarderConfigTest, TheShippedFileAndEachExampleAreValid) {
  auto c = loadForwarderConfig(CANAL_SOURCE_DIR "/conf/forwarder.yml");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ASSERT_EQ(c->sinks.size(), 1u);
  ASSERT_EQ(c->sinks[0].kind, SinkConfig::Kind::kElasticsearch);
  // Its relative paths are found beside it, wherever the forwarder runs.
  const auto& reindex = c->sinks[0].elasticsearch.reindex;
  EXPECT_EQ(reindex.indexFiles.at("orders"), CANAL_SOURCE_DIR "/conf/es/orders.json");
  EXPECT_TRUE(std::filesystem::exists(reindex.indexFiles.at("orders")));
  EXPECT_EQ(c->sinks[0].elasticsearch.deadLetterFile, "") << "an empty path stays empty";
  EXPECT_FALSE(loadForwarderConfig("/nonexistent/forwarder.yml").isOk());

  const std::string examples = CANAL_SOURCE_DIR "/conf/examples/";
  auto kafka = loadForwarderConfig(examples + "kafka.yml");
  ASSERT_TRUE(kafka.isOk()) << kafka.status().toString();
  ASSERT_EQ(kafka->sinks.size(), 1u);
  EXPECT_EQ(kafka->sinks[0].kafka.partitionHash, "shop\\..*:$pk$");
  auto es = loadForwarderConfig(examples + "elasticsearch.yml");
  ASSERT_TRUE(es.isOk()) << es.status().toString();
  ASSERT_EQ(es->sinks.size(), 1u);
  EXPECT_EQ(es->sinks[0].elasticsearch.documents.size(), 1u);
  EXPECT_EQ(es->sinks[0].elasticsearch.reindex.indexFiles.at("orders"), CANAL_SOURCE_DIR "/conf/es/orders.json");
  EXPECT_TRUE(std::filesystem::exists(es->sinks[0].elasticsearch.reindex.indexFiles.at("orders")));
  EXPECT_EQ(es->sinks[0].elasticsearch.reindex.stateDir, examples);
  auto redis = loadForwarderConfig(examples + "redis.yml");
  ASSERT_TRUE(redis.isOk()) << redis.status().toString();
  ASSERT_EQ(redis->sinks.size(), 1u);
  EXPECT_EQ(redis->sinks[0].redis.mappings.size(), 1u);
  auto rabbit = loadForwarderConfig(examples + "rabbitmq.yml");
  ASSERT_TRUE(rabbit.isOk()) << rabbit.status().toString();
  ASSERT_EQ(rabbit->sinks.size(), 1u);
  EXPECT_EQ(rabbit->sinks[0].rabbitMq.exchangeType, "topic");
  EXPECT_EQ(rabbit->sinks[0].rabbitMq.routingKey, "%{database}.%{table}");
  auto sql = loadForwarderConfig(examples + "sql.yml");
  ASSERT_TRUE(sql.isOk()) << sql.status().toString();
  ASSERT_EQ(sql->sinks.size(), 1u);
  ASSERT_EQ(sql->sinks[0].kind, SinkConfig::Kind::kSql);
  EXPECT_EQ(sql->sinks[0].sql.mappings.at(0).target, "replica.orders");
  EXPECT_EQ(sql->sinks[0].sql.positionTable, "canal_sink_positions");
  auto pg = loadForwarderConfig(examples + "postgresql.yml");
  ASSERT_TRUE(pg.isOk()) << pg.status().toString();
  ASSERT_EQ(pg->sinks.size(), 1u);
  EXPECT_TRUE(pg->sinks[0].sql.postgres);
  EXPECT_EQ(pg->sinks[0].sql.port, 5432);
  EXPECT_EQ(pg->sinks[0].sql.ddl, SqlSinkConfig::Ddl::kMirror);
  EXPECT_EQ(pg->sinks[0].sql.mappings.size(), 3u);
}

// Each bad configuration names the key at fault.
TEST(ForwarderConfigTest, ErrorsNameTheKey) {
  const auto error = [](const std::string& yaml) {
    auto c = parseForwarderConfig(yaml, "f.yml");
    return c.isOk() ? std::string("accepted") : c.status().message();
  };
  const std::string source = "source: {address: 'h:1'}\n";
  EXPECT_NE(error(source + "sinks: [{type: kafka, kafka: {brokers: b, topik: t}}]").find("f.yml: sinks[0].kafka.topik is not a known key"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: kafka, kafka: {topic: t}}]").find("sinks[0].kafka.brokers is required"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: kafka, kafka: {brokers: b, compression: brotli}}]").find("sinks[0].kafka.compression"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: rabbit}]").find("sinks[0].type must be kafka, elasticsearch, redis, rabbitmq or sql"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: sql, sql: {driver: oracle, mappings: [{table: s.t}]}}]").find("sinks[0].sql.driver must be mariadb, mysql or postgresql"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: sql, sql: {mappings: [{table: s.t, where: 'a = '}]}}]").find("sinks[0].sql.mappings[0].where"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: sql, sql: {ddl: skip, mappings: [{table: s.t}]}}]").find("sinks[0].sql.ddl must be stop, mirror or ignore"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: sql, sql: {}}]").find("sinks[0].sql.mappings must list at least one table (or mapping_files"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: rabbitmq, rabbitmq: {exchange: x, queue: q}}]").find("sinks[0].rabbitmq.queue is bound"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: rabbitmq, rabbitmq: {routing_key: ''}}]").find("sinks[0].rabbitmq.routing_key must not be empty"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: rabbitmq, rabbitmq: {unroutable: ignore}}]").find("sinks[0].rabbitmq.unroutable is 'ignore', not error or drop"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: redis, redis: {mappings: [{table: a.b, key: 'k'}]}}]").find("mappings[0].key must contain %{pk}"), std::string::npos);
  const std::string kafka = "sinks: [{type: kafka, kafka: {brokers: b}}]\n";
  EXPECT_NE(error(source + "admin: {listen: '11120'}\n" + kafka).find("admin.listen must be address:port"), std::string::npos);
  EXPECT_NE(error(source + "admin: {listen: 'h:1', pasword: x}\n" + kafka).find("admin.pasword is not a known key"),
            std::string::npos);
  EXPECT_NE(error(source + "admin: {listen: '0.0.0.0:11120'}\n" + kafka).find("admin.password is empty while admin.listen"),
            std::string::npos)
      << "an endpoint open to the network without a password";
  EXPECT_TRUE(parseForwarderConfig(source + "admin: {listen: '127.0.0.1:11120'}\n" + kafka, "f.yml").isOk())
      << "on loopback a password is not required";
  auto admin = parseForwarderConfig(source + "admin: {listen: '127.0.0.1:11120', password: pw}\n" + kafka, "f.yml");
  ASSERT_TRUE(admin.isOk()) << admin.status().toString();
  EXPECT_EQ(admin->admin.listen, "127.0.0.1:11120");
  EXPECT_EQ(admin->admin.user, "admin");
  EXPECT_EQ(admin->admin.password, "pw");
  EXPECT_NE(error(source + "sinks: [{type: redis, redis: {mappings: [{table: a.b, value: list}]}}]").find("mappings[0].value 'list' is not one of hash, json"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: redis, redis: {tls: true, mappings: [{table: a.b}]}}]").find("sinks[0].redis.tls cannot be true"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: redis, redis: {mappings: [{table: a.b, indexes: [{column: c, key: x}]}]}}]").find("indexes[0].key must contain %{value}"), std::string::npos);
  EXPECT_NE(error(source + "sinks: []").find("sinks must be a list"), std::string::npos);
  EXPECT_NE(error("source: {destination: x}\nsinks: [{type: kafka, kafka: {brokers: b}}]").find("source needs exactly one of address and zookeeper"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: elasticsearch, elasticsearch: {url: 'ftp://x', mappings: [{table: a.b, index: i}]}}]").find("url must start with http"), std::string::npos);
  EXPECT_NE(error(source + "sinks: [{type: elasticsearch, elasticsearch: {mappings: [{table: a.b, index: i, types: {c: money}}]}}]").find("mappings[0].types.c 'money' is not one of"), std::string::npos);
  EXPECT_NE(error("source: {address: 'h:1', batch_size: 0}\nsinks: [{type: kafka, kafka: {brokers: b}}]").find("source.batch_size must be between"), std::string::npos);
  EXPECT_NE(error("source: [1\n").find("f.yml"), std::string::npos);
}

}  // namespace
}  // namespace canal::forwarder
