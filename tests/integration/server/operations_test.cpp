// The canal-server binary's operations side against real MariaDB: /metrics and /status scraped
// while a client consumes a stream (figures checked against what was written and read), and
// canal.auto.scan adding, restarting and stopping destinations, and refusing a broken file,
// while a client on another destination reads on without noticing.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <atomic>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "canal/client/canal_connector.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/fixtures.h"
#include "tests/support/http_get.h"
#include "tests/support/inserted_rows.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/zookeeper_server.h"
#include "server/common/zookeeper_session.h"

namespace canal {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Json = nlohmann::json;

struct Scrape {
  std::map<std::string, double> metrics;
  std::string text;
  double get(const std::string& key) const {
    const auto it = metrics.find(key);
    return it == metrics.end() ? -1 : it->second;
  }
};

Scrape scrape(int port) {
  Scrape s;
  const auto r = testing::httpGet("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  if (r.status != 200) return s;
  s.text = r.body;
  s.metrics = testing::parsePrometheusText(r.body);
  return s;
}

Json status(int port) {
  const auto r = testing::httpGet("http://127.0.0.1:" + std::to_string(port) + "/status");
  if (r.status != 200) return Json();
  return Json::parse(r.body, nullptr, false);
}

const Json* destinationIn(const Json& s, const std::string& name) {
  if (!s.is_object() || !s.contains("destinations")) return nullptr;
  for (const auto& d : s["destinations"]) {
    if (d["name"] == name) return &d;
  }
  return nullptr;
}

// Polls /status until `ready` holds for the destination "example"; `st` keeps the last reply.
bool waitForExample(int port, Json& st, const std::function<bool(const Json&)>& ready, std::chrono::seconds within) {
  return testing::waitUntil(within, [&] {
    st = status(port);
    const Json* d = destinationIn(st, "example");
    return d && ready(*d);
  });
}

bool following(int port, const std::string& name) {
  const Json s = status(port);
  const Json* d = destinationIn(s, name);
  return d && (*d)["state"] == "following";
}

// A client that reads one destination with getWithoutAck / ack until stopped and records the
// rows of one table and every failed call.
class Reader {
 public:
  Reader(const std::string& address, const std::string& destination, std::string table) : table_(std::move(table)) {
    client::ConnectorOptions o;
    o.retries = 0;
    o.connectTimeout = 2s;
    o.soTimeout = 5s;
    connector_ = client::newSingleConnector(address, destination, "", "", o);
  }
  ~Reader() { stop(); }

  client::Status open() {
    if (auto s = connector_->connect(); !s.isOk()) return s;
    if (auto s = connector_->subscribe(); !s.isOk()) return s;
    thread_ = std::thread([this] { run(); });
    return client::Status::ok();
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::int64_t> values() {
    std::lock_guard<std::mutex> lock(mutex_);
    return values_;
  }
  int failures() const { return failures_; }
  std::string lastFailure() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lastFailure_;
  }

 private:
  void run() {
    while (!stop_) {
      auto m = connector_->getWithoutAck(100, 100ms);
      if (!m) {
        fail(m.status());
        std::this_thread::sleep_for(100ms);
        continue;
      }
      if (m->id() == -1) continue;
      const auto rows = testing::insertedValues(*m, table_);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        values_.insert(values_.end(), rows.begin(), rows.end());
      }
      if (const client::Status s = connector_->ack(m->id()); !s.isOk()) fail(s);
    }
  }
  void fail(const client::Status& s) {
    ++failures_;
    std::lock_guard<std::mutex> lock(mutex_);
    lastFailure_ = s.toString();
  }

  std::string table_;
  std::unique_ptr<client::CanalConnector> connector_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0};
  std::mutex mutex_;
  std::vector<std::int64_t> values_;
  std::string lastFailure_;
};

