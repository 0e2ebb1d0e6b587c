// Forwarder throughput: a real MariaDB holds N inserted rows in its binlog, canal-server (memory
// mode) serves them, and the forwarder drains the backlog into each sink in turn; each run starts
// a fresh server from the same position. Printed side by side: a bare SDK consumer
// (getWithoutAck + ack, the ceiling any sink sits under), the Kafka sink (librdkafka's mock
// cluster, 4 partitions, primary-key hash, zstd), the Elasticsearch sink (the test server, _bulk
// of 1000), both at once, and the Redis sink (a local redis-server without persistence, a hash
// per row); then, as the Redis peer, the same rows written by a bare client as pipelined HSETs
// of 1000 (what redis-benchmark -P does), into the same server.
//   build/bench/canal_forwarder_bench [rows]      (default 200000)

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "forwarder/forwarder.h"
#include "tests/bench/backlog.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/elasticsearch_server.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace canal;
using Clock = std::chrono::steady_clock;

int fail(const std::string& what) {
  std::fprintf(stderr, "forwarder_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::stol(argv[1]) : 200000;
  auto backlog = bench::startBacklog(rows);
  if (!backlog) return fail(backlog.status().toString());
  testing::MariaDbServer& db = *backlog->db;
  const std::string journal = backlog->start.file;
  const std::string position = std::to_string(backlog->start.position);

  char error[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "0", error, sizeof error);
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  rd_kafka_mock_cluster_t* kafka = rd_kafka_mock_cluster_new(handle, 3);
  rd_kafka_mock_topic_create(kafka, "s_t", 4, 3);
  testing::ElasticsearchServer es;
  if (!es.start()) return fail("elasticsearch test server");

  forwarder::SinkConfig kafkaSink;
  kafkaSink.name = "kafka";
  kafkaSink.kind = forwarder::SinkConfig::Kind::kKafka;
  kafkaSink.kafka.brokers = rd_kafka_mock_cluster_bootstraps(kafka);
  kafkaSink.kafka.topic = "%{database}_%{table}";
  kafkaSink.kafka.partitionHash = "s\\..*:$pk$";
  kafkaSink.kafka.compression = "zstd";
  kafkaSink.kafka.properties = {{"log_level", "0"}};
  forwarder::SinkConfig esSink;
  esSink.name = "es";
  esSink.kind = forwarder::SinkConfig::Kind::kElasticsearch;
  esSink.elasticsearch.url = es.url();
  forwarder::IndexMapping m;
  m.table = "s.t";
  m.index = "t";
  esSink.elasticsearch.mappings = {m};

  auto redis = testing::RedisServer::start("", false);
  if (!redis) return fail(redis.status().toString());
  forwarder::SinkConfig redisSink;
  redisSink.name = "redis";
  redisSink.kind = forwarder::SinkConfig::Kind::kRedis;
  redisSink.redis.port = (*redis)->port();
  forwarder::RedisMapping rm;
  rm.table = "s.t";
  redisSink.redis.mappings = {rm};

  struct Run {
    const char* name;
    std::vector<forwarder::SinkConfig> sinks;
  };
  const std::vector<Run> runs = {{"SDK consumer only (no sink)", {}},
                                 {"Kafka sink (mock cluster)", {kafkaSink}},
                                 {"Elasticsearch sink (test server)", {esSink}},
                                 {"Kafka + Elasticsearch", {kafkaSink, esSink}},
                                 {"Redis sink (hash per row)", {redisSink}}};
  std::printf("%-34s %10s %10s %12s\n", "run", "rows", "seconds", "rows/s");
  int n = 0;
  for (const Run& run : runs) {
    testing::TempDir dir("canal-forwarder-bench");
    testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db.port(), "",
                                       journal, position);
    if (!server.start()) return fail("canal-server");
    if (!bench::clientsAnswer(server)) return fail("canal-server did not start: " + server.logTail());
    forwarder::ForwarderConfig config;
    config.source.address = server.address();
    config.source.batchSize = 1000;
    config.source.clientId = static_cast<std::int16_t>(1001 + n++);
    config.source.pollTimeout = std::chrono::milliseconds(200);
    config.progressInterval = std::chrono::hours(1);
    config.sinks = run.sinks;
    auto f = forwarder::Forwarder::create(config, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
    if (!f) return fail(f.status().toString());
    const auto start = Clock::now();
    std::thread thread([&] { (void)(*f)->run(); });
    while ((*f)->counters().rows < static_cast<std::uint64_t>(rows)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    (*f)->stop();
    thread.join();
    server.stop();
    std::printf("%-34s %10ld %10.2f %12.0f\n", run.name, rows, seconds, static_cast<double>(rows) / seconds);
  }
  // The peer: the same rows as pipelined HSETs from one client, no version check.
  testing::RedisClient peer(**redis, 1);
  if (!peer.command({"PING"})) return fail("redis peer connection");
  const auto start = Clock::now();
  for (long i = 0; i < rows; i += 1000) {
    std::vector<std::vector<std::string>> pipeline;
    for (long k = i; k < std::min(rows, i + 1000); ++k) {
      pipeline.push_back({"HSET", "s:t:" + std::to_string(k), "id", std::to_string(k), "name", "name-" + std::to_string(k),
                          "amount", std::to_string(k % 1000) + ".50", "created", "2024-01-02 03:04:05"});
    }
    if (!peer.pipelined(pipeline)) return fail("pipelined HSET");
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("%-34s %10ld %10.2f %12.0f\n", "peer: pipelined HSET (1000/trip)", rows, seconds,
              static_cast<double>(rows) / seconds);
  rd_kafka_mock_cluster_destroy(kafka);
  rd_kafka_destroy(handle);
  return 0;
}
