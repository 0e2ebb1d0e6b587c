// The forwarder's RabbitMQ sink against a real rabbitmq-server, fed by a real MariaDB through
// canal-server: routing keys per table through a topic exchange, FlatMessage bodies, and every
// row in order across a broker restart (publisher confirms: a batch is acked only once the
// broker has it).

#include <nlohmann/json.hpp>

#include "forwarder_fixture.h"
#include "tests/support/rabbitmq_server.h"

namespace canal::forwarder {
namespace {

using namespace std::chrono_literals;

class RabbitMqForwarderTest : public ForwarderTest {
 protected:
  SinkConfig rabbitSink(const testing::RabbitMqServer& broker) {
    SinkConfig s;
    s.name = "rabbitmq";
    s.kind = SinkConfig::Kind::kRabbitMq;
    s.rabbitMq.host = broker.address();
    s.rabbitMq.exchange = "cdc";
    s.rabbitMq.exchangeType = "topic";
    s.rabbitMq.queue = "s_rows";
    s.rabbitMq.bindingKey = "s.t";  // only s.t: s.other's messages have no queue
    s.rabbitMq.timeout = 5s;
    return s;
  }
};

TEST_F(RabbitMqForwarderTest, RowsArriveInOrderThroughTheExchangeAcrossABrokerRestart) {
  auto broker = testing::RabbitMqServer::start();
  ASSERT_TRUE(broker) << broker.status().toString();
  ASSERT_TRUE(db_->execute("CREATE TABLE s.t (id INT PRIMARY KEY, v INT); CREATE TABLE s.other (id INT PRIMARY KEY)"));
  ForwarderConfig config = baseConfig();
  config.sinks = {rabbitSink(**broker)};
  config.sinks[0].rabbitMq.unroutable = "drop";  // s.other's messages
  startForwarder(config);
  testing::RabbitMqConsumer consumer(**broker, "s_rows");
  std::vector<int> ids;
  std::vector<std::string> routed;
  const auto take = [&](std::chrono::milliseconds wait) {
    for (const std::string& body : consumer.take(SIZE_MAX, wait)) {
      const auto j = nlohmann::json::parse(body, nullptr, false);
      ASSERT_TRUE(j.is_object()) << body;
      routed.push_back(j["database"].get<std::string>() + "." + j["table"].get<std::string>());
      if (j["type"] != "INSERT") continue;
      for (const auto& row : j["data"]) ids.push_back(std::stoi(row["id"].get<std::string>()));
    }
  };
  int next = 1;
  const auto insert = [&](int count) {
    for (int i = 0; i < count; ++i, ++next) {
      ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (" + std::to_string(next) + ", 0)"));
      if (next % 10 == 0) {
        ASSERT_TRUE(db_->execute("INSERT INTO s.other VALUES (" + std::to_string(next) + ")"));
      }
    }
  };
  insert(200);
  ASSERT_TRUE(testing::waitUntil(30s, [&] {
    take(300ms);
    return ids.size() >= 200;
  })) << logText();
  ASSERT_TRUE((*broker)->restart()) << (*broker)->logTail();
  insert(200);  // some of these batches meet the broker down: rolled back, sent again
  std::set<int> seen;
  ASSERT_TRUE(testing::waitUntil(60s, [&] {
    take(500ms);
    seen = std::set<int>(ids.begin(), ids.end());
    return seen.size() >= 400;
  })) << "rows seen " << seen.size() << "\n" << logText();
  int previous = 0;
  std::set<int> first;
  for (const int id : ids) {
    if (!first.insert(id).second) continue;
    EXPECT_GT(id, previous) << "out of order";
    previous = id;
  }
  EXPECT_EQ(*seen.rbegin(), 400);
  // Every message carries its entry's stream sequence; first deliveries in growing order.
  std::uint64_t lastSequence = 0;
  std::set<std::int64_t> firstSequences;
  for (const std::int64_t sequence : consumer.sequences()) {
    ASSERT_GT(sequence, std::int64_t{1} << 52);
    if (!firstSequences.insert(sequence).second) continue;
    EXPECT_GT(static_cast<std::uint64_t>(sequence), lastSequence);
    lastSequence = static_cast<std::uint64_t>(sequence);
  }
  for (const std::string& table : routed) EXPECT_EQ(table, "s.t") << "the binding key takes s.t only";
  EXPECT_GE(forwarder_->counters().rollbacks, 1u) << "the restart failed a batch, which was sent again";
  stopForwarder();
  EXPECT_TRUE(result_.isOk()) << result_.toString();
}

// Messages are mandatory: one that no queue is bound for comes back from the broker and fails
// its batch, naming the routing key, instead of being confirmed and lost; the batch is not acked
// and comes again (its routable messages with it: at least once). With unroutable: drop it is
// passed over.
TEST_F(RabbitMqForwarderTest, AMessageNoQueueIsBoundForFailsItsBatchUnlessDroppingIsAsked) {
  auto broker = testing::RabbitMqServer::start();
  ASSERT_TRUE(broker) << broker.status().toString();
  ASSERT_TRUE(db_->execute("CREATE TABLE s.t (id INT PRIMARY KEY, v INT); CREATE TABLE s.other (id INT PRIMARY KEY)"));
  ForwarderConfig config = baseConfig();
  config.sinks = {rabbitSink(**broker)};
  startForwarder(config);
  testing::RabbitMqConsumer consumer(**broker, "s_rows");
  ASSERT_TRUE(db_->execute("INSERT INTO s.other VALUES (1)"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (2, 0)"));
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return logText().find("reached no queue") != std::string::npos; }))
      << logText();
  EXPECT_NE(logText().find("routing key 's.other'"), std::string::npos) << logText();
  EXPECT_NE(logText().find("312 NO_ROUTE"), std::string::npos) << logText();
  EXPECT_GE(forwarder_->counters().rollbacks, 1u);
  EXPECT_FALSE(finished_) << result_.toString();
  stopForwarder();
  consumer.take(SIZE_MAX, 300ms);

