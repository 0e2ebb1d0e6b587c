// The canal-server binary's operations side against real MariaDB: /metrics and /status scraped
// while a client consumes a stream (figures checked against what was written and read), a
// failing stream, a lost primary, a purged position.

#include "tests/integration/server/operations_fixture.h"

namespace canal {
namespace {

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

}  // namespace
}  // namespace canal