class OperationsTest : public testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s; CREATE TABLE s.t (id INT AUTO_INCREMENT PRIMARY KEY, v BIGINT); "
                             "CREATE TABLE s.a LIKE s.t; CREATE TABLE s.c LIKE s.t"));
    auto end = db_->binlogEnd();
    ASSERT_TRUE(end) << end.status().toString();
    journal_ = end->file;
    position_ = std::to_string(end->position);
  }

  // conf/<name>/instance.properties for this primary, reading `tables`.
  void writeInstance(const fs::path& conf, const std::string& name, int slaveId, const std::string& tables,
                     const std::string& extra = "") {
    fs::create_directories(conf / name);
    std::ofstream(conf / name / "instance.properties")
        << "canal.instance.master.address = 127.0.0.1:" << db_->port() << "\n"
        << "canal.instance.master.journal.name = " << journal_ << "\n"
        << "canal.instance.master.position = " << position_ << "\n"
        << "canal.instance.dbUsername = canal\ncanal.instance.dbPassword = canal\n"
        << "canal.instance.mysql.slaveId = " << slaveId << "\n"
        << "canal.instance.filter.regex = " << tables << "\n"
        << extra;
  }

  // conf/canal.properties of a server reading conf/ with memory-instance.xml unless `extra`
  // says otherwise (later lines win).
  static void writeServerConf(const fs::path& conf, int port, int metricsPort, const std::string& extra) {
    fs::create_directories(conf);
    std::ofstream(conf / "canal.properties") << "canal.port = " << port << "\n"
                                             << "canal.metrics.pull.port = " << metricsPort << "\n"
                                             << "canal.ip = 127.0.0.1\ncanal.destinations = a\n"
                                             << "canal.conf.dir = " << conf.string() << "\n"
                                             << "canal.instance.global.spring.xml = classpath:spring/memory-instance.xml\n"
                                             << extra;
  }

  std::string journal_;
  std::string position_;
};

