// Canal's MQ mode throughput: a real MariaDB holds N inserted rows in its binlog and canal-server
// (memory mode, a fresh process per run, from the same position) publishes them; a run ends when
// client 1001's cursor (in /status) reaches the end of the backlog, i.e. every batch was
// confirmed by the broker and acked. Side by side in the same run: the TCP path (an SDK consumer
// doing getWithoutAck + ack, the same cursor), Kafka through librdkafka's mock cluster
// (FlatMessage, FlatMessage hashed by key over 4 partitions, binary, transactional) and a real
// local rabbitmq-server. Canal's defaults otherwise (canal.mq.canalBatchSize = 50 entries).
//   build/bench/canal_mq_bench [rows]      (default 200000)

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "forwarder/forwarder.h"
#include "tests/bench/backlog.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/http_get.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/process.h"
#include "tests/support/rabbitmq_server.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace canal;
using Clock = std::chrono::steady_clock;

int fail(const std::string& what) {
  std::fprintf(stderr, "mq_bench: %s\n", what.c_str());
  return 1;
}

// True once client 1001 of `example` acked up to `file`:`position` (the last transaction's end).
bool caughtUp(int metricsPort, const std::string& file, std::int64_t position) {
  const auto r = testing::httpGet("http://127.0.0.1:" + std::to_string(metricsPort) + "/status");
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object()) return false;
  for (const auto& d : j["destinations"]) {
    for (const auto& c : d["clients"]) {
      if (c["clientId"] != 1001 || !c["cursor"].is_object()) continue;
      if (c["cursor"]["journalName"] == file && c["cursor"]["position"].get<std::int64_t>() >= position) return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::stol(argv[1]) : 200000;
  auto backlog = bench::startBacklog(rows);
  if (!backlog) return fail(backlog.status().toString());
  testing::MariaDbServer& db = *backlog->db;
  const auto& start = backlog->start;
  const auto& end = backlog->end;
  // The last entry (the last transaction's end, XID event) starts this far before the end.
  const std::int64_t lastEntry = end.position - 64;

  char error[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "0", error, sizeof error);
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  rd_kafka_mock_cluster_t* kafka = rd_kafka_mock_cluster_new(handle, 3);
  rd_kafka_mock_topic_create(kafka, "cdc", 4, 3);
  rd_kafka_mock_topic_create(kafka, "canal_mq_positions", 1, 3);
  const std::string brokers = rd_kafka_mock_cluster_bootstraps(kafka);
  auto rabbit = testing::RabbitMqServer::start();
  if (!rabbit) return fail(rabbit.status().toString());

  struct Run {
    const char* name;
    std::string canal;     // appended to canal.properties; empty: the TCP path
    std::string instance;  // appended to instance.properties
  };
  const std::string kafkaMode = "canal.serverMode = kafka\nkafka.bootstrap.servers = " + brokers + "\nkafka.log_level = 0\n";
  const std::string common = "canal.mq.topic = cdc\ncanal.instance.filter.transaction.entry = false\n";
  const std::vector<Run> runs = {
      {"TCP: SDK consumer (get + ack)", "", ""},
      {"Kafka, FlatMessage", kafkaMode, common},
      {"Kafka, FlatMessage, $pk$ hash x4", kafkaMode, common + "canal.mq.partitionsNum = 4\ncanal.mq.partitionHash = s\\\\..*:$pk$\n"},
      {"Kafka, binary Messages", kafkaMode + "canal.mq.flatMessage = false\n", common},
      {"Kafka, FlatMessage, transactional", kafkaMode + "canal.mq.transaction = true\n", common},
      {"RabbitMQ, FlatMessage (confirms)",
       "canal.serverMode = rabbitMQ\nrabbitmq.host = " + (*rabbit)->address() +
           "\nrabbitmq.exchange = \nrabbitmq.queue = cdc\nrabbitmq.username = guest\nrabbitmq.password = guest\n",
       common},
  };
  std::printf("%-36s %10s %10s %12s\n", "run", "rows", "seconds", "rows/s");
  for (const Run& run : runs) {
    testing::TempDir dir("canal-mq-bench");
    testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db.port(), "",
                                       start.file, std::to_string(start.position));
    std::ofstream(dir.path() / "conf" / "canal.properties", std::ios::app) << "\n" << run.canal;
    std::ofstream(dir.path() / "conf" / "example" / "instance.properties", std::ios::app) << "\n" << run.instance;
    std::unique_ptr<forwarder::Forwarder> consumer;
    std::thread thread;
    const auto began = Clock::now();
    if (!server.start()) return fail("canal-server");
    if (run.canal.empty()) {
      if (!bench::clientsAnswer(server)) return fail("canal-server did not start: " + server.logTail());
      forwarder::ForwarderConfig config;
      config.source.address = server.address();
      config.source.batchSize = 50;  // as canal.mq.canalBatchSize
      config.source.pollTimeout = std::chrono::milliseconds(100);
      config.progressInterval = std::chrono::hours(1);
      auto f = forwarder::Forwarder::create(config, [](const std::string&) {});
      if (!f) return fail(f.status().toString());
      consumer = std::move(*f);
      thread = std::thread([&] { (void)consumer->run(); });
    }
    const bool done = testing::waitUntil(
        std::chrono::minutes(10), [&] { return caughtUp(server.metricsPort(), end.file, lastEntry); },
        std::chrono::milliseconds(10));
    const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
    if (consumer) {
      consumer->stop();
      thread.join();
    }
    if (!done) return fail(std::string(run.name) + " did not catch up: " + server.logTail());
    server.stop();
    std::printf("%-36s %10ld %10.2f %12.0f\n", run.name, rows, seconds, static_cast<double>(rows) / seconds);
  }
  rd_kafka_mock_cluster_destroy(kafka);
  rd_kafka_destroy(handle);
  return 0;
}
