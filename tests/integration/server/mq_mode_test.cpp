// canal-server in Canal's MQ mode (canal.serverMode = kafka) against librdkafka's mock cluster,
// fed by a real MariaDB: Canal's own configuration files, FlatMessage and binary payloads read
// back as Canal's consumers read them, partitions by key, and no change lost across kill -9.

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/entry_protocol.pb.h"
#include "publish/partition_hash.h"
#include "server/app/canal_mq_publisher.h"
#include "server/common/zookeeper_session.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/http_get.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/mock_kafka.h"
#include "tests/support/process.h"
#include "tests/support/rabbitmq_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/zookeeper_server.h"

namespace canal {
namespace {

namespace fs = std::filesystem;
namespace eb = canal::protocol::entry;
namespace cp = canal::protocol::packet;
using namespace std::chrono_literals;
using testing::KafkaRecord;

void append(const fs::path& file, const std::string& lines) { std::ofstream(file, std::ios::app) << "\n" << lines << "\n"; }

std::string readAll(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Replaces the value of `key` in a properties text (the line must be there).
std::string setKey(std::string text, const std::string& key, const std::string& value) {
  const std::regex line("(^|\n)" + std::regex_replace(key, std::regex("\\."), "\\.") + "[ \t]*=[^\n]*");
  EXPECT_TRUE(std::regex_search(text, line)) << key;
  return std::regex_replace(text, line, "$1" + key + " = " + value);
}

// Inserts rows with ids 1, 2, 3, ... into s.log (k = id % 10) until stopped.
class Inserter {
 public:
  explicit Inserter(testing::MariaDbServer& db)
      : thread_([this, &db] {
          while (running_) {
            const int id = last_ + 1;
            if (db.execute("INSERT INTO s.log VALUES (" + std::to_string(id) + ", " + std::to_string(id % 10) + ")")) {
              last_ = id;
            }
          }
        }) {}
  ~Inserter() { stop(); }
  int stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    return last_;
  }
  int last() const { return last_; }

 private:
  std::atomic<bool> running_{true};
  std::atomic<int> last_{0};
  std::thread thread_;
};

// The ids of the INSERT rows in FlatMessages, per partition in arrival order.
std::map<int, std::vector<int>> flatIds(const std::vector<KafkaRecord>& records) {
  std::map<int, std::vector<int>> out;
  for (const KafkaRecord& r : records) {
    if (!r.value.is_object() || r.value["type"] != "INSERT") continue;
    for (const auto& row : r.value["data"]) out[r.partition].push_back(std::stoi(row["id"].get<std::string>()));
  }
  return out;
}

std::vector<KafkaRecord> inserts(std::vector<KafkaRecord> records) {
  std::vector<KafkaRecord> out;
  for (KafkaRecord& r : records) {
    if (r.value.is_object() && r.value["type"] == "INSERT") out.push_back(std::move(r));
  }
  return out;
}

// Serialized INSERT entries of s.log, ids 1..count, at mysql-bin.000002:100, 200, ...
std::vector<std::string> insertEntries(int count, const std::string& file = "mysql-bin.000002") {
  std::vector<std::string> entries;
  for (int i = 1; i <= count; ++i) {
    eb::Entry e;
    e.set_entrytype(eb::ROWDATA);
    e.mutable_header()->set_logfilename(file);
    e.mutable_header()->set_logfileoffset(100 * i);
    e.mutable_header()->set_schemaname("s");
    e.mutable_header()->set_tablename("log");
    eb::RowChange rc;
    rc.set_eventtype(eb::INSERT);
    auto* c = rc.add_rowdatas()->add_aftercolumns();
    c->set_name("id");
    c->set_iskey(true);
    c->set_value(std::to_string(i));
    e.set_storevalue(rc.SerializeAsString());
    entries.push_back(e.SerializeAsString());
  }
  return entries;
}

class MqModeTest : public testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(kafka_.ok());
    ASSERT_TRUE(db_->execute("CREATE DATABASE s; CREATE TABLE s.log (id INT PRIMARY KEY, k INT)"));
    auto end = db_->binlogEnd();
    ASSERT_TRUE(end) << end.status().toString();
    journal_ = end->file;
    position_ = std::to_string(end->position);
  }