  config.sinks[0].rabbitMq.unroutable = "drop";
  startForwarder(config);
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (3, 0)"));
  std::vector<std::string> ids;
  ASSERT_TRUE(testing::waitUntil(30s, [&] {
    for (const std::string& body : consumer.take(SIZE_MAX, 300ms)) {
      const auto j = nlohmann::json::parse(body, nullptr, false);
      EXPECT_EQ(j["table"], "t") << body;
      if (j["type"] == "INSERT") ids.push_back(j["data"][0]["id"].get<std::string>());
    }
    return !ids.empty() && ids.back() == "3";
  })) << logText();
  const std::uint64_t rollbacks = forwarder_->counters().rollbacks;
  stopForwarder();
  EXPECT_EQ(rollbacks, 0u) << "the unroutable message is passed over\n" << logText();
  EXPECT_TRUE(result_.isOk()) << result_.toString();
}

TEST_F(RabbitMqForwarderTest, AnExchangeThatDoesNotExistStopsTheForwarderNamingIt) {
  auto broker = testing::RabbitMqServer::start();
  ASSERT_TRUE(broker) << broker.status().toString();
  ASSERT_TRUE(db_->execute("CREATE TABLE s.t (id INT PRIMARY KEY, v INT)"));
  ForwarderConfig config = baseConfig();
  SinkConfig sink = rabbitSink(**broker);
  sink.rabbitMq.exchangeType.clear();  // not declared: it must exist
  sink.rabbitMq.queue.clear();
  sink.rabbitMq.exchange = "missing";
  config.sinks = {sink};
  startForwarder(config);
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (1, 0)"));
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return finished_.load(); })) << logText();
  stopForwarder();
  EXPECT_EQ(result_.code(), kSinkFatal) << result_.toString();
  EXPECT_NE(result_.message().find("missing"), std::string::npos) << result_.message();
  EXPECT_NE(result_.message().find("404"), std::string::npos) << result_.message();
}

}  // namespace
}  // namespace canal::forwarder
