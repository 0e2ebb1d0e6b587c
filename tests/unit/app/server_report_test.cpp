// /metrics and /status rendered from snapshots: Canal's metric names, labels and histogram
// buckets (docs/operations.md), the text format's rules, ours, and the lag rules.

#include "server/app/server_report.h"

#include <gtest/gtest.h>

#include "tests/support/http_get.h"
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <sstream>

namespace canal::app {
namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

DestinationView activeView(const std::string& name) {
  DestinationView v;
  v.name = name;
  v.config.name = name;
  v.config.fingerprint = "canal.instance.master.address = 127.0.0.1:3306\n";
  v.config.batchMode = "MEMSIZE";
  v.config.bufferSize = 16384;
  v.active = true;
  instance::DestinationStats s;
  s.name = name;
  s.state = instance::DestinationState::kFollowing;
  s.primary = "127.0.0.1:3306";
  s.position = CommitPosition{"mysql-bin.000042", 1234, 1'699'999'999, 1, "0-1-77", {}, {}};
  s.events = 500;
  s.binlogBytes = 65536;
  s.transactions = 10;
  s.heartbeatPeriodMs = 15000;
  s.lastEventTimeMs = kNow - 3000;
  s.lastEventArrivalMs = kNow - 100;
  s.store.putSequence = 40;
  s.store.ackSequence = 30;
  s.store.putRows = 100;
  s.store.getRows = 90;
  s.store.ackRows = 80;
  s.store.putBytes = 4000;
  s.store.ackBytes = 3000;
  s.store.items = 10;
  s.store.bytes = 1000;
  s.store.capacityBytes = 16384 * 1024;
  s.store.putExecuteTime = kNow - 3000;
  s.store.getExecuteTime = kNow - 2000;  // newer than put: clamped to put
  s.store.ackExecuteTime = kNow - 5000;
  s.traffic.packets["GET"] = 7;
  s.traffic.packets["CLIENTACK"] = 6;
  s.traffic.emptyBatches = 3;
  s.traffic.errors[400] = 2;
  s.traffic.bytes = 12345;
  s.traffic.latency.observe(std::chrono::microseconds(1500));  // <= 2.5 ms
  s.traffic.latency.observe(std::chrono::milliseconds(20));    // <= 25 ms
  s.traffic.latency.observe(std::chrono::seconds(2));          // +Inf only
  instance::ClientStats c;
  c.clientId = 1001;
  c.unackedBatches = 2;
  c.getLatency.observe(std::chrono::microseconds(50));
  s.clients.push_back(c);
  v.stats = s;
  return v;
}

TEST(ServerReport, CanalMetricNamesLabelsAndValues) {
  ServerFacts server;
  server.address = "127.0.0.1:11111";
  server.startedMs = kNow - 60000;
  server.sessions = 3;
  const std::string text = renderMetrics(server, {activeView("example")}, kNow);
  const auto m = testing::parsePrometheusText(text);
  const auto at = [&](const std::string& key) {
    const auto it = m.find(key);
    EXPECT_NE(it, m.end()) << key << " missing in\n" << text;
    return it == m.end() ? -1.0 : it->second;
  };
  EXPECT_EQ(at(R"(canal_instance{destination="example",mode="spring"})"), 1);
  EXPECT_EQ(at(R"(canal_instance_subscriptions{destination="example"})"), 1);
  EXPECT_EQ(at(R"(canal_instance_transactions{destination="example"})"), 10);
  EXPECT_EQ(at(R"(canal_instance_received_binlog_bytes{destination="example",parser="0"})"), 65536);
  EXPECT_EQ(at(R"(canal_instance_parser_mode{destination="example",parallel="false"})"), 1);
  EXPECT_EQ(at(R"(canal_instance_store_produce_seq{destination="example"})"), 40);
  EXPECT_EQ(at(R"(canal_instance_store_consume_seq{destination="example"})"), 30);
  EXPECT_EQ(at(R"(canal_instance_store{destination="example",batchMode="MEMSIZE",size="16384"})"), 1);
  EXPECT_EQ(at(R"(canal_instance_store_produce_mem{destination="example"})"), 4000);
  EXPECT_EQ(at(R"(canal_instance_store_consume_mem{destination="example"})"), 3000);
  EXPECT_EQ(at(R"(canal_instance_put_delay{destination="example"})"), 3000);
  EXPECT_EQ(at(R"(canal_instance_get_delay{destination="example"})"), 3000);  // get clamped to put
  EXPECT_EQ(at(R"(canal_instance_ack_delay{destination="example"})"), 5000);
  EXPECT_EQ(at(R"(canal_instance_traffic_delay{destination="example"})"), 3000);
  EXPECT_EQ(at(R"(canal_instance_put_rows{destination="example"})"), 100);
  EXPECT_EQ(at(R"(canal_instance_get_rows{destination="example"})"), 90);
  EXPECT_EQ(at(R"(canal_instance_ack_rows{destination="example"})"), 80);
  EXPECT_EQ(at(R"(canal_instance_client_packets{destination="example",packetType="GET"})"), 7);
  EXPECT_EQ(at(R"(canal_instance_client_packets{destination="example",packetType="CLIENTACK"})"), 6);
  EXPECT_EQ(at(R"(canal_instance_client_empty_batches{destination="example"})"), 3);
  EXPECT_EQ(at(R"(canal_instance_client_request_error{destination="example",errorCode="400"})"), 2);
  EXPECT_EQ(at(R"(canal_instance_client_bytes{destination="example"})"), 12345);
  // Canal's histogram: milliseconds, buckets 2.5, 10, 25, 100 printed as Java doubles.
  EXPECT_EQ(at(R"(canal_instance_client_request_latency_bucket{destination="example",le="2.5"})"), 1);
  EXPECT_EQ(at(R"(canal_instance_client_request_latency_bucket{destination="example",le="10.0"})"), 1);
  EXPECT_EQ(at(R"(canal_instance_client_request_latency_bucket{destination="example",le="25.0"})"), 2);
  EXPECT_EQ(at(R"(canal_instance_client_request_latency_bucket{destination="example",le="100.0"})"), 2);
  EXPECT_EQ(at(R"(canal_instance_client_request_latency_bucket{destination="example",le="+Inf"})"), 3);
  EXPECT_EQ(at(R"(canal_instance_client_request_latency_count{destination="example"})"), 3);
  EXPECT_NEAR(at(R"(canal_instance_client_request_latency_sum{destination="example"})"), 2021.5, 0.01);
  EXPECT_EQ(m.count(R"(canal_instance_client_request_latency_bucket{destination="example",le="1.0"})"), 0u)
      << "only Canal's buckets in Canal's family";
  // Ours.
  EXPECT_EQ(at(R"(canal_destination_binlog_file_index{destination="example"})"), 42);
  EXPECT_EQ(at(R"(canal_destination_binlog_position{destination="example"})"), 1234);
  EXPECT_EQ(at(R"(canal_destination_binlog_info{destination="example",file="mysql-bin.000042",gtid="0-1-77"})"), 1);
  EXPECT_EQ(at(R"(canal_destination_state{destination="example",state="following"})"), 1);
  EXPECT_EQ(at(R"(canal_destination_state{destination="example",state="standby"})"), 0);
  EXPECT_EQ(at(R"(canal_destination_lag_milliseconds{destination="example"})"), 3000);
  EXPECT_EQ(at(R"(canal_destination_primary_silence_milliseconds{destination="example"})"), 100);
  EXPECT_EQ(at(R"(canal_destination_store_capacity_bytes{destination="example"})"), 16384.0 * 1024);
  EXPECT_EQ(at(R"(canal_client_unacked_batches{destination="example",clientId="1001"})"), 2);
  EXPECT_EQ(at(R"(canal_client_request_seconds_bucket{destination="example",clientId="1001",request="get",le="0.0001"})"), 1);
  EXPECT_EQ(at(R"(canal_client_request_seconds_count{destination="example",clientId="1001",request="ack"})"), 0);
  EXPECT_EQ(at("canal_server_sessions"), 3);
  EXPECT_GT(at("process_resident_memory_bytes"), 0);
}

TEST(ServerReport, TextFormatDeclaresEveryFamilyOnceBeforeItsSamples) {
  DestinationView standby;
  standby.name = "other";
  standby.config.fingerprint = "x";
  const std::string text = renderMetrics({}, {activeView("a\"b"), activeView("c"), standby}, kNow);
  std::set<std::string> declared;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(declared.insert(name).second) << name << " declared twice";
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::string name = line.substr(0, line.find_first_of("{ "));
    for (const char* suffix : {"_bucket", "_count", "_sum"}) {
      const std::string s = suffix;
      if (!declared.count(name) && name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
        name.resize(name.size() - s.size());
      }
    }
    EXPECT_TRUE(declared.count(name)) << "sample before its TYPE: " << line;
  }
  EXPECT_NE(text.find(R"(destination="a\"b")"), std::string::npos) << "label values are escaped";
  // A standby destination shows in ours, not in Canal's families.
  EXPECT_NE(text.find(R"(canal_destination_active{destination="other"} 0)"), std::string::npos);
  EXPECT_NE(text.find(R"(canal_destination_state{destination="other",state="standby"} 1)"), std::string::npos);
  EXPECT_EQ(text.find(R"(canal_instance{destination="other")"), std::string::npos);
}

TEST(ServerReport, LagIsZeroOnlyWhileCaughtUpOnALiveLink) {
  instance::DestinationStats s;
  s.state = instance::DestinationState::kFollowing;
  s.heartbeatPeriodMs = 15000;
  EXPECT_EQ(lagMs(s, kNow), -1) << "nothing read yet";
  s.lastEventTimeMs = kNow - 4000;
  s.lastEventArrivalMs = kNow - 10;
  EXPECT_EQ(lagMs(s, kNow), 4000) << "busy reading: the newest event's age";
  s.waitingSinceMs = kNow - 2;
  EXPECT_EQ(lagMs(s, kNow), 4000) << "a wait of 2 ms is reading, not being caught up";
  s.waitingSinceMs = kNow - 50;
  EXPECT_EQ(lagMs(s, kNow), 0) << "waiting for the primary: caught up";
  s.lastEventArrivalMs = kNow - 40000;
  EXPECT_EQ(lagMs(s, kNow), 4000) << "no event nor heartbeat for two periods: the link is in doubt";
  s.lastHeartbeatMs = kNow - 1000;
  EXPECT_EQ(lagMs(s, kNow), 0) << "a recent heartbeat proves the link";
  s.state = instance::DestinationState::kRetrying;
  EXPECT_EQ(lagMs(s, kNow), 4000) << "a failed stream is not caught up";

  // A stream that cannot start (a purged position after a restart) has read nothing: it is behind
  // by its last stored transaction.
  instance::DestinationStats stuck;
  stuck.state = instance::DestinationState::kStuck;
  stuck.position = CommitPosition{"mysql-bin.000003", 1530, static_cast<std::uint32_t>((kNow - 90000) / 1000), 1, {}, {}, {}};
  EXPECT_EQ(lagMs(stuck, kNow), 90000);
}

TEST(ServerReport, AStuckDestinationSaysSo) {
  auto v = activeView("example");
  v.stats->state = instance::DestinationState::kStuck;
  v.stats->lastError = Status::ioError("COM_BINLOG_DUMP: error 1236: Could not find first log file name in binary log index file");
  const std::string text = renderMetrics({}, {v}, kNow);
  EXPECT_NE(text.find(R"(canal_destination_state{destination="example",state="stuck"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(canal_destination_state{destination="example",state="following"} 0)"), std::string::npos);
  const auto status = nlohmann::json::parse(renderStatus(ServerFacts{}, {v}, kNow));
  EXPECT_EQ(status["destinations"][0]["state"], "stuck");
  EXPECT_NE(status["destinations"][0]["lastError"]["message"].get<std::string>().find("1236"), std::string::npos);
}

TEST(ServerReport, StatusJson) {
  DestinationView broken;
  broken.name = "broken";
  broken.configError = Status::invalidArgument("canal.instance.memory.buffer.size: 'abc' is not a number");
  broken.configErrorTimeMs = kNow - 1000;
  auto v = activeView("example");
  v.stats->lastError = Status::unavailable("connection refused");
  v.stats->lastErrorTimeMs = kNow - 500;
  v.stats->clients[0].cursor = EntryPosition{"mysql-bin.000042", 1000, kNow - 3000, 1, "", 1100};
  ServerFacts facts;
  facts.address = "127.0.0.1:11111";
  facts.zkServers = "zk:2181";
  facts.startedMs = kNow - 60000;
  facts.sessions = 1;
  facts.mode = "tcp";
  broken.runningAt = "10.0.0.2:11111";  // with HA, another server runs it
  const auto status = nlohmann::json::parse(renderStatus(facts, {v, broken}, kNow));
  ASSERT_EQ(status["destinations"].size(), 2u);
  const auto& d = status["destinations"][0];
  EXPECT_EQ(d["name"], "example");
  EXPECT_EQ(d["state"], "following");
  EXPECT_EQ(d["position"]["journalName"], "mysql-bin.000042");
  EXPECT_EQ(d["position"]["position"], 1234);
  EXPECT_EQ(d["position"]["gtid"], "0-1-77");
  EXPECT_EQ(d["lagMs"], 3000);
  EXPECT_EQ(d["clients"][0]["clientId"], 1001);
  EXPECT_EQ(d["clients"][0]["unackedBatches"], 2);
  EXPECT_EQ(d["clients"][0]["cursor"]["position"], 1000);
  EXPECT_NE(d["lastError"]["message"].get<std::string>().find("connection refused"), std::string::npos);
  EXPECT_EQ(d["lastError"]["time"], "2023-11-14T22:13:19.500Z");
  const auto& b = status["destinations"][1];
  EXPECT_EQ(b["state"], "invalid");
  EXPECT_NE(b["configError"]["message"].get<std::string>().find("buffer.size"), std::string::npos);
  EXPECT_EQ(status["server"]["zkServers"], "zk:2181");
  EXPECT_EQ(status["server"]["mode"], "tcp");
  EXPECT_EQ(status["server"]["uptimeSeconds"], 60);
  EXPECT_FALSE(status["server"]["version"].get<std::string>().empty());
  EXPECT_EQ(d["runningAt"], "127.0.0.1:11111");
  EXPECT_EQ(b["runningAt"], "10.0.0.2:11111");
}

}  // namespace
}  // namespace canal::app
