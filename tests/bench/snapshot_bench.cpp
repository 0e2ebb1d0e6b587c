// Snapshot benchmark (on demand): a table of N rows (default 1,000,000) in a throwaway MariaDB,
// read three ways in the same run, interleaved round by round:
//   mariadb-dump   --single-transaction --quick of the table to /dev/null (the peer)
//   snapshot       a destination's snapshot of the table, from the request until the last row is
//                  at a client that acks every batch (in-process, as the server runs it): once
//                  with a client that reads every RowChange (in place, with the SDK's
//                  RowChangeReader), once with one that reads only the entry header's rowsCount
//                  (what the server produces, without the client's parse)
// all under the same write load: a writer inserts one row every 5 ms into another table. The
// live stream's lag while a snapshot runs: arrival at the client minus the row's binlog time.
//
//   build/bench/canal_snapshot_bench [rows] [rounds] [chunk size, default 4096]

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "canal/client/row_change_reader.h"
#include "canal/protocol/entry_protocol.pb.h"
#include "server/app/destination_parts.h"
#include "server/common/clock.h"
#include "server/instance/destination.h"
#include "server/snapshot/snapshot_runner.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/process.h"

using namespace std::chrono;
namespace eb = canal::protocol::entry;

namespace {

double secondsSince(steady_clock::time_point from) { return duration<double>(steady_clock::now() - from).count(); }

// CPU seconds (user + system) a process has used, from /proc.
double processCpu(pid_t pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return 0;
  char buffer[1024] = {};
  const std::size_t n = std::fread(buffer, 1, sizeof buffer - 1, f);
  std::fclose(f);
  // After the command's closing parenthesis: state is field 3, utime and stime fields 14 and 15.
  const char* p = std::strrchr(buffer, ')');
  if (!p || n == 0) return 0;
  unsigned long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double rusageCpu(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "snapshot_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::atol(argv[1]) : 1000000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::size_t chunkSize = argc > 3 ? static_cast<std::size_t>(std::atol(argv[3])) : 4096;
  auto db = canal::testing::MariaDbServer::start();
  if (!db) return fail(db.status().toString());
  auto& server = **db;
  if (!server.execute("CREATE DATABASE b; CREATE TABLE b.t (id INT PRIMARY KEY, name VARCHAR(32), "
                      "amount DECIMAL(12,2), created DATETIME(3), note TEXT); CREATE TABLE b.live (id INT "
                      "AUTO_INCREMENT PRIMARY KEY, at BIGINT)")) {
    return fail("schema");
  }
  std::fprintf(stderr, "loading %ld rows...\n", rows);
  for (long from = 1; from <= rows; from += 10000) {
    std::string sql = "INSERT INTO b.t VALUES ";
    for (long id = from; id < from + 10000 && id <= rows; ++id) {
      sql += (id > from ? "," : "") + std::string("(") + std::to_string(id) + ",'name" + std::to_string(id) + "'," +
             std::to_string(id % 100000) + ".25,'2024-01-02 03:04:05.678','a note of some length for row " +
             std::to_string(id) + "')";
    }
    if (!server.execute(sql)) return fail("load");
  }

  canal::mysql::ConnectOptions login;
  login.host = server.host();
  login.port = server.port();
  login.user = server.options().replicaUser;
  login.password = server.options().replicaPassword;

  std::vector<double> dumpTimes;
  std::vector<double> snapshotTimes;
  std::vector<double> headerOnlyTimes;
  std::vector<std::int64_t> lags;
  // CPU seconds of the primary and of the reader (mariadb-dump, or this process) over all rounds.
  double dumpPrimaryCpu = 0, dumpReaderCpu = 0, snapshotPrimaryCpu = 0, snapshotReaderCpu = 0;
  // The same write load on the primary while the dump and the snapshots run: one row every 5 ms
  // into another table (the snapshots' live stream carries it, for the lag). Stopped however
  // main returns.
  struct Writer {
    std::atomic<bool> writing{true};
    std::thread thread;
    void stop() {
      writing = false;
      if (thread.joinable()) thread.join();
    }
    ~Writer() { stop(); }
  } writer;
  writer.thread = std::thread([&] {
    while (writer.writing) {
      static_cast<void>(server.execute("INSERT INTO b.live (at) VALUES (" + std::to_string(canal::wallClockMs()) + ")"));
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  for (int round = 0; round < rounds; ++round) {
    // The peer: what a hand-made full load reads.
    auto start = steady_clock::now();
    double primaryCpu = processCpu(server.pid());
    double readerCpu = rusageCpu(RUSAGE_CHILDREN);
    std::string out;
    const int rc = canal::testing::runCommand(
        {"sh", "-c", "mariadb-dump --no-defaults -h127.0.0.1 -P" + std::to_string(server.port()) + " -u" +
                         login.user + " -p" + login.password +
                         " --single-transaction --quick --skip-lock-tables b t > /dev/null"},
        &out);
    if (rc != 0) return fail("mariadb-dump: " + out);
    dumpTimes.push_back(secondsSince(start));
    dumpPrimaryCpu += processCpu(server.pid()) - primaryCpu;
    dumpReaderCpu += rusageCpu(RUSAGE_CHILDREN) - readerCpu;

    for (const bool parseRows : {true, false}) {
    canal::instance::DestinationOptions o;
    o.name = "bench";
    o.master = login;
    o.dump.heartbeatSeconds = 1;
    auto made = canal::app::makeDestination(o);
    if (!made) return fail(made.status().toString());
    auto d = std::move(*made);
    d->start();
    while (!d->following()) std::this_thread::sleep_for(milliseconds(10));
    if (!d->clients().subscribe(1001, "").isOk()) return fail("subscribe");
    canal::snapshot::SnapshotRunner runner("bench", login, d->snapshots(), o.pump.render);
    canal::snapshot::SnapshotRequest request;
    request.tables = {{"b", "t"}};
    request.chunkSize = chunkSize;
    start = steady_clock::now();
    primaryCpu = processCpu(server.pid());
    readerCpu = rusageCpu(RUSAGE_SELF);
    if (auto id = runner.start(request); !id) return fail(id.status().toString());
    long seen = 0;
    eb::Entry entry;
    canal::client::RowChangeReader change;  // the SDK's way to read rows (in place)
    while (seen < rows) {
      auto batch = d->clients().get(1001, 4096, canal::store::GetWait{canal::store::GetWait::Kind::kFor, milliseconds(100)});
      if (!batch) return fail(batch.status().toString());
      if (batch->id == -1) {
        if (runner.progress()->state == "failed") return fail(runner.progress()->error);
        continue;
      }
      for (const std::string& bytes : batch->entries) {
        if (!entry.ParseFromString(bytes) || entry.entrytype() != eb::ROWDATA) continue;
        if (entry.header().tablename() == "t") {
          if (!parseRows) {
            for (const auto& p : entry.header().props()) {
              if (p.key() == "rowsCount") seen += std::stol(p.value());
            }
            continue;
          }
          if (!change.parse(entry.storevalue())) return fail("entry");
          seen += static_cast<long>(change.rows());
        } else if (entry.header().tablename() == "live") {
          if (!change.parse(entry.storevalue())) return fail("entry");
          for (std::size_t r = 0; r < change.rows(); ++r) {
            lags.push_back(canal::wallClockMs() - std::stoll(std::string(change.after(r)[1].value)));
          }
        }
      }
      static_cast<void>(d->clients().ack(1001, batch->id));
    }
    (parseRows ? snapshotTimes : headerOnlyTimes).push_back(secondsSince(start));
    if (!parseRows) {
      snapshotPrimaryCpu += processCpu(server.pid()) - primaryCpu;
      snapshotReaderCpu += rusageCpu(RUSAGE_SELF) - readerCpu;
    }
    d->stop();
    }
  }
  writer.stop();
  std::sort(dumpTimes.begin(), dumpTimes.end());
  std::sort(snapshotTimes.begin(), snapshotTimes.end());
  std::sort(headerOnlyTimes.begin(), headerOnlyTimes.end());
  std::sort(lags.begin(), lags.end());
  const double dump = dumpTimes[dumpTimes.size() / 2];
  const double snap = snapshotTimes[snapshotTimes.size() / 2];
  std::printf("%ld rows, chunks of %zu, median of %d rounds\n", rows, chunkSize, rounds);
  std::printf("  %-40s %8.2f s  %10.0f rows/s\n", "mariadb-dump --single-transaction", dump, rows / dump);
  const double headerOnly = headerOnlyTimes[headerOnlyTimes.size() / 2];
  std::printf("  %-40s %8.2f s  %10.0f rows/s  (%.2fx the dump)\n", "snapshot, client reads every row", snap,
              rows / snap, dump / snap);
  std::printf("  %-40s %8.2f s  %10.0f rows/s  (%.2fx the dump)\n", "snapshot, client reads rowsCount only",
              headerOnly, rows / headerOnly, dump / headerOnly);
  const double perMillion = 1e6 / static_cast<double>(rows) / rounds;
  std::printf("  CPU s per million rows: dump: mariadbd %.2f, mariadb-dump %.2f; snapshot (rowsCount client): "
              "mariadbd %.2f, canal-server and client %.2f (2 cores here)\n",
              dumpPrimaryCpu * perMillion, dumpReaderCpu * perMillion, snapshotPrimaryCpu * perMillion,
              snapshotReaderCpu * perMillion);
  if (!lags.empty()) {
    std::printf("  live rows during the snapshots: %zu, lag median %lld ms, p99 %lld ms, max %lld ms\n", lags.size(),
                static_cast<long long>(lags[lags.size() / 2]), static_cast<long long>(lags[lags.size() * 99 / 100]),
                static_cast<long long>(lags.back()));
  }
  return 0;
}
