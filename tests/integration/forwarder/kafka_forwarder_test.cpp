// The forwarder's Kafka sink against librdkafka's mock cluster (a real Kafka protocol endpoint),
// fed by a real MariaDB through canal-server; what arrived is read back with a real librdkafka
// consumer: topics, keys, partitions (Canal's hash), order per key, the dead-letter topic,
// broker errors injected with the mock's error API.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <nlohmann/json.hpp>

#include "forwarder_fixture.h"
#include "publish/partition_hash.h"
#include "tests/support/mock_kafka.h"

namespace canal::forwarder {
namespace {

using Json = nlohmann::json;
constexpr std::int16_t kProduceApi = 0;  // Kafka's ApiKey of Produce

using Received = testing::KafkaRecord;

class KafkaForwarderTest : public ForwarderTest {
 protected:
  SinkConfig kafkaSink(const std::string& topic) {
    SinkConfig s;
    s.name = "kafka";
    s.kind = SinkConfig::Kind::kKafka;
    s.kafka.brokers = kafka_.bootstraps();
    s.kafka.topic = topic;
    s.kafka.timeout = std::chrono::milliseconds(10000);
    s.kafka.properties = {{"log_level", "0"}};
    return s;
  }
  testing::MockKafka kafka_;
};

// The values of v each key went through, in arrival order ("D" for a delete).
std::map<std::string, std::vector<std::string>> historyByKey(const std::vector<Received>& received) {
  std::map<std::string, std::vector<std::string>> out;
  for (const Received& r : received) {
    if (r.value["isDdl"].get<bool>()) continue;
    for (const auto& row : r.value["data"]) {
      const std::string type = r.value["type"];
      out[row["k"].get<std::string>()].push_back(type == "DELETE" ? "D" : row["v"].get<std::string>());
    }
  }
  return out;
}

TEST_F(KafkaForwarderTest, PrimaryKeyHashKeepsEachKeysChangesInOnePartitionInOrder) {
  ASSERT_TRUE(kafka_.ok());
  ASSERT_TRUE(kafka_.createTopic("s_t", 4));
  ASSERT_TRUE(db_->execute("CREATE TABLE s.t (k INT PRIMARY KEY, v INT)"));
  ForwarderConfig config = baseConfig();
  SinkConfig sink = kafkaSink("%{database}_%{table}");
  sink.kafka.partitionHash = "s\\.t:$pk$";
  sink.kafka.compression = "zstd";
  config.sinks = {sink};
  startForwarder(config);

  constexpr int kKeys = 30;
  constexpr int kRounds = 5;
  std::string insert = "INSERT INTO s.t VALUES ";
  for (int k = 1; k <= kKeys; ++k) insert += (k > 1 ? ",(" : "(") + std::to_string(k) + ",0)";
  ASSERT_TRUE(db_->execute(insert));
  for (int round = 1; round <= kRounds; ++round) ASSERT_TRUE(db_->execute("UPDATE s.t SET v = v + 1"));
  ASSERT_TRUE(db_->execute("DELETE FROM s.t WHERE k % 5 = 0"));
  ASSERT_TRUE(db_->execute("ALTER TABLE s.t ADD COLUMN w INT"));
  // Rows and the ALTER; the CREATE TABLE (after the server's start position) may come too.
  const std::size_t expected = kKeys * (1 + kRounds) + kKeys / 5 + 1;

  const std::vector<Received> received = kafka_.consume("s_t", 4, expected + 1, std::chrono::seconds(10));
  int creates = 0;
  for (const Received& r : received) creates += r.value["type"] == "CREATE";
  ASSERT_LE(creates, 1);
  ASSERT_EQ(received.size(), expected + creates) << logText();
  int ddl = -creates;
  for (const Received& r : received) {
    ASSERT_FALSE(r.value.is_discarded());
    EXPECT_EQ(r.value["database"], "s");
    EXPECT_EQ(r.value["table"], "t");
    if (r.value["isDdl"].get<bool>()) {
      ++ddl;
      EXPECT_EQ(r.partition, 0);  // Canal: DDL to partition 0
      EXPECT_EQ(r.key, "");
      continue;
    }
    ASSERT_EQ(r.value["data"].size(), 1u);  // one message per row, keyed by it
    const std::string k = r.value["data"][0]["k"];
    EXPECT_EQ(r.key, "s.t:" + k);
    EXPECT_EQ(r.partition, publish::canalPartition(publish::rowHash("s", {k}, true), 4)) << k;
    EXPECT_EQ(r.value["pkNames"], Json::array({"k"}));
  }
  EXPECT_EQ(ddl, 1);
  // Each message carries its change's stream sequence; a key's messages in growing order.
  std::map<std::string, std::uint64_t> lastSequence;
  for (const Received& r : received) {
    const auto header = r.headers.find("canal-sequence");
    ASSERT_NE(header, r.headers.end()) << r.payload;
    const std::uint64_t sequence = std::stoull(header->second);
    EXPECT_GT(sequence, 1ull << 52);
    if (r.value["isDdl"].get<bool>()) continue;
    const std::string k = r.value["data"][0]["k"];
    EXPECT_GT(sequence, lastSequence[k]) << "key " << k;
    lastSequence[k] = sequence;
  }
  for (const auto& [k, history] : historyByKey(received)) {
    std::vector<std::string> want = {"0", "1", "2", "3", "4", "5"};
    if (std::stoi(k) % 5 == 0) want.push_back("D");
    EXPECT_EQ(history, want) << "key " << k;
  }
  stopForwarder();
  EXPECT_TRUE(result_.isOk()) << result_.toString();
  EXPECT_EQ(forwarder_->counters().rollbacks, 0u);
}

TEST_F(KafkaForwarderTest, OversizedMessagesGoToTheDeadLetterTopicOrStopTheForwarder) {
  ASSERT_TRUE(kafka_.ok());
  ASSERT_TRUE(kafka_.createTopic("cdc", 1));
  ASSERT_TRUE(kafka_.createTopic("dlq", 1));
  ASSERT_TRUE(db_->execute("CREATE TABLE s.big (k INT PRIMARY KEY, body TEXT)"));
  ForwarderConfig config = baseConfig();
  SinkConfig sink = kafkaSink("cdc");
  sink.kafka.maxMessageBytes = 2000;
  sink.kafka.deadLetterTopic = "dlq";
  sink.kafka.ddl = false;
  config.sinks = {sink};
  startForwarder(config);
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (1, 'small')"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (2, REPEAT('x', 5000))"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (3, 'after')"));

  const auto rows = kafka_.consume("cdc", 1, 2);
  ASSERT_EQ(rows.size(), 2u) << logText();
  EXPECT_EQ(rows[0].value["data"][0]["k"], "1");
  EXPECT_EQ(rows[1].value["data"][0]["k"], "3");
  const auto letters = kafka_.consume("dlq", 1, 1);
  ASSERT_EQ(letters.size(), 1u) << logText();
  EXPECT_EQ(letters[0].value["table"], "big");
  EXPECT_EQ(letters[0].value["topic"], "cdc");
  EXPECT_GT(letters[0].value["bytes"].get<int>(), 5000);
  EXPECT_TRUE(letters[0].value["logfileName"].is_string());
  stopForwarder();
  EXPECT_TRUE(result_.isOk());

  // Without a dead-letter topic the forwarder stops with an error naming the row and the limit,
  // and leaves the batch unacked.
  sink.kafka.deadLetterTopic.clear();
  config.sinks = {sink};
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (4, REPEAT('y', 5000))"));
  startForwarder(config);
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(20), [&] { return finished_.load(); })) << logText();
  stopForwarder();
  EXPECT_EQ(result_.code(), kSinkFatal);
  EXPECT_NE(result_.message().find("s.big INSERT at "), std::string::npos) << result_.message();
  EXPECT_NE(result_.message().find("dead_letter_topic"), std::string::npos) << result_.message();
  client::ConnectorOptions o;
  o.retries = 0;
  auto connector = client::newSingleConnector(server_->address(), "example", "", "", o);
  ASSERT_TRUE(connector->connect());
  ASSERT_TRUE(connector->subscribe(""));
  auto m = connector->getWithoutAck(100, std::chrono::milliseconds(2000));
  ASSERT_TRUE(m.isOk());
  auto changes = changesOf(*m);
  ASSERT_TRUE(changes.isOk());
  bool found = false;
  for (const Change& c : *changes) found |= c.table == "big" && c.type == eb::INSERT;
  EXPECT_TRUE(found) << "the refused row's batch was acked";
}

