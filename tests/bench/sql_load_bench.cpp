// The sql sink's initial load against its peer, side by side in one run: a source MariaDB holds
// N rows of s.t (tests/bench/backlog.h) that its binlog does not carry past canal-server's start,
// and each run copies them into an empty PostgreSQL table:
//   peer       mariadb --batch -e 'SELECT ...' | psql -c '\copy t_peer FROM STDIN'
//   sql sink   canal-forwarder load --create: canal-server's snapshot of s.t (memory mode) through
//              the sql sink with its defaults into t, the table made by the load
// Printed: seconds, rows per second, and whether the two copies hold the same rows.
//   build/bench/canal_sql_load_bench [rows] [parallel] [batch_rows]   (defaults 1000000, the sink's)

#include <chrono>
#include <cstdio>
#include <fstream>

#include "forwarder/sql/sql_load.h"
#include "tests/bench/backlog.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/postgres_server.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace canal;
using Clock = std::chrono::steady_clock;

int fail(const std::string& what) {
  std::fprintf(stderr, "sql_load_bench: %s\n", what.c_str());
  return 1;
}

std::string value(testing::PostgresClient& pg, const std::string& sql) {
  auto r = pg.query(sql);
  return r && !r->empty() && !(*r)[0].empty() ? (*r)[0][0].value_or("NULL") : "error";
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::stol(argv[1]) : 1000000;
  const int parallel = argc > 2 ? std::stoi(argv[2]) : 0;
  const int batchRows = argc > 3 ? std::stoi(argv[3]) : 0;
  auto source = testing::MariaDbServer::start({});
  if (!source) return fail(source.status().toString());
  testing::MariaDbServer& db = **source;
  std::fprintf(stderr, "writing %ld rows...\n", rows);
  if (!bench::createBacklogTable(db) || !bench::writeBacklog(db, rows)) return fail("source rows");
  auto end = db.binlogEnd();
  if (!end) return fail(end.status().toString());
  auto started = testing::PostgresServer::start();
  if (!started) return fail(started.status().toString());
  testing::PostgresServer& pg = **started;
  testing::PostgresClient target(pg);

  std::printf("initial load of %ld rows of s.t (id INT PRIMARY KEY, name VARCHAR(32), amount DECIMAL(10,2), "
              "created DATETIME) into PostgreSQL\n", rows);
  std::printf("  %-58s %8s %12s  %s\n", "run", "seconds", "rows/s", "copy");

  // The peer: the rows as tab-separated text, copied in.
  if (!target.execute("CREATE TABLE t_peer (id integer PRIMARY KEY, name varchar(32), amount numeric(10,2), "
                      "created timestamp)")) {
    return fail("peer table");
  }
  const std::string copy = "mariadb --no-defaults -uroot -S " + db.socketPath() +
                           " --batch --skip-column-names -e 'SELECT id, name, amount, created FROM s.t' | psql -q -h " +
                           pg.socketDir() + " -p " + std::to_string(pg.port()) + " -U " + testing::PostgresServer::kUser +
                           " -d " + testing::PostgresServer::kDatabase + " -c '\\copy t_peer FROM STDIN'";
  std::string output;
  auto began = Clock::now();
  if (testing::runCommand({"sh", "-c", copy}, &output) != 0) return fail("mariadb --batch | psql: " + output);
  double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  const std::string peerRows = value(target, "SELECT count(*) FROM t_peer");
  std::printf("  %-58s %8.2f %12.0f  %s rows\n", "peer: mariadb --batch | psql \\copy", seconds, rows / seconds,
              peerRows.c_str());

  // The load: canal-server's snapshot through the sql sink, the way `canal-forwarder load` runs it.
  testing::TempDir dir("canal-sql-load-bench");
  testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db.port(), "", end->file,
                                     std::to_string(end->position));
  std::ofstream(dir.path() / "conf" / "canal.properties", std::ios::app)
      << "\ncanal.admin.user = admin\ncanal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n";  // "admin"
  if (!server.start()) return fail("canal-server");
  if (!bench::clientsAnswer(server)) return fail("canal-server did not start: " + server.logTail());
  forwarder::ForwarderConfig config;
  config.source.address = server.address();
  forwarder::SinkConfig sink;
  sink.name = "copy";
  sink.kind = forwarder::SinkConfig::Kind::kSql;
  sink.sql.postgres = true;
  sink.sql.unixSocket = pg.socketDir();
  sink.sql.port = pg.port();
  sink.sql.user = testing::PostgresServer::kUser;
  sink.sql.database = testing::PostgresServer::kDatabase;
  sink.sql.load.snapshotUrl = "http://127.0.0.1:" + std::to_string(server.metricsPort());
  sink.sql.load.snapshotPassword = "admin";
  forwarder::SqlMapping m;
  m.table = "s.t";
  m.target = "t";
  sink.sql.mappings = {m};
  if (parallel > 0) sink.sql.parallel = parallel;
  if (batchRows > 0) sink.sql.batchRows = batchRows;
  config.sinks = {sink};
  std::printf("  load options: batch_size %d, batch_rows %d, chunk_size %d (0: the server's), parallel %d\n",
              config.source.batchSize, sink.sql.batchRows, sink.sql.load.chunkSize, sink.sql.parallel);
  began = Clock::now();
  const auto loaded = forwarder::load(config, "s.t", true, [&began](const std::string& line) {
    std::fprintf(stderr, "%6.2f s  %s\n", std::chrono::duration<double>(Clock::now() - began).count(), line.c_str());
  });
  seconds = std::chrono::duration<double>(Clock::now() - began).count();
  server.stop();
  if (!loaded) return fail(loaded.toString());
  const std::string differing = value(target, "SELECT count(*) FROM ((SELECT * FROM t EXCEPT SELECT * FROM t_peer) UNION ALL "
                                              "(SELECT * FROM t_peer EXCEPT SELECT * FROM t)) d");
  std::printf("  %-58s %8.2f %12.0f  %s\n", "sql sink: canal-forwarder load --create", seconds, rows / seconds,
              differing == "0" ? "equal to the peer's" : ("DIFFERENT: " + differing + " rows").c_str());
  return 0;
}
