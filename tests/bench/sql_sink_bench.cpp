// The sql sink against its peer, side by side in one run: a source MariaDB holds a backlog in
// its binlog (N row changes in 1000-row transactions: half inserts, then updates of 30% and
// deletes of 20% of the rows, the mix of tests/bench/workload.sh), and each run applies all of
// it to an empty copy in a second MariaDB:
//   peer       mariadb-binlog <the binlog from the backlog's start> | mariadb   (the rows replayed)
//   sql sink   canal-server (memory mode) -> canal-forwarder's sql sink with its defaults
//              (batch_rows 500, one transaction per batch of 1000 entries, the position row)
// Printed: seconds, row changes per second, and the copies' checksums (equal, or it says so).
// and the sink again with `parallel` connections when given; first, as the ceiling, the same
// forwarder with no sink.
//   build/bench/canal_sql_sink_bench [row changes] [parallel] [batch_rows]   (defaults 1000000, 1, the sink's)

#include <chrono>
#include <cstdio>
#include <thread>

#include "forwarder/forwarder.h"
#include "tests/bench/backlog.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace canal;
using Clock = std::chrono::steady_clock;

int fail(const std::string& what) {
  std::fprintf(stderr, "sql_sink_bench: %s\n", what.c_str());
  return 1;
}

// The copy's content as one checksum.
std::string checksum(testing::MariaDbServer& db) {
  auto r = db.query("CHECKSUM TABLE s.t");
  return r && !r->empty() && (*r)[0].size() > 1 ? (*r)[0][1].value_or("NULL") : "error";
}

bool freshCopy(testing::MariaDbServer& db) {
  return db.execute("DROP DATABASE IF EXISTS s; DROP DATABASE IF EXISTS sink; CREATE DATABASE sink").isOk() &&
         bench::createBacklogTable(db);
}

