// Reindex throughput: a real MariaDB holds N rows (the backlog table), canal-server runs the
// live destination and a second one for the reindex, and `reindex()` builds a new index behind
// the alias in the Elasticsearch test server; documents/s is N over the whole reindex (index
// creation, snapshot, catching up, the swap). Side by side in the same run: the same rows
// dumped by mariadb-dump (what a hand-made full load starts from).
//   build/bench/canal_reindex_bench [rows]      (default 200000)

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "forwarder/reindex.h"
#include "tests/bench/backlog.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/elasticsearch_server.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace canal;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

int fail(const std::string& what) {
  std::fprintf(stderr, "reindex_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::stol(argv[1]) : 200000;
  auto backlog = bench::startBacklog(rows);
  if (!backlog) return fail(backlog.status().toString());
  testing::MariaDbServer& db = *backlog->db;
  const auto& end = backlog->end;

  testing::TempDir dir("canal-reindex-bench");
  // Both destinations start at the end: the rows reach the new index through the snapshot.
  testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db.port(), "",
                                     end.file, std::to_string(end.position));
  const fs::path conf = dir.path() / "conf";
  fs::create_directories(conf / "reindex");
  fs::copy_file(conf / "example" / "instance.properties", conf / "reindex" / "instance.properties");
  std::ofstream(conf / "canal.properties", std::ios::app)
      << "\ncanal.destinations = example,reindex\ncanal.admin.user = admin\n"
         "canal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n";  // "admin"
  if (!server.start()) return fail("canal-server");
  testing::ElasticsearchServer es;
  if (!es.start()) return fail("elasticsearch test server");

  forwarder::ForwarderConfig config;
  config.source.address = server.address();
  config.source.batchSize = 1000;
  config.source.pollTimeout = std::chrono::milliseconds(100);
  config.progressInterval = std::chrono::hours(1);
  forwarder::SinkConfig sink;
  sink.name = "es";
  sink.kind = forwarder::SinkConfig::Kind::kElasticsearch;
  sink.elasticsearch.url = es.url();
  forwarder::IndexMapping m;
  m.table = "s.t";
  m.index = "t";
  sink.elasticsearch.mappings = {m};
  sink.elasticsearch.reindex.destination = "reindex";
  sink.elasticsearch.reindex.snapshotUrl = "http://127.0.0.1:" + std::to_string(server.metricsPort());
  sink.elasticsearch.reindex.snapshotPassword = "admin";
  sink.elasticsearch.reindex.stateDir = dir.path().string();
  config.sinks = {sink};
  // canal-server answers on its HTTP port once its destinations run.
  if (!server.waitServing(std::chrono::seconds(30))) return fail("canal-server did not start: " + server.logTail());

  std::printf("%-40s %10s %10s %12s\n", "run", "rows", "seconds", "rows/s");
  auto began = Clock::now();
  const client::Status s = forwarder::reindex(config, "t", [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  });
  double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  if (!s) return fail(s.toString());
  if (es.documentCount("t") != static_cast<std::size_t>(rows)) {
    return fail("the index holds " + std::to_string(es.documentCount("t")) + " documents, not " + std::to_string(rows));
  }
  std::printf("%-40s %10ld %10.2f %12.0f\n", "reindex into the test server", rows, seconds,
              static_cast<double>(rows) / seconds);

  // The peer: mariadb-dump of the same table.
  const std::string dump = (dir.path() / "t.sql").string();
  began = Clock::now();
  std::string output;
  const int rc = testing::runCommand({"sh", "-c",
                                      "mariadb-dump --no-defaults --socket=" + db.socketPath() +
                                          " -uroot --single-transaction --quick --skip-lock-tables s t > " + dump},
                                     &output);
  seconds = std::chrono::duration<double>(Clock::now() - began).count();
  if (rc != 0) return fail("mariadb-dump: " + output);
  std::printf("%-40s %10ld %10.2f %12.0f\n", "peer: mariadb-dump of the table", rows, seconds,
              static_cast<double>(rows) / seconds);
  server.stop();
  return 0;
}
