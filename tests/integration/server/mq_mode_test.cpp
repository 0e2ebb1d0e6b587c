// canal-server in Canal's MQ mode against librdkafka's mock cluster and a real rabbitmq-server,
// fed by a real MariaDB: Canal's own configuration files, FlatMessage and binary payloads read
// back as Canal's consumers read them, partitions by key, and no change lost across kill -9.

#include "tests/integration/server/mq_mode_fixture.h"

namespace canal {
namespace {

TEST_F(MqModeTest, CanalsStockConfigurationSwitchedToKafkaPublishesFlatMessages) {
  ASSERT_TRUE(kafka_.createTopic("example", 1));
  testing::TempDir dir("canal-mq-stock");
  const fs::path conf = dir.path() / "conf";
  fs::copy(fs::path(CANAL_SOURCE_DIR) / "tests" / "fixtures" / "canal-conf-1.1.8", conf, fs::copy_options::recursive);
  // Only what a deployment sets: the mode, the brokers, free ports, the database.
  std::string canal = readAll(conf / "canal.properties");
  canal = setKey(canal, "canal.serverMode", "kafka");
  canal = setKey(canal, "kafka.bootstrap.servers", kafka_.bootstraps());
  canal = setKey(canal, "canal.port", std::to_string(testing::freePort()));
  canal = setKey(canal, "canal.metrics.pull.port", std::to_string(testing::freePort()));
  std::ofstream(conf / "canal.properties") << canal;
  std::string instance = readAll(conf / "example" / "instance.properties");
  instance = setKey(instance, "canal.instance.master.address", "127.0.0.1:" + std::to_string(db_->port()));
  instance = setKey(instance, "canal.instance.master.journal.name", journal_);
  instance = setKey(instance, "canal.instance.master.position", position_);
  std::ofstream(conf / "example" / "instance.properties") << instance;

  testing::ChildProcess process;
  ASSERT_TRUE(process.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.log").string()));
  ASSERT_TRUE(db_->execute("INSERT INTO s.log VALUES (1, 1), (2, 2)"));
  ASSERT_TRUE(db_->execute("UPDATE s.log SET k = 5 WHERE id = 2"));
  // MariaDB annotates row events with their statement: Canal publishes those as QUERY messages
  // (canal.instance.filter.query.dml = false in the stock file).
  std::vector<KafkaRecord> records;
  for (KafkaRecord& r : kafka_.consume("example", 1, 4)) {
    if (r.value["type"] == "QUERY") {
      EXPECT_EQ(r.value["sql"].get<std::string>().rfind("INSERT", 0) == 0 || r.value["sql"].get<std::string>().rfind("UPDATE", 0) == 0, true) << r.payload;
      continue;
    }
    records.push_back(std::move(r));
  }
  ASSERT_EQ(records.size(), 2u) << process.logTail();
  EXPECT_EQ(records[0].value["type"], "INSERT");
  EXPECT_EQ(records[0].value["data"].size(), 2u);
  EXPECT_EQ(records[0].value["database"], "s");
  EXPECT_EQ(records[0].value["pkNames"], nlohmann::json::array({"id"}));
  EXPECT_EQ(records[1].value["type"], "UPDATE");
  EXPECT_EQ(records[1].value["old"][0]["k"], "2");
  EXPECT_GE(records[1].value["id"].get<std::int64_t>(), records[0].value["id"].get<std::int64_t>());
  EXPECT_TRUE(records[0].key.empty()) << "Canal sends no key";
  // Ours besides: the stream sequence of each message's change, growing.
  ASSERT_EQ(records[0].headers.count("canal-sequence"), 1u);
  ASSERT_EQ(records[1].headers.count("canal-sequence"), 1u);
  EXPECT_GT(std::stoull(records[0].headers["canal-sequence"]), 1ull << 52);
  EXPECT_GT(std::stoull(records[1].headers["canal-sequence"]), std::stoull(records[0].headers["canal-sequence"]));
  // The TCP port is not served in MQ mode, as in Canal.
  EXPECT_EQ(process.logTail().find("serving Canal clients"), std::string::npos) << process.logTail();
  EXPECT_EQ(process.stop(), 0) << process.logTail();
}

TEST_F(MqModeTest, BinaryMessagesAreCanalPacketsOfTheBatchsEntries) {
  ASSERT_TRUE(kafka_.createTopic("cdc", 1));
  testing::TempDir dir("canal-mq-binary");
  auto s = server(dir.path(), "canal.mq.flatMessage = false\ncanal.instance.filter.transaction.entry = false",
                  "canal.mq.topic = cdc");
  ASSERT_TRUE(s->start());
  ASSERT_TRUE(db_->execute("INSERT INTO s.log VALUES (1, 1), (2, 2)"));
  const auto records = kafka_.consume("cdc", 1, 1);
  ASSERT_EQ(records.size(), 1u) << s->logTail();
  // As Canal's CanalMessageDeserializer reads it.
  cp::Packet packet;
  ASSERT_TRUE(packet.ParseFromString(records[0].payload));
  EXPECT_EQ(packet.type(), cp::MESSAGES);
  EXPECT_FALSE(packet.has_compression());
  cp::Messages messages;
  ASSERT_TRUE(messages.ParseFromString(packet.body()));
  EXPECT_GT(messages.batch_id(), 0);
  std::vector<eb::EntryType> types;
  std::vector<std::string> ids;
  for (const std::string& bytes : messages.messages()) {
    eb::Entry e;
    ASSERT_TRUE(e.ParseFromString(bytes));
    types.push_back(e.entrytype());
    if (e.entrytype() != eb::ROWDATA) continue;
    eb::RowChange rc;
    ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
    for (const auto& row : rc.rowdatas()) ids.push_back(row.aftercolumns(0).value());
  }
  // MariaDB's transaction: its annotation (a QUERY ROWDATA entry), the rows, the commit; the
  // TRANSACTIONEND stays, as canal.instance.filter.transaction.entry = false asks.
  EXPECT_EQ(types, (std::vector<eb::EntryType>{eb::ROWDATA, eb::ROWDATA, eb::TRANSACTIONEND}));
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(s->stop(), 0) << s->logTail();
}

// Rows hashed by a column to three partitions; the server killed with -9 three times while a
// writer inserts: every row arrives, each key's rows in order within its partition.
TEST_F(MqModeTest, KillMinusNineLosesNoChangeAndKeepsEachKeysOrder) {
  ASSERT_TRUE(kafka_.createTopic("cdc", 3));
  testing::TempDir dir("canal-mq-kill");
  auto s = server(dir.path(), "canal.mq.canalBatchSize = 20",
                  "canal.mq.topic = cdc\ncanal.mq.partitionsNum = 3\ncanal.mq.partitionHash = s.log:k\n"
                  "canal.instance.filter.query.dml = true");
  ASSERT_TRUE(s->start());
  Inserter inserter(*db_);
  std::mt19937 random(std::random_device{}());
  for (int run = 0; run < 3; ++run) {
    const int before = inserter.last();
    ASSERT_TRUE(testing::waitUntil(20s, [&] { return inserter.last() > before + 200; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
    s->kill();
    ASSERT_TRUE(s->start());
  }
  const int last = inserter.stop();

  std::map<int, std::vector<int>> byPartition;
  std::set<int> seen;
  ASSERT_TRUE(testing::waitUntil(60s, [&] {
    byPartition = flatIds(kafka_.consume("cdc", 3, SIZE_MAX, 3s));  // all there is
    seen.clear();
    for (const auto& [p, ids] : byPartition) seen.insert(ids.begin(), ids.end());
    return static_cast<int>(seen.size()) >= last;
  })) << "rows seen " << seen.size() << " of " << last << "\n" << s->logTail();
  std::size_t total = 0;
  for (const auto& [partition, ids] : byPartition) {
    total += ids.size();
    std::map<int, int> lastIdOfKey;  // first occurrences must rise per key
    std::set<int> first;
    for (const int id : ids) {
      EXPECT_EQ(partition, publish::canalPartition(publish::javaStringHash("s") ^ publish::javaStringHash(std::to_string(id % 10)), 3))
          << "id " << id;
      if (!first.insert(id).second) continue;
      EXPECT_GT(id, lastIdOfKey[id % 10]) << "key " << id % 10 << " out of order in partition " << partition;
      lastIdOfKey[id % 10] = id;
    }
  }
  std::printf("[ figures ] MQ mode, 3 kill -9 runs: %d rows inserted, %zu rows published, %zu redelivered\n", last,
              total, total - seen.size());
  EXPECT_EQ(static_cast<int>(seen.size()), last);
  EXPECT_EQ(*seen.rbegin(), last);
  EXPECT_EQ(s->stop(), 0) << s->logTail();
}

// A row over the size limit stops publishing with an error naming it (or goes to the
// dead-letter topic): it is never retried forever, and the rows around it are not lost.
TEST_F(MqModeTest, OversizedMessageGoesToTheDeadLetterTopicOrStopsPublishingNamingIt) {
  ASSERT_TRUE(kafka_.createTopic("cdc", 1));
  ASSERT_TRUE(kafka_.createTopic("dlq", 1));
  ASSERT_TRUE(db_->execute("CREATE TABLE s.big (id INT PRIMARY KEY, body TEXT)"));
  testing::TempDir dir("canal-mq-oversize");
  auto s = server(dir.path(), "kafka.max.request.size = 3000",
                  "canal.mq.topic = cdc\ncanal.mq.deadLetterTopic = dlq\ncanal.instance.filter.query.dml = true");
  ASSERT_TRUE(s->start());
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (1, 'small')"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (2, REPEAT('x', 5000))"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (3, 'after')"));
  const auto rows = inserts(kafka_.consume("cdc", 1, 3));  // the CREATE TABLE, rows 1 and 3
  ASSERT_EQ(rows.size(), 2u) << s->logTail();
  EXPECT_EQ(rows[0].value["data"][0]["id"], "1");
  EXPECT_EQ(rows[1].value["data"][0]["id"], "3");
  const auto letters = kafka_.consume("dlq", 1, 1);
  ASSERT_EQ(letters.size(), 1u) << s->logTail();
  EXPECT_EQ(letters[0].value["table"], "big");
  EXPECT_GT(letters[0].value["bytes"].get<int>(), 5000);
  EXPECT_EQ(s->stop(), 0);

  // Without a dead-letter topic: publishing stops with the row named, and its batch stays
  // unacked; once the topic is set again, publishing goes on from that batch.
  const fs::path instanceFile = dir.path() / "conf" / "example" / "instance.properties";
  const std::string withLetters = readAll(instanceFile);
  std::ofstream(instanceFile) << setKey(withLetters, "canal.mq.deadLetterTopic", "");
  ASSERT_TRUE(s->start());
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (4, REPEAT('y', 5000))"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.big VALUES (5, 'after')"));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return s->logTail().find("publishing stopped") != std::string::npos; }))
      << s->logTail();
  EXPECT_NE(s->logTail().find("s.big INSERT at "), std::string::npos) << s->logTail();
  EXPECT_NE(s->logTail().find("canal.mq.deadLetterTopic"), std::string::npos) << s->logTail();
  // /status and /metrics say so.
  const auto status = testing::httpGet("http://127.0.0.1:" + std::to_string(s->metricsPort()) + "/status");
  const auto json = nlohmann::json::parse(status.body, nullptr, false);
  ASSERT_TRUE(json.is_object()) << status.body;
  const auto& mq = json["destinations"][0]["mq"];
  EXPECT_EQ(mq["state"], "failed") << status.body;
  EXPECT_NE(mq["lastError"].get<std::string>().find("s.big INSERT"), std::string::npos) << status.body;
  EXPECT_EQ(mq["broker"].get<std::string>().rfind("kafka ", 0), 0u) << status.body;
  const auto metrics = testing::parsePrometheusText(
      testing::httpGet("http://127.0.0.1:" + std::to_string(s->metricsPort()) + "/metrics").body);
  EXPECT_EQ(metrics.at("canal_mq_publishing{destination=\"example\"}"), 0);
  EXPECT_GE(metrics.at("canal_mq_errors{destination=\"example\"}"), 1);
  EXPECT_EQ(s->stop(), 0);
  for (const KafkaRecord& r : inserts(kafka_.consume("cdc", 1, 5, 2s))) EXPECT_NE(r.value["data"][0]["id"], "4");