  // A server publishing to the mock cluster (file mode, or ZooKeeper HA when `zk` is given);
  // `canal` and `instance` are appended to its canal.properties and instance.properties.
  std::unique_ptr<testing::CanalServerProcess> server(const fs::path& root, const std::string& canal,
                                                      const std::string& instance, const std::string& zk = "") {
    auto s = std::make_unique<testing::CanalServerProcess>(CANAL_SERVER_BINARY, root,
                                                           zk.empty() ? "file-instance.xml" : "default-instance.xml",
                                                           db_->port(), zk, journal_, position_);
    append(root / "conf" / "canal.properties",
           "canal.serverMode = kafka\nkafka.bootstrap.servers = " + kafka_.bootstraps() + "\n" + canal);
    append(root / "conf" / "example" / "instance.properties", instance);
    return s;
  }

  // MQ mode with canal.mq.transaction, for a publisher made in this process: topic cdc,
  // position records in canal_mq_positions.
  app::ServerConfig transactionalServer() const {
    app::ServerConfig server;
    server.serverMode = app::ServerMode::kKafka;
    server.mqTransaction = true;
    server.kafka = {{"bootstrap.servers", kafka_.bootstraps()}, {"log_level", "0"}};
    return server;
  }
  static app::InstanceConfig transactionalInstance() {
    app::InstanceConfig instance;
    instance.destination = "example";
    instance.mqTopic = "cdc";
    instance.mqPositionTopic = "canal_mq_positions";
    instance.filterTransactionEntry = true;
    return instance;
  }

  testing::MockKafka kafka_;
  std::string journal_;
  std::string position_;
};

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

