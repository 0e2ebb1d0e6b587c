#pragma once

// A real MariaDB with database s, a canal-server (memory mode) following it, and helpers to run
// the forwarder in-process on a thread.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "forwarder/forwarder.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/elasticsearch_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::forwarder {

// Lines joined with newlines, for failure messages.
inline std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// Watches which index `alias` points to, from construction until stop(): every index it was
// seen on, and the fewest documents any of them held while the alias pointed there.
class AliasWatch {
 public:
  AliasWatch(const testing::ElasticsearchServer& es, std::string alias)
      : es_(es), alias_(std::move(alias)), thread_([this] {
          while (watching_) {
            const auto targets = es_.aliasTargets(alias_);
            if (targets.size() == 1) {
              seen_.insert(targets[0]);
              smallest_ = std::min(smallest_, es_.documentCount(targets[0]));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
        }) {}
  ~AliasWatch() { stop(); }
  void stop() {
    watching_ = false;
    if (thread_.joinable()) thread_.join();
  }
  // After stop().
  const std::set<std::string>& seen() const { return seen_; }
  std::size_t smallest() const { return smallest_; }

 private:
  const testing::ElasticsearchServer& es_;
  std::string alias_;
  std::atomic<bool> watching_{true};
  std::set<std::string> seen_;
  std::size_t smallest_ = SIZE_MAX;
  std::thread thread_;
};

class ForwarderTest : public testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s"));
    auto end = db_->binlogEnd();
    ASSERT_TRUE(end) << end.status().toString();
    dir_ = std::make_unique<testing::TempDir>("canal-forwarder");
    server_ = std::make_unique<testing::CanalServerProcess>(CANAL_SERVER_BINARY, dir_->path() / "server",
                                                            "memory-instance.xml", db_->port(), "", end->file,
                                                            std::to_string(end->position));
    std::ofstream(dir_->path() / "server" / "conf" / "canal.properties", std::ios::app) << "\n" << serverProperties();
    prepareServer(dir_->path() / "server" / "conf");
    ASSERT_TRUE(server_->start());
    waitUntilServing();
  }

  // Waits until the server answers a client of destination example.
  void waitUntilServing() {
    const bool up = testing::waitUntil(std::chrono::seconds(30), [&] {
      client::ConnectorOptions o;
      o.retries = 0;
      auto c = client::newSingleConnector(server_->address(), "example", "", "", o);
      return c->connect().isOk();
    });
    ASSERT_TRUE(up) << server_->logTail();
  }

  // Lines added to the server's canal.properties; then its conf/ directory may be changed.
  virtual std::string serverProperties() const { return ""; }
  virtual void prepareServer(const std::filesystem::path& /*conf*/) {}

  void TearDown() override {
    stopForwarder();
    if (server_) server_->stop();
  }

  ForwarderConfig baseConfig() const {
    ForwarderConfig c;
    c.source.address = server_->address();
    c.source.batchSize = 200;
    c.source.pollTimeout = std::chrono::milliseconds(200);
    c.progressInterval = std::chrono::milliseconds(1000);
    c.retryBackoff = std::chrono::milliseconds(50);
    c.maxRetryBackoff = std::chrono::milliseconds(400);
    return c;
  }

  // The base configuration with two sinks of `table`: Redis hashes (the server on `redisPort`,
  // password "pw") and Elasticsearch documents in `index` at `esUrl`.
  ForwarderConfig redisAndElasticsearch(int redisPort, const std::string& esUrl, const std::string& table,
                                        const std::string& index) const {
    ForwarderConfig c = baseConfig();
    SinkConfig cache;
    cache.name = "cache";
    cache.kind = SinkConfig::Kind::kRedis;
    cache.redis.port = redisPort;
    cache.redis.password = "pw";
    cache.redis.timeout = std::chrono::milliseconds(2000);
    RedisMapping hash;
    hash.table = table;
    cache.redis.mappings = {hash};
    SinkConfig search;
    search.name = "es";
    search.kind = SinkConfig::Kind::kElasticsearch;
    search.elasticsearch.url = esUrl;
    search.elasticsearch.backoff = std::chrono::milliseconds(20);
    search.elasticsearch.maxBackoff = std::chrono::milliseconds(200);
    IndexMapping documents;
    documents.table = table;
    documents.index = index;
    search.elasticsearch.mappings = {documents};
    c.sinks = {cache, search};
    return c;
  }