TEST_F(KafkaForwarderTest, BrokerErrorsAreRetriedOrRolledBackWithoutLoss) {
  ASSERT_TRUE(kafka_.ok());
  ASSERT_TRUE(kafka_.createTopic("cdc", 3));
  ASSERT_TRUE(db_->execute("CREATE TABLE s.t (k INT PRIMARY KEY, v INT)"));
  ForwarderConfig config = baseConfig();
  SinkConfig sink = kafkaSink("cdc");
  sink.kafka.partitionHash = "s\\..*:k";
  sink.kafka.timeout = std::chrono::milliseconds(3000);
  config.sinks = {sink};
  // Retriable errors (the producer retries them itself), then one it does not retry: the batch
  // is rolled back and delivered again.
  rd_kafka_mock_push_request_errors(kafka_.cluster(), kProduceApi, 3, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  startForwarder(config);
  constexpr int kKeys = 10;
  constexpr int kRounds = 20;
  for (int k = 1; k <= kKeys; ++k) ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (" + std::to_string(k) + ", 0)"));
  for (int round = 1; round <= kRounds; ++round) {
    ASSERT_TRUE(db_->execute("UPDATE s.t SET v = " + std::to_string(round)));
  }
  // At least every change; duplicates of a redelivered batch are allowed.
  std::vector<Received> received;
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(40), [&] {
    received = kafka_.consume("cdc", 3, 100000, std::chrono::milliseconds(3000));
    const auto h = historyByKey(received);
    return h.size() == kKeys && std::all_of(h.begin(), h.end(), [](const auto& kv) {
             return kv.second.back() == std::to_string(kRounds);
           });
  })) << logText();
  for (const auto& [k, history] : historyByKey(received)) {
    // Every value, in order; a redelivery repeats a run of them, never goes back past what it repeats.
    std::vector<std::string> distinct;
    for (const std::string& v : history) {
      if (std::find(distinct.begin(), distinct.end(), v) == distinct.end()) distinct.push_back(v);
    }
    ASSERT_EQ(distinct.size(), static_cast<std::size_t>(kRounds + 1)) << "key " << k;
    for (int v = 0; v <= kRounds; ++v) EXPECT_EQ(distinct[v], std::to_string(v)) << "key " << k;
  }
  stopForwarder();
  std::printf("[ figures ] kafka broker errors: %zu messages for %d changes, %llu rollbacks\n", received.size(),
              kKeys * (kRounds + 1), static_cast<unsigned long long>(forwarder_->counters().rollbacks));
  EXPECT_GE(forwarder_->counters().rollbacks, 1u) << "the non-retriable broker error did not roll a batch back";
  EXPECT_TRUE(result_.isOk()) << result_.toString();
}

}  // namespace
}  // namespace canal::forwarder