// The sql sink with `connections` (sql.parallel) draining the backlog into an empty copy; 0:
// the forwarder with no sink.
int runSink(testing::MariaDbServer& db, testing::MariaDbServer& target, const testing::MariaDbServer::BinlogEnd& start,
            long changes, const std::string& expected, int connections, int batchRows) {
  if (!freshCopy(target)) return fail("copy tables");
  testing::TempDir dir("canal-sql-bench");
  testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db.port(), "",
                                     start.file, std::to_string(start.position));
  if (!server.start()) return fail("canal-server");
  if (!bench::clientsAnswer(server)) return fail("canal-server did not start: " + server.logTail());
  forwarder::ForwarderConfig config;
  config.source.address = server.address();
  config.progressInterval = std::chrono::hours(1);
  forwarder::SinkConfig sink;
  sink.name = "copy";
  sink.kind = forwarder::SinkConfig::Kind::kSql;
  sink.sql.unixSocket = target.socketPath();
  sink.sql.user = "root";
  sink.sql.database = "sink";
  forwarder::SqlMapping m;
  m.table = "s.t";
  m.target = "s.t";
  sink.sql.mappings = {m};
  sink.sql.parallel = connections;
  if (batchRows > 0) sink.sql.batchRows = batchRows;
  if (connections > 0) config.sinks = {sink};
  std::printf("  sql sink options: batch_size %d, batch_rows %d, poll_timeout_ms %lld, parallel %d\n",
              config.source.batchSize, sink.sql.batchRows, static_cast<long long>(config.source.pollTimeout.count()),
              connections);
  auto f = forwarder::Forwarder::create(config, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  if (!f) return fail(f.status().toString());
  const auto began = Clock::now();
  std::thread thread([&] { (void)(*f)->run(); });
  while ((*f)->counters().rows < static_cast<std::uint64_t>(changes)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  (*f)->stop();
  thread.join();
  server.stop();
  const char* name = connections == 0   ? "ceiling: canal-server -> canal-forwarder, no sink"
                     : connections == 1 ? (batchRows > 0 ? "sql sink: canal-server -> canal-forwarder"
                                                         : "sql sink: canal-server -> canal-forwarder (defaults)")
                                        : "sql sink, parallel";
  std::printf("  %-58s %8.2f %12.0f  %s\n", name, seconds, changes / seconds,
              connections == 0 ? "-" : checksum(target) == expected ? "equal" : "DIFFERENT");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const long changes = argc > 1 ? std::stol(argv[1]) : 1000000;
  const int parallel = argc > 2 ? std::stoi(argv[2]) : 1;
  const int batchRows = argc > 3 ? std::stoi(argv[3]) : 0;
  const long inserts = changes / 2;
  const long updates = changes * 3 / 10;
  const long deletes = changes - inserts - updates;
  auto source = testing::MariaDbServer::start({});
  if (!source) return fail(source.status().toString());
  testing::MariaDbServer& db = **source;
  if (!bench::createBacklogTable(db)) return fail("source table");
  auto start = db.binlogEnd();
  if (!start) return fail(start.status().toString());
  std::fprintf(stderr, "writing %ld row changes...\n", changes);
  if (!bench::writeBacklog(db, inserts)) return fail("insert");
  for (long i = 0; i < updates; i += 1000) {
    const long to = std::min(updates, i + 1000) - 1;
    if (!db.execute("UPDATE s.t SET amount = amount + 1, name = CONCAT(name, '+') WHERE id BETWEEN " +
                    std::to_string(i) + " AND " + std::to_string(to))) {
      return fail("update");
    }
  }
  for (long i = 0; i < deletes; i += 1000) {
    const long from = inserts - deletes + i;
    if (!db.execute("DELETE FROM s.t WHERE id BETWEEN " + std::to_string(from) + " AND " +
                    std::to_string(std::min(inserts, from + 1000) - 1))) {
      return fail("delete");
    }
  }
  auto end = db.binlogEnd();
  if (!end) return fail(end.status().toString());
  const std::string expected = checksum(db);

  auto copy = testing::MariaDbServer::start({});
  if (!copy) return fail(copy.status().toString());
  testing::MariaDbServer& target = **copy;
  std::printf("%ld row changes (%ld inserts, %ld updates, %ld deletes) in 1000-row transactions\n", changes, inserts,
              updates, deletes);
  std::printf("  %-58s %8s %12s  %s\n", "run", "seconds", "changes/s", "copy");

  // The peer: the binlog replayed by mariadb-binlog into mariadb.
  if (!freshCopy(target)) return fail("copy tables");
  std::string files;
  for (std::string f = start->file;; ) {
    files += " " + db.dataDir() + "/" + f;
    if (f == end->file) break;
    const auto dot = f.rfind('.');
    char next[16];
    std::snprintf(next, sizeof next, "%06d", std::stoi(f.substr(dot + 1)) + 1);
    f = f.substr(0, dot + 1) + next;
  }
  const std::string replay = "mariadb-binlog --no-defaults --start-position=" + std::to_string(start->position) +
                             files + " | mariadb --no-defaults -uroot -S " + target.socketPath();
  std::string output;
  auto began = Clock::now();
  if (testing::runCommand({"sh", "-c", replay}, &output) != 0) return fail("mariadb-binlog | mariadb: " + output);
  double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  std::printf("  %-58s %8.2f %12.0f  %s\n", "peer: mariadb-binlog | mariadb", seconds, changes / seconds,
              checksum(target) == expected ? "equal" : "DIFFERENT");

  // The ceiling: the same forwarder with no sink (what canal-server's stream delivers).
  if (int rc = runSink(db, target, *start, changes, expected, 0, batchRows); rc != 0) return rc;
  for (int connections : parallel > 1 ? std::vector<int>{1, parallel} : std::vector<int>{1}) {
    if (int rc = runSink(db, target, *start, changes, expected, connections, batchRows); rc != 0) return rc;
  }
  return 0;
}