  void log(const std::string& line) {
    std::lock_guard<std::mutex> lock(logMutex_);
    log_ += line + "\n";
  }
  std::string logText() {
    std::lock_guard<std::mutex> lock(logMutex_);
    return log_;
  }

  // Starts the forwarder on a thread; its result lands in result_ when run() returns.
  void startForwarder(const ForwarderConfig& config) {
    auto created = Forwarder::create(config, [this](const std::string& line) { log(line); });
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    forwarder_ = std::move(*created);
    finished_ = false;
    thread_ = std::thread([this] {
      result_ = forwarder_->run();
      finished_ = true;
    });
  }
  void stopForwarder() {
    if (forwarder_) forwarder_->stop();
    if (thread_.joinable()) thread_.join();
  }

  // The canal-forwarder binary with the YAML configuration `yaml` (written to forwarder.yml);
  // each start logs to forwarder-<n>.log in the test's directory.
  void writeBinaryConfig(const std::string& yaml) { std::ofstream(dir_->path() / "forwarder.yml") << yaml; }
  canal::Status startBinary() {
    return binary_.start({CANAL_FORWARDER_BINARY, "--config", (dir_->path() / "forwarder.yml").string()},
                         (dir_->path() / ("forwarder-" + std::to_string(++binaryStarts_) + ".log")).string());
  }
  // The binary killed with SIGKILL `kills` times, 0.4 to 1.2 s apart, and started again each time
  // (after up to 0.2 s); false when a start fails.
  bool killAndRestartBinary(int kills) {
    std::mt19937 random(std::random_device{}());
    for (int i = 0; i < kills; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(400 + random() % 800));
      binary_.kill();
      std::this_thread::sleep_for(std::chrono::milliseconds(random() % 200));
      if (!startBinary()) return false;
    }
    return true;
  }
  // canal-forwarder reindex --index `alias` with the same configuration file.
  canal::Status startReindexBinary(const std::string& alias = "t") {
    return binary_.start({CANAL_FORWARDER_BINARY, "reindex", "--config", (dir_->path() / "forwarder.yml").string(),
                          "--index", alias},
                         (dir_->path() / ("forwarder-" + std::to_string(++binaryStarts_) + ".log")).string());
  }
  // canal-forwarder load --table `table` [--create] with the same configuration file.
  canal::Status startLoadBinary(const std::string& table, bool create) {
    std::vector<std::string> argv = {CANAL_FORWARDER_BINARY, "load", "--config", (dir_->path() / "forwarder.yml").string(),
                                     "--table", table};
    if (create) argv.push_back("--create");
    return binary_.start(argv, (dir_->path() / ("forwarder-" + std::to_string(++binaryStarts_) + ".log")).string());
  }
  // The log of the latest start.
  std::string lastBinaryLog() const {
    std::ifstream in(dir_->path() / ("forwarder-" + std::to_string(binaryStarts_) + ".log"));
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // The logs of every start, in order.
  std::string binaryLogs() const {
    std::string logs;
    for (int i = 1; i <= binaryStarts_; ++i) {
      std::ifstream in(dir_->path() / ("forwarder-" + std::to_string(i) + ".log"));
      logs.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return logs;
  }

  std::unique_ptr<testing::TempDir> dir_;
  testing::ChildProcess binary_;
  int binaryStarts_ = 0;
  std::unique_ptr<testing::CanalServerProcess> server_;
  std::unique_ptr<Forwarder> forwarder_;
  std::thread thread_;
  std::atomic<bool> finished_{false};
  client::Status result_;
  std::mutex logMutex_;
  std::string log_;
};

// With a second destination, `reindex`, on the same primary (Canal serves one consumer per
// destination: a reindex follows its own) and the server's admin user for the snapshot API.
class ReindexFixture : public ForwarderTest {
 protected:
  std::string serverProperties() const override {
    return "canal.admin.user = admin\ncanal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n";  // "admin"
  }
  void prepareServer(const std::filesystem::path& conf) override {
    std::filesystem::create_directories(conf / "reindex");
    std::filesystem::copy_file(conf / "example" / "instance.properties", conf / "reindex" / "instance.properties");
    std::ifstream in(conf / "canal.properties");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find("canal.destinations = example");
    ASSERT_NE(at, std::string::npos);
    text.replace(at, std::string("canal.destinations = example").size(), "canal.destinations = example,reindex");
    std::ofstream(conf / "canal.properties") << text;
  }
  std::string snapshotUrl() const { return "http://127.0.0.1:" + std::to_string(server_->metricsPort()); }
};

}  // namespace canal::forwarder