TEST_F(OperationsTest, MetricsAndStatusFollowAStream) {
  testing::TempDir dir("canal-ops");
  testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db_->port(), "", journal_,
                                     position_);
  ASSERT_TRUE(server.start());
  const int port = server.metricsPort();
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(port, "example"); })) << server.logTail();
  Reader reader(server.address(), "example", "t");
  ASSERT_TRUE(reader.open());

  const int transactions = 50;
  const int rowsPer = 20;
  std::int64_t v = 0;
  std::int64_t maxLagDuringWrites = 0;
  int scrapes = 0;
  for (int t = 0; t < transactions; ++t) {
    std::string sql = "INSERT INTO s.t (v) VALUES ";
    for (int i = 0; i < rowsPer; ++i) sql += (i ? ",(" : "(") + std::to_string(++v) + ")";
    ASSERT_TRUE(db_->execute(sql));
    if (t % 10 == 5) {
      const Scrape s = scrape(port);
      ASSERT_FALSE(s.metrics.empty()) << "no /metrics during the stream";
      ++scrapes;
      const double lag = s.get(R"(canal_destination_lag_milliseconds{destination="example"})");
      EXPECT_GE(lag, 0) << s.text;
      maxLagDuringWrites = std::max(maxLagDuringWrites, static_cast<std::int64_t>(lag));
    }
  }
  const std::int64_t rows = transactions * rowsPer;
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return static_cast<std::int64_t>(reader.values().size()) >= rows; }));
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end);

  // Once everything was read and acked, the figures add up to what was written.
  Scrape s;
  const auto settled = [&] {
    s = scrape(port);
    return s.get(R"(canal_instance_ack_rows{destination="example"})") == static_cast<double>(rows) &&
           s.get(R"(canal_destination_binlog_position{destination="example"})") == static_cast<double>(end->position) &&
           s.get(R"(canal_destination_lag_milliseconds{destination="example"})") == 0;
  };
  ASSERT_TRUE(testing::waitUntil(10s, settled)) << s.text;
  const std::string d = R"({destination="example"})";
  EXPECT_EQ(s.get("canal_instance_put_rows" + d), rows);
  EXPECT_EQ(s.get("canal_instance_get_rows" + d), rows);
  EXPECT_GE(s.get("canal_instance_transactions" + d), transactions);
  EXPECT_EQ(s.get("canal_instance_subscriptions" + d), 1);
  EXPECT_EQ(s.get("canal_instance_store_produce_seq" + d), s.get("canal_instance_store_consume_seq" + d));
  EXPECT_EQ(s.get("canal_destination_store_items" + d), 0);
  EXPECT_GT(s.get(R"(canal_instance_received_binlog_bytes{destination="example",parser="0"})"), rows * 10);
  EXPECT_GE(s.get(R"(canal_instance_client_packets{destination="example",packetType="GET"})"), 1);
  EXPECT_GE(s.get(R"(canal_instance_client_packets{destination="example",packetType="CLIENTACK"})"), 1);
  EXPECT_GE(s.get(R"(canal_instance_client_packets{destination="example",packetType="SUBSCRIPTION"})"), 1);
  EXPECT_GT(s.get(R"(canal_instance_client_request_latency_count{destination="example"})"), 0);
  const std::string fileIndex = end->file.substr(end->file.rfind('.') + 1);
  EXPECT_EQ(s.get("canal_destination_binlog_file_index" + d), std::stod(fileIndex));
  EXPECT_EQ(s.get(R"(canal_destination_state{destination="example",state="following"})"), 1);
  EXPECT_EQ(s.get(R"(canal_client_unacked_batches{destination="example",clientId="1001"})"), 0);
  EXPECT_GT(s.get(R"(canal_client_request_seconds_count{destination="example",clientId="1001",request="ack"})"), 0);
  EXPECT_GT(s.get("process_resident_memory_bytes"), 0);
  EXPECT_EQ(s.get("canal_server_sessions"), 1);
  // On one box the stream is never seconds behind.
  EXPECT_LT(maxLagDuringWrites, 5000) << "lag while writing";
  EXPECT_EQ(scrapes, 5);

  const Json st = status(port);
  const Json* example = destinationIn(st, "example");
  ASSERT_TRUE(example) << st.dump();
  EXPECT_EQ((*example)["state"], "following");
  EXPECT_EQ((*example)["position"]["journalName"], end->file);
  EXPECT_EQ((*example)["position"]["position"], end->position);
  EXPECT_EQ((*example)["lagMs"], 0);
  EXPECT_EQ((*example)["rows"], rows);
  ASSERT_EQ((*example)["clients"].size(), 1u);
  EXPECT_EQ((*example)["clients"][0]["clientId"], 1001);
  EXPECT_EQ((*example)["clients"][0]["cursor"]["journalName"], end->file);
  EXPECT_TRUE((*example)["lastError"].is_null());
  EXPECT_EQ(reader.failures(), 0) << reader.lastFailure();

  // Its threads say what they do (top -H, perf): the destination's stream thread by its name.
  std::multiset<std::string> threads;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(server.pid()) + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    threads.insert(name);
  }
  EXPECT_EQ(threads.count("stream:example"), 1u) << ::testing::PrintToString(threads);
  EXPECT_GE(threads.count("canal-net"), 1u) << ::testing::PrintToString(threads);
  EXPECT_EQ(threads.count("canal-http"), 1u) << ::testing::PrintToString(threads);

  const auto missing = testing::httpGet("http://127.0.0.1:" + std::to_string(port) + "/nothing");
  EXPECT_EQ(missing.status, 404);
  std::printf("[ sample ] /metrics after the stream:\n%s\n", s.text.c_str());
  std::printf("[ sample ] /status:\n%s\n", st.dump(2).c_str());
  reader.stop();
  server.stop();
}