  std::ofstream(instanceFile) << withLetters;
  ASSERT_TRUE(s->start());
  EXPECT_EQ(kafka_.consume("dlq", 1, 2).size(), 2u) << s->logTail();
  std::set<std::string> ids;
  ASSERT_TRUE(testing::waitUntil(20s, [&] {
    for (const KafkaRecord& r : inserts(kafka_.consume("cdc", 1, SIZE_MAX, 1s))) ids.insert(r.value["data"][0]["id"]);
    return ids.count("5") > 0;
  })) << s->logTail();
  EXPECT_EQ(ids, (std::set<std::string>{"1", "3", "5"}));
  EXPECT_EQ(s->stop(), 0);
}

// Brokers that go away: /status says so within seconds of the first failed attempt, with the
// client's own words, while the batch still waits for its delivery timeout; once the brokers are
// back the batch is delivered and the recovery is logged.
TEST_F(MqModeTest, ABrokerProblemShowsInStatusWithinSecondsAndTheRecoveryIsLogged) {
  ASSERT_TRUE(kafka_.createTopic("cdc", 1));
  testing::TempDir dir("canal-mq-down");
  auto s = server(dir.path(), "", "canal.mq.topic = cdc\ncanal.instance.filter.query.dml = true");
  ASSERT_TRUE(s->start());
  ASSERT_TRUE(db_->execute("INSERT INTO s.log VALUES (1, 1)"));
  ASSERT_EQ(kafka_.consume("cdc", 1, 1).size(), 1u) << s->logTail();
  for (int broker = 1; broker <= 3; ++broker) rd_kafka_mock_broker_set_down(kafka_.cluster(), broker);
  ASSERT_TRUE(db_->execute("INSERT INTO s.log VALUES (2, 2)"));
  const std::string statusUrl = "http://127.0.0.1:" + std::to_string(s->metricsPort()) + "/status";
  nlohmann::json mq;
  const auto inserted = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::waitUntil(20s, [&] {
    const auto j = nlohmann::json::parse(testing::httpGet(statusUrl).body, nullptr, false);
    if (!j.is_object()) return false;
    mq = j["destinations"][0]["mq"];
    return mq["state"] == "retrying";
  }, 100ms)) << mq.dump() << s->logTail();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - inserted).count();
  std::printf("[ figures ] brokers down: /status says retrying %.1f s after the row was written\n", seconds);
  EXPECT_EQ(mq["lastError"].get<std::string>().rfind("kafka: ", 0), 0u) << mq.dump();
  for (int broker = 1; broker <= 3; ++broker) rd_kafka_mock_broker_set_up(kafka_.cluster(), broker);
  ASSERT_TRUE(testing::waitUntil(60s, [&] { return kafka_.consume("cdc", 1, 2, 1s).size() >= 2; })) << s->logTail();
  EXPECT_TRUE(testing::waitUntil(20s, [&] { return s->logTail().find("publishing again") != std::string::npos; }))
      << s->logTail();
  EXPECT_EQ(s->stop(), 0);
}

