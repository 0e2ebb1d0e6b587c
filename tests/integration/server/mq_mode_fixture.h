#pragma once

// The MQ-mode tests' fixture: canal-server processes publishing to librdkafka's mock cluster or
// a real rabbitmq-server from a real MariaDB, a writer of rows, and readers of what the broker
// holds.

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

namespace fs = std::filesystem;
namespace eb = canal::protocol::entry;
namespace cp = canal::protocol::packet;
using namespace std::chrono_literals;
using testing::KafkaRecord;

inline void append(const fs::path& file, const std::string& lines) { std::ofstream(file, std::ios::app) << "\n" << lines << "\n"; }

inline std::string readAll(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Replaces the value of `key` in a properties text (the line must be there).
inline std::string setKey(std::string text, const std::string& key, const std::string& value) {
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
inline std::map<int, std::vector<int>> flatIds(const std::vector<KafkaRecord>& records) {
  std::map<int, std::vector<int>> out;
  for (const KafkaRecord& r : records) {
    if (!r.value.is_object() || r.value["type"] != "INSERT") continue;
    for (const auto& row : r.value["data"]) out[r.partition].push_back(std::stoi(row["id"].get<std::string>()));
  }
  return out;
}

inline std::vector<KafkaRecord> inserts(std::vector<KafkaRecord> records) {
  std::vector<KafkaRecord> out;
  for (KafkaRecord& r : records) {
    if (r.value.is_object() && r.value["type"] == "INSERT") out.push_back(std::move(r));
  }
  return out;
}

// Serialized INSERT entries of s.log, ids 1..count, at mysql-bin.000002:100, 200, ...
inline std::vector<std::string> insertEntries(int count, const std::string& file = "mysql-bin.000002") {
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

}  // namespace canal
