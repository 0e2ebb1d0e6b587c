#pragma once

// The operations tests' fixture: canal-server processes on a real MariaDB, their /metrics
// scraped and parsed, /status read, and a client reading a destination on its own thread.

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

inline Scrape scrape(int port) {
  Scrape s;
  const auto r = testing::httpGet("http://127.0.0.1:" + std::to_string(port) + "/metrics");
  if (r.status != 200) return s;
  s.text = r.body;
  s.metrics = testing::parsePrometheusText(r.body);
  return s;
}

inline Json status(int port) {
  const auto r = testing::httpGet("http://127.0.0.1:" + std::to_string(port) + "/status");
  if (r.status != 200) return Json();
  return Json::parse(r.body, nullptr, false);
}

inline const Json* destinationIn(const Json& s, const std::string& name) {
  if (!s.is_object() || !s.contains("destinations")) return nullptr;
  for (const auto& d : s["destinations"]) {
    if (d["name"] == name) return &d;
  }
  return nullptr;
}

// Polls /status until `ready` holds for the destination "example"; `st` keeps the last reply.
inline bool waitForExample(int port, Json& st, const std::function<bool(const Json&)>& ready, std::chrono::seconds within) {
  return testing::waitUntil(within, [&] {
    st = status(port);
    const Json* d = destinationIn(st, "example");
    return d && ready(*d);
  });
}

inline bool following(int port, const std::string& name) {
  const Json s = status(port);
  const Json* d = destinationIn(s, name);
  return d && (*d)["state"] == "following";
}

// A session of canal-server's web console, logged in over its API.
struct ConsoleLogin {
  std::string cookie;  // "canal_console=<id>"
  std::string csrfToken;
};

inline ConsoleLogin consoleLogin(int port, const std::string& user, const std::string& password) {
  const auto r = testing::httpRequest("POST", "http://127.0.0.1:" + std::to_string(port) + "/console/api/login", "",
                                      user, password);
  ConsoleLogin login;
  const auto at = r.headers.find("Set-Cookie: ");
  if (r.status != 200 || at == std::string::npos) return login;
  login.cookie = r.headers.substr(at + 12, r.headers.find(';', at) - at - 12);
  login.csrfToken = Json::parse(r.body)["csrfToken"].get<std::string>();
  return login;
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

}  // namespace canal