// A stream that cannot start (the primary's credentials are wrong) shows as retrying with its
// error and time in /status, and the error is logged once, not every 5 s.
TEST_F(OperationsTest, AFailingStreamShowsItsErrorOnce) {
  testing::TempDir dir("canal-ops");
  testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db_->port(), "", journal_,
                                     position_);
  std::ofstream(dir.path() / "conf" / "example" / "instance.properties", std::ios::app)
      << "canal.instance.dbPassword = wrong\ncanal.instance.stream.retry.interval = 50\n";
  ASSERT_TRUE(server.start());
  const int port = server.metricsPort();
  Json st;
  ASSERT_TRUE(waitForExample(
      port, st, [](const Json& d) { return d["state"] == "retrying" && d["lastError"].is_object(); }, 20s))
      << st.dump() << server.logTail();
  const Json* d = destinationIn(st, "example");
  EXPECT_NE((*d)["lastError"]["message"].get<std::string>().find("canal"), std::string::npos) << st.dump();
  EXPECT_FALSE((*d)["lastError"]["time"].get<std::string>().empty());
  // Five failed attempts later the error has been logged once.
  ASSERT_TRUE(waitForExample(
      port, st, [](const Json& d) { return d["streamFailures"].get<int>() >= 5; }, 20s))
      << st.dump() << server.logTail();
  const std::string log = testing::readFile((dir.path() / "server-1.log").string());
  std::size_t count = 0;
  for (auto at = log.find("retrying every 50 ms"); at != std::string::npos; at = log.find("retrying every 50 ms", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << log;
  server.stop();
}

// The primary is killed: the lost link shows at once as state and error, lag grows from the last
// event's time, and both recover when the primary is back.
TEST_F(OperationsTest, ALostPrimaryShowsAtOnceAndRecovers) {
  testing::TempDir dir("canal-ops");
  testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db_->port(), "", journal_,
                                     position_);
  ASSERT_TRUE(server.start());
  const int port = server.metricsPort();
  ASSERT_TRUE(db_->execute("CREATE DATABASE IF NOT EXISTS s").isOk());
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(port, "example"); })) << server.logTail();
  db_->kill();
  Json st;
  // At once: not only once two heartbeat periods passed without news.
  EXPECT_TRUE(waitForExample(
      port, st, [](const Json& d) { return d["state"] == "retrying" && d["lastError"].is_object(); }, 10s))
      << st.dump();
  EXPECT_TRUE(waitForExample(
      port, st, [](const Json& d) { return d["lagMs"].is_number() && d["lagMs"].get<std::int64_t>() >= 1000; }, 10s))
      << "lag grows from the last event's time: " << st.dump();
  ASSERT_TRUE(db_->restart().isOk());
  EXPECT_TRUE(waitForExample(
      port, st, [](const Json& d) { return d["state"] == "following" && d["lastError"].is_null(); }, 30s))
      << st.dump() << server.logTail();
  server.stop();
}

// The configured position was purged: the destination says it is stuck and why, and the
// retries do not repeat the "following" line.
TEST_F(OperationsTest, APurgedPositionIsStuckAndSaysWhy) {
  ASSERT_TRUE(db_->execute("FLUSH BINARY LOGS").isOk());
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end.isOk()) << end.status().toString();
  // MariaDB keeps a file until its binlog checkpoint is written: purge until the configured
  // file is gone.
  ASSERT_TRUE(testing::waitUntil(20s, [&] {
    if (!db_->execute("PURGE BINARY LOGS TO '" + end->file + "'").isOk()) return false;
    auto logs = db_->query("SHOW BINARY LOGS");
    return logs.isOk() && !logs->empty() && (*logs)[0][0] && *(*logs)[0][0] != journal_;
  })) << journal_ << " is still there";
  testing::TempDir dir("canal-ops");
  testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db_->port(), "", journal_,
                                     position_);
  std::ofstream(dir.path() / "conf" / "example" / "instance.properties", std::ios::app)
      << "canal.instance.stream.retry.interval = 50\n";
  ASSERT_TRUE(server.start());
  const int port = server.metricsPort();
  Json st;
  ASSERT_TRUE(waitForExample(
      port, st, [](const Json& d) { return d["state"] == "stuck" && d["streamFailures"].get<int>() >= 5; }, 20s))
      << st.dump() << server.logTail();
  const Json* d = destinationIn(st, "example");
  EXPECT_NE((*d)["lastError"]["message"].get<std::string>().find("1236"), std::string::npos) << st.dump();
  const Scrape m = scrape(port);
  EXPECT_EQ(m.get(R"(canal_destination_state{destination="example",state="stuck"})"), 1) << m.text;
  const std::string log = testing::readFile((dir.path() / "server-1.log").string());
  EXPECT_EQ(log.find("following"), std::string::npos) << log;
  server.stop();
}