// The transactional publisher's position record: a batch committed but not acked (the server
// died in between) is delivered again by the store from its first entry, and what the record
// covers is not sent twice; what it does not cover is. Entries that are not that batch again
// (read from a standby whose binlog is numbered below, or from a binlog started again) are all
// sent, whatever their positions.
TEST_F(MqModeTest, TransactionalPublishingSkipsWhatACommittedPositionRecordCovers) {
  ASSERT_TRUE(kafka_.createTopic("cdc", 1));
  ASSERT_TRUE(kafka_.createTopic("canal_mq_positions", 1));
  const app::ServerConfig server = transactionalServer();
  const app::InstanceConfig instance = transactionalInstance();
  const std::vector<std::string> entries = insertEntries(3);
  const std::vector<std::string_view> all(entries.begin(), entries.end());
  {
    auto first = app::CanalMqPublisher::create(server, instance);
    ASSERT_TRUE(first.isOk()) << first.status().toString();
    ASSERT_TRUE((*first)->publish(1, {all[0], all[1]}).isOk());
    EXPECT_EQ((*first)->counters().transactions, 1u);
  }  // not acked: the store hands the same entries, and one more, to the next server
  auto second = app::CanalMqPublisher::create(server, instance);
  ASSERT_TRUE(second.isOk());
  ASSERT_TRUE((*second)->publish(1, all).isOk());
  std::vector<std::string> ids;
  for (const KafkaRecord& r : kafka_.consume("cdc", 1, 4, 3s, true)) ids.push_back(r.value["data"][0]["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "2", "3"}));
  const auto positions = kafka_.consume("canal_mq_positions", 1, 2, 3s, true);
  ASSERT_EQ(positions.size(), 2u);
  EXPECT_EQ(positions[1].key, "example");
  EXPECT_EQ(positions[1].value["position"], 300);
  EXPECT_EQ(positions[1].value["count"], 3);
  // The batch delivered again in two parts: both acked without publishing anything.
  auto third = app::CanalMqPublisher::create(server, instance);
  ASSERT_TRUE(third.isOk());
  ASSERT_TRUE((*third)->publish(1, {all[0]}).isOk());
  ASSERT_TRUE((*third)->publish(2, {all[1], all[2]}).isOk());
  EXPECT_EQ((*third)->counters().messages, 0u);
  // After a switch to a standby with its binlog at mysql-bin.000001, rows whose positions sort
  // before the record's are new rows: every one is published.
  const std::vector<std::string> standby = insertEntries(3, "mysql-bin.000001");
  auto fourth = app::CanalMqPublisher::create(server, instance);
  ASSERT_TRUE(fourth.isOk());
  ASSERT_TRUE((*fourth)->publish(1, {standby[0], standby[1], standby[2]}).isOk());
  EXPECT_EQ((*fourth)->counters().messages, 3u + 1u) << "three rows and the position record";
}

// A transaction the broker fails (a produce refused) is aborted and the batch is reported
// unconfirmed (not acked), then sent again in a new transaction. (librdkafka's mock cluster
// keeps aborted records visible to every reader: it returns no aborted-transaction list, so
// what read_committed hides on a real broker cannot be checked here.)
TEST_F(MqModeTest, AFailedTransactionIsAbortedAndTheBatchSentAgain) {
  ASSERT_TRUE(kafka_.createTopic("cdc", 2));
  ASSERT_TRUE(kafka_.createTopic("canal_mq_positions", 1));
  const app::ServerConfig server = transactionalServer();
  app::InstanceConfig instance = transactionalInstance();
  instance.mqPartitionsNum = 2;
  instance.mqPartitionHash = "s.log:$pk$";
  const std::vector<std::string> entries = insertEntries(2);  // ids "1" and "2": partitions 1 and 0
  const std::vector<std::string_view> all(entries.begin(), entries.end());
  auto publisher = app::CanalMqPublisher::create(server, instance);
  ASSERT_TRUE(publisher.isOk()) << publisher.status().toString();
  rd_kafka_mock_push_request_errors(kafka_.cluster(), 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_INVALID_RECORD);
  const Status failed = (*publisher)->publish(1, all);
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable) << failed.toString();
  // Sent again as the publishing loop does (the producer may need replacing first).
  Status again;
  int attempts = 0;
  do {
    again = (*publisher)->publish(1, all);
  } while (!again.isOk() && again.code() == StatusCode::kUnavailable && ++attempts < 5);
  ASSERT_TRUE(again.isOk()) << again.toString();
  EXPECT_GE((*publisher)->counters().transactions, 1u);
  std::set<std::string> ids;
  for (const KafkaRecord& r : kafka_.consume("cdc", 2, 4, 3s, true)) ids.insert(r.value["data"][0]["id"]);
  EXPECT_EQ(ids, (std::set<std::string>{"1", "2"}));
  const auto positions = kafka_.consume("canal_mq_positions", 1, 3, 2s, true);
  ASSERT_FALSE(positions.empty());
  EXPECT_EQ(positions.back().value["position"], 200);
}

// The position record goes out only once the rest of its transaction is delivered: a crash
// (or a failure) can leave rows without it on the broker, never it without its rows, which the
// next run would then skip. Here the rows' broker answers slowly and with an error.
TEST_F(MqModeTest, ThePositionRecordIsProducedOnlyAfterTheRowsOfItsTransaction) {
  ASSERT_TRUE(kafka_.createTopic("cdc", 1));
  ASSERT_TRUE(kafka_.createTopic("canal_mq_positions", 1));
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(kafka_.cluster(), "cdc", 0, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(rd_kafka_mock_partition_set_leader(kafka_.cluster(), "canal_mq_positions", 0, 2), RD_KAFKA_RESP_ERR_NO_ERROR);
  const std::vector<std::string> entries = insertEntries(1);
  const std::vector<std::string_view> all(entries.begin(), entries.end());
  auto publisher = app::CanalMqPublisher::create(transactionalServer(), transactionalInstance());
  ASSERT_TRUE(publisher.isOk()) << publisher.status().toString();
  rd_kafka_mock_broker_push_request_error_rtts(kafka_.cluster(), 1, 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_INVALID_RECORD, 1500);
  EXPECT_FALSE((*publisher)->publish(1, all).isOk());
  // The mock shows aborted records too: a position record produced beside the rows would be here.
  EXPECT_TRUE(kafka_.consume("canal_mq_positions", 1, 1, 1s, true).empty());
}

// Two servers with ZooKeeper HA and canal.mq.transaction: the running one is killed with -9
// twice while a writer inserts, the standby takes over each time (fencing the old producer),
// and every row arrives, each key in order; what a committed position record covers is not
// published again. Rows of a transaction that a kill left open may show twice here: the mock
// cluster does not hide aborted transactions from read_committed readers as a broker does.
TEST_F(MqModeTest, TransactionalPublishingLosesNothingAcrossKillAndFailover) {
  ASSERT_TRUE(kafka_.createTopic("cdc", 3));
  ASSERT_TRUE(kafka_.createTopic("canal_mq_positions", 1));
  auto zk = testing::ZooKeeperServer::start();
  ASSERT_TRUE(zk) << zk.status().toString();
  testing::TempDir dir("canal-mq-ha");
  const std::string canal = "canal.mq.transaction = true\ncanal.mq.canalBatchSize = 20";
  // Batches of 20 entries (ITEMSIZE): with the default MEMSIZE, canalBatchSize counts
  // kilobytes and a batch holds as many entries as fit, which the bound below does not know.
  const std::string instance = "canal.mq.topic = cdc\ncanal.mq.partitionsNum = 3\ncanal.mq.partitionHash = s.log:k\n"
                               "canal.instance.filter.query.dml = true\ncanal.instance.memory.batch.mode = ITEMSIZE";
  auto a = server(dir.path() / "a", canal, instance, (*zk)->connectString());
  auto b = server(dir.path() / "b", canal, instance, (*zk)->connectString());
  auto session = ZooKeeperSession::connect((*zk)->connectString(), 10s, 10s);
  ASSERT_TRUE(session);
  const auto running = [&] {
    auto data = (*session)->get("/otter/canal/destinations/example/running");
    if (!data || !*data) return std::string();
    const auto at = (*data)->find("\"address\":\"");
    return at == std::string::npos ? std::string() : (*data)->substr(at + 11, (*data)->find('"', at + 11) - at - 11);
  };
  ASSERT_TRUE(a->start());
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return running() == a->address(); })) << a->logTail();
  ASSERT_TRUE(b->start());
  Inserter inserter(*db_);
  testing::CanalServerProcess* active = a.get();
  testing::CanalServerProcess* standby = b.get();
  for (int run = 0; run < 2; ++run) {
    const int before = inserter.last();
    ASSERT_TRUE(testing::waitUntil(20s, [&] { return inserter.last() > before + 300; }));
    active->kill();
    ASSERT_TRUE(testing::waitUntil(30s, [&] { return running() == standby->address(); })) << standby->logTail();
    ASSERT_TRUE(active->start());  // back as the standby
    std::swap(active, standby);
  }
  const int last = inserter.stop();

  std::map<int, std::vector<int>> byPartition;
  std::set<int> seen;
  ASSERT_TRUE(testing::waitUntil(60s, [&] {
    byPartition = flatIds(kafka_.consume("cdc", 3, SIZE_MAX, 3s, true));
    seen.clear();
    for (const auto& [p, ids] : byPartition) seen.insert(ids.begin(), ids.end());
    return static_cast<int>(seen.size()) >= last;
  })) << "rows seen " << seen.size() << " of " << last << "\n" << active->logTail(20000);
  std::size_t total = 0;
  for (const auto& [partition, ids] : byPartition) {
    total += ids.size();
    std::map<int, int> lastIdOfKey;
    std::set<int> first;
    for (const int id : ids) {
      if (!first.insert(id).second) continue;
      EXPECT_GT(id, lastIdOfKey[id % 10]) << "key " << id % 10 << " out of order in partition " << partition;
      lastIdOfKey[id % 10] = id;
    }
  }
  std::printf("[ figures ] MQ mode, transactions, 2 servers + ZooKeeper, 2 kill -9 takeovers: %d rows inserted, "
              "%zu records read, %zu twice (open transactions the mock does not hide)\n",
              last, total, total - seen.size());
  EXPECT_EQ(static_cast<int>(seen.size()), last);
  // At most the batch each kill left open comes twice (canal.mq.canalBatchSize = 20 entries).
  EXPECT_LE(total - seen.size(), 2u * 20u);
  a->stop();
  b->stop();
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