// canal.serverMode = rabbitMQ with Canal's rabbitmq.* keys: the exchange, queue and binding are
// declared as Canal does, every row arrives in order while the broker restarts and the server
// is killed with -9 (confirms: nothing acked that the broker did not take).
TEST_F(MqModeTest, RabbitMqModeDeliversEveryRowInOrderAcrossBrokerRestartAndKill) {
  auto rabbit = testing::RabbitMqServer::start();
  ASSERT_TRUE(rabbit) << rabbit.status().toString();
  testing::TempDir dir("canal-mq-rabbit");
  auto s = server(dir.path(),
                  "canal.serverMode = rabbitMQ\nrabbitmq.host = " + (*rabbit)->address() +
                      "\nrabbitmq.virtual.host = /\nrabbitmq.exchange = canal_ex\nrabbitmq.username = guest\n"
                      "rabbitmq.password = guest\nrabbitmq.queue = canal_q\nrabbitmq.routingKey = cdc\n"
                      "rabbitmq.deliveryMode = direct\ncanal.mq.canalBatchSize = 20",
                  "canal.mq.topic = cdc\ncanal.instance.filter.query.dml = true");
  ASSERT_TRUE(s->start());
  testing::RabbitMqConsumer consumer(**rabbit, "canal_q");
  std::vector<int> ids;
  const auto take = [&](std::chrono::milliseconds wait) {
    for (const std::string& body : consumer.take(SIZE_MAX, wait)) {
      const auto j = nlohmann::json::parse(body, nullptr, false);
      if (!j.is_object() || j["type"] != "INSERT") continue;
      for (const auto& row : j["data"]) ids.push_back(std::stoi(row["id"].get<std::string>()));
    }
  };
  Inserter inserter(*db_);
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return inserter.last() > 200; }));
  ASSERT_TRUE((*rabbit)->restart()) << (*rabbit)->logTail();
  // Publishing resumes on its own (the batches met the broker down, rolled back, sent again):
  // every row written before the broker was back arrives.
  const int target = inserter.last();
  ASSERT_TRUE(testing::waitUntil(60s, [&] {
    take(500ms);
    return !ids.empty() && ids.back() >= target;
  })) << s->logTail();
  s->kill();
  ASSERT_TRUE(s->start());
  const int before = inserter.last();
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return inserter.last() > before + 200; }));
  const int last = inserter.stop();
  std::set<int> seen(ids.begin(), ids.end());
  ASSERT_TRUE(testing::waitUntil(60s, [&] {
    take(1s);
    seen.insert(ids.begin(), ids.end());
    return static_cast<int>(seen.size()) >= last;
  })) << "rows seen " << seen.size() << " of " << last << "\n" << s->logTail(20000);
  int previous = 0;
  std::set<int> first;
  for (const int id : ids) {
    if (!first.insert(id).second) continue;  // sent again after the broker or the server went away
    EXPECT_GT(id, previous) << "out of order";
    previous = id;
  }
  std::printf("[ figures ] RabbitMQ mode, a broker restart and a kill -9: %d rows inserted, %zu delivered, %zu twice\n",
              last, ids.size(), ids.size() - seen.size());
  EXPECT_EQ(static_cast<int>(seen.size()), last);
  EXPECT_EQ(*seen.rbegin(), last);
  EXPECT_EQ(s->stop(), 0) << s->logTail();
}

}  // namespace
}  // namespace canal