TEST_F(OperationsTest, AutoScanAddsRestartsAndStopsDestinationsWhileAnotherReadsOn) {
  testing::TempDir dir("canal-ops");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  writeServerConf(conf, port, metricsPort, "canal.auto.scan = true\ncanal.auto.scan.interval = 1\n");
  writeInstance(conf, "a", 8101, "s\\\\.a");
  writeInstance(conf, "b", 8102, "s\\\\.t");  // not listed: found by the scan at start
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string(), "--logs", (dir.path() / "logs").string()},
                           (dir.path() / "server.out").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "a") && following(metricsPort, "b"); }))
      << status(metricsPort).dump() << server.logTail();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  Reader a(address, "a", "a");
  ASSERT_TRUE(a.open());
  std::atomic<bool> stopWriting{false};
  std::atomic<std::int64_t> written{0};
  std::thread writer([&] {
    while (!stopWriting) {
      if (db_->execute("INSERT INTO s.a (v) VALUES (" + std::to_string(written + 1) + ")").isOk()) ++written;
      std::this_thread::sleep_for(10ms);
    }
  });

  // Added.
  writeInstance(conf, "c", 8103, "s\\\\.c");
  ASSERT_TRUE(testing::waitUntil(10s, [&] { return following(metricsPort, "c"); })) << status(metricsPort).dump();
  {
    Reader c(address, "c", "c");
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(db_->execute("INSERT INTO s.c (v) VALUES (1)"));
    EXPECT_TRUE(testing::waitUntil(10s, [&] { return c.values().size() == 1; }));
  }
  // Changed: restarted, reading the new table list.
  const std::string since = (*destinationIn(status(metricsPort), "c"))["since"];
  writeInstance(conf, "c", 8103, "s\\\\.t");
  ASSERT_TRUE(testing::waitUntil(10s, [&] {
    const Json st = status(metricsPort);
    const Json* c = destinationIn(st, "c");
    return c && (*c)["since"] != since && (*c)["state"] == "following";
  })) << "c was not restarted: " << status(metricsPort).dump();
  {
    Reader c(address, "c", "t");
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(db_->execute("INSERT INTO s.t (v) VALUES (7)"));
    EXPECT_TRUE(testing::waitUntil(10s, [&] {
      const auto v = c.values();
      return !v.empty() && v.back() == 7;
    }));
  }
  // Broken: reported, and the running version goes on.
  std::ofstream(conf / "b" / "instance.properties", std::ios::app) << "canal.instance.memory.buffer.size = lots\n";
  Json st;
  ASSERT_TRUE(testing::waitUntil(10s, [&] {
    st = status(metricsPort);
    const Json* b = destinationIn(st, "b");
    return b && b->contains("configError");
  })) << st.dump();
  const Json* b = destinationIn(st, "b");
  EXPECT_EQ((*b)["state"], "following");
  EXPECT_NE((*b)["configError"]["message"].get<std::string>().find("buffer.size"), std::string::npos) << st.dump();
  EXPECT_EQ(scrape(metricsPort).get(R"(canal_destination_config_error{destination="b"})"), 1);
  // Removed.
  fs::remove_all(conf / "c");
  ASSERT_TRUE(testing::waitUntil(10s, [&] { return !destinationIn(status(metricsPort), "c"); }));
  {
    client::ConnectorOptions o;
    o.retries = 0;
    auto gone = client::newSingleConnector(address, "c", "", "", o);
    EXPECT_FALSE(gone->connect().isOk() && gone->subscribe().isOk()) << "a removed destination still serves";
  }

  stopWriting = true;
  writer.join();
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return static_cast<std::int64_t>(a.values().size()) >= written; }));
  const auto values = a.values();
  std::vector<std::int64_t> expected(static_cast<std::size_t>(written.load()));
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<std::int64_t>(i) + 1;
  EXPECT_EQ(values, expected) << "the client on a saw every row once, in order";
  EXPECT_EQ(a.failures(), 0) << a.lastFailure();
  EXPECT_GT(written, 50);
  a.stop();

  // The destinations' lines are in their own files.
  const std::string cLog = testing::readFile((dir.path() / "logs" / "c" / "c.log").string());
  EXPECT_NE(cLog.find("destination c: starting"), std::string::npos) << cLog;
  const std::string serverLog = testing::readFile((dir.path() / "logs" / "canal" / "canal.log").string());
  EXPECT_NE(serverLog.find("destination c: instance.properties changed; restarted"), std::string::npos) << serverLog;
  EXPECT_NE(serverLog.find("destination b: "), std::string::npos) << serverLog;
  EXPECT_EQ(server.stop(), 0);
}

// With ZooKeeper HA a destination added by the scan joins the running election (this server
// runs it: its running node names this server), and one removed leaves it (the node goes).
TEST_F(OperationsTest, AutoScanUnderZooKeeperHa) {
  auto zk = testing::ZooKeeperServer::start();
  ASSERT_TRUE(zk) << zk.status().toString();
  testing::TempDir dir("canal-ops");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  writeServerConf(conf, port, metricsPort,
                  "canal.zkServers = " + (*zk)->connectString() + "\ncanal.file.data.dir = " +
                      (dir.path() / "data").string() + "\ncanal.auto.scan = true\ncanal.auto.scan.interval = 1\n" +
                      "canal.instance.global.spring.xml = classpath:spring/default-instance.xml\n");
  writeInstance(conf, "a", 8301, "s\\\\.a");
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.out").string()));
  auto session = ZooKeeperSession::connect((*zk)->connectString(), 10s, 10s);
  ASSERT_TRUE(session);
  const auto running = [&](const std::string& name) -> std::string {
    auto data = (*session)->get("/otter/canal/destinations/" + name + "/running");
    return data && *data ? **data : std::string();
  };
  const std::string self = "127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return running("a").find(self) != std::string::npos; })) << server.logTail();
  writeInstance(conf, "c", 8303, "s\\\\.c");
  ASSERT_TRUE(testing::waitUntil(30s, [&] {
    return running("c").find(self) != std::string::npos && following(metricsPort, "c");
  })) << server.logTail();
  fs::remove_all(conf / "c");
  EXPECT_TRUE(testing::waitUntil(30s, [&] { return running("c").empty(); })) << server.logTail();
  auto members = (*session)->children("/otter/canal/destinations/c/cluster");
  ASSERT_TRUE(members);
  EXPECT_TRUE(members->empty()) << "the removed destination's cluster node is still there";
  EXPECT_FALSE(destinationIn(status(metricsPort), "c"));
  EXPECT_NE(running("a").find(self), std::string::npos) << "a kept running";
  EXPECT_EQ(server.stop(), 0);
  EXPECT_TRUE(testing::waitUntil(30s, [&] { return running("a").empty(); })) << "released at shutdown";
}

TEST_F(OperationsTest, SighupScansAtOnce) {
  testing::TempDir dir("canal-ops");
  const fs::path conf = dir.path() / "conf";
  const int metricsPort = testing::freePort();
  writeServerConf(conf, testing::freePort(), metricsPort, "canal.auto.scan = false\n");
  writeInstance(conf, "a", 8201, "s\\\\.a");
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.out").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "a"); })) << server.logTail();
  writeInstance(conf, "a", 8201, "s\\\\.t");
  ::kill(server.pid(), SIGHUP);
  std::string log;
  EXPECT_TRUE(testing::waitUntil(5s, [&] {
    log = server.logTail(100000);
    return log.find("destination a: instance.properties changed; restarted") != std::string::npos;
  })) << log;
  // The change was found by the scan the signal asked for, not by one of its own before it.
  const auto scanned = log.find("SIGHUP: scanning");
  ASSERT_NE(scanned, std::string::npos) << log;
  EXPECT_EQ(log.find("restarted"), log.find("restarted", scanned)) << "no scan without auto.scan or SIGHUP: " << log;
  EXPECT_TRUE(testing::waitUntil(10s, [&] { return following(metricsPort, "a"); }));
  EXPECT_EQ(server.stop(), 0);
}

// Snapshots on demand over HTTP: refused without the admin login, refused for a table without a
// key, and the table's existing rows reach a client, with the progress in /status and /metrics.
TEST_F(OperationsTest, ASnapshotRequestedOverHttpBringsTheExistingRows) {
  std::string rows = "INSERT INTO s.t (v) VALUES ";
  for (int i = 1; i <= 3000; ++i) rows += (i > 1 ? ",(" : "(") + std::to_string(i) + ")";
  ASSERT_TRUE(db_->execute(rows));
  ASSERT_TRUE(db_->execute("CREATE TABLE s.nokey (v INT)"));
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end);
  testing::TempDir dir("canal-snapshot");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  writeServerConf(conf, port, metricsPort,
                  "canal.destinations = example\ncanal.admin.user = admin\n"
                  "canal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n");  // "admin"
  journal_ = end->file;
  position_ = std::to_string(end->position);
  writeInstance(conf, "example", 7101, "s\\\\..*");
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.log").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "example"); })) << server.logTail();
  Reader reader("127.0.0.1:" + std::to_string(port), "example", "t");
  ASSERT_TRUE(reader.open());

  const std::string url = "http://127.0.0.1:" + std::to_string(metricsPort) + "/destinations/example/snapshots";
  const std::string body = R"({"tables": ["s.t"], "chunkSize": 500})";
  EXPECT_EQ(testing::httpRequest("POST", url, body).status, 401);
  EXPECT_EQ(testing::httpRequest("POST", url, body, "admin", "wrong").status, 401);
  const auto keyless = testing::httpRequest("POST", url, R"({"tables": ["s.nokey"]})", "admin", "admin");
  EXPECT_EQ(keyless.status, 400);
  EXPECT_NE(keyless.body.find("neither a primary key nor a unique key"), std::string::npos) << keyless.body;
  const auto started = testing::httpRequest("POST", url, body, "admin", "admin");
  ASSERT_EQ(started.status, 202) << started.body;

  Json progress;
  ASSERT_TRUE(testing::waitUntil(60s, [&] {
    const auto r = testing::httpRequest("GET", url, "", "admin", "admin");
    progress = Json::parse(r.body, nullptr, false);
    return r.status == 200 && progress.is_object() && progress["state"] != "running";
  })) << progress.dump();
  EXPECT_EQ(progress["state"], "done") << progress.dump();
  EXPECT_EQ(progress["rows"], 3000);
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return reader.values().size() >= 3000; }));
  auto values = reader.values();
  std::sort(values.begin(), values.end());
  ASSERT_EQ(values.size(), 3000u);
  EXPECT_EQ(values.front(), 1);
  EXPECT_EQ(values.back(), 3000);

  Json st;
  ASSERT_TRUE(waitForExample(metricsPort, st, [](const Json& d) { return d["snapshot"].is_object(); }, 10s));
  EXPECT_EQ((*destinationIn(st, "example"))["snapshot"]["state"], "done");
  EXPECT_EQ(scrape(metricsPort).get(R"(canal_instance_snapshot_rows{destination="example"})"), 3000);
  EXPECT_EQ(testing::httpRequest("DELETE", url, "", "admin", "admin").status, 404) << "nothing runs";

  // Bad requests are refused, naming the field, and the server stays up.
  for (const std::string& bad :
       {std::string(R"({"tables": ["s.t"], "where": 5})"), std::string(R"({"tables": ["s.t"], "where": null})"),
        std::string(R"({"tables": ["s.t"], "where": ["x"]})"), std::string(R"({"tables": ["s.t"], "where": "1=1) OR (1=1"})"),
        std::string(R"({"tables": ["s.t"], "where": "v > 0; DROP TABLE s.t"})"),
        std::string(R"({"tables": ["s.t"], "chunkSize": 18446744073709551615})"),
        std::string(R"({"tables": ["s.t"], "rowsPerSecond": -1})"), std::string(R"({"tables": ["s.t"], "x": 1})")}) {
    const auto r = testing::httpRequest("POST", url, bad, "admin", "admin");
    EXPECT_EQ(r.status, 400) << bad << " -> " << r.body;
  }
  const std::string hugeBody = R"({"tables": ["s.t"], "where": ")" + std::string(2 << 20, 'x') + "\"}";
  const auto huge = testing::httpRequest("POST", url, hugeBody, "admin", "admin");
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_EQ(testing::httpGet("http://127.0.0.1:" + std::to_string(metricsPort) + "/status").status, 200);

  // A flood of connections that send nothing: each newcomer over the limit closes the oldest of
  // them, so /status still answers; the server keeps its descriptors, and a Canal client still
  // connects on the client port.
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(metricsPort));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) flood.push_back(fd);
    else ::close(fd);
  }
  Reader other("127.0.0.1:" + std::to_string(port), "example", "t");
  EXPECT_TRUE(other.open().isOk());
  other.stop();
  EXPECT_EQ(testing::httpGet("http://127.0.0.1:" + std::to_string(metricsPort) + "/status").status, 200);
  for (const int fd : flood) ::close(fd);
  // Password guesses on the snapshot API: a few are checked, then 429 until the address waits.
  std::vector<long> guesses;
  for (int i = 0; i < 8; ++i) guesses.push_back(testing::httpRequest("GET", url, "", "admin", "guess").status);
  EXPECT_EQ(guesses.front(), 401);
  EXPECT_EQ(guesses.back(), 429);
  EXPECT_EQ(server.stop(), 0);
}

// canal.instance.snapshot.mode = initial: a destination without a stored position delivers the
// existing rows besides the changes (interleaved where they meet; a row the stream carried before
// its chunk was read may come again with the same values, as an upsert).
TEST_F(OperationsTest, AnInitialSnapshotDeliversTheExistingRowsAndTheChanges) {
  ASSERT_TRUE(db_->execute("INSERT INTO s.t (v) VALUES (1), (2), (3)"));
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end);
  journal_ = end->file;
  position_ = std::to_string(end->position);
  testing::TempDir dir("canal-initial");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  writeServerConf(conf, port, metricsPort, "canal.destinations = example\n");
  writeInstance(conf, "example", 7102, "s\\\\.t", "canal.instance.snapshot.mode = initial\n");
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.log").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "example"); })) << server.logTail();
  Reader reader("127.0.0.1:" + std::to_string(port), "example", "t");
  ASSERT_TRUE(reader.open());
  ASSERT_TRUE(db_->execute("INSERT INTO s.t (v) VALUES (4)"));
  Json st;
  ASSERT_TRUE(waitForExample(metricsPort, st, [](const Json& d) { return d["snapshot"].is_object() &&
                                                                          d["snapshot"]["state"] == "done"; }, 20s))
      << st.dump();
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return reader.values().size() >= 4; })) << server.logTail();
  const auto values = reader.values();
  EXPECT_EQ(std::set<std::int64_t>(values.begin(), values.end()), (std::set<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace canal
