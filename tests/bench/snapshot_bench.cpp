// Snapshot benchmark (on demand), as a user runs a snapshot: a table of N rows (default
// 1,000,000) in a throwaway MariaDB, canal-server (memory mode) following it, each snapshot
// requested over HTTP (POST /destinations/example/snapshots) and read over TCP, beside the peer,
// interleaved round by round:
//   mariadb-dump   --single-transaction --quick of the table to /dev/null
//   SDK client     docs/sdk.md's consumer loop with every ConnectorOptions at its default
//                  (getWithoutAck(1000, 500 ms), rowChangeViews(), ack), counting the rows
//   canal-tail     its defaults with --filter b\\.t, FlatMessage lines to a file in /dev/shm
// all under the same write load: a writer inserts one row every 5 ms into another table. The
// live stream's lag while the SDK client reads a snapshot: arrival minus the row's binlog time.
// CPU seconds per million rows of each process (mariadbd, canal-server, the reader).
//
//   build/bench/canal_snapshot_bench [rows] [rounds] [chunk size, default 4096] [parallel, default 1]

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "canal/client/canal_connector.h"
#include "server/common/clock.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/http_get.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

extern char** environ;

using namespace std::chrono;
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

// One reader's figures over all rounds.
struct Figures {
  std::vector<double> wall;
  double primaryCpu = 0, serverCpu = 0, readerCpu = 0;
  double median() {
    std::sort(wall.begin(), wall.end());
    return wall[wall.size() / 2];
  }
};

// Runs `argv` with stdout to `outPath` until it exits; its exit code, and its CPU seconds.
int runTimed(const std::vector<std::string>& argv, const std::string& outPath, double& cpu) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
        (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  const long rows = argc > 1 ? std::atol(argv[1]) : 1000000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  const std::size_t chunkSize = argc > 3 ? static_cast<std::size_t>(std::atol(argv[3])) : 4096;
  const std::size_t parallel = argc > 4 ? static_cast<std::size_t>(std::atol(argv[4])) : 1;
  auto db = canal::testing::MariaDbServer::start();
  if (!db) return fail(db.status().toString());
  auto& primary = **db;
  if (!primary.execute("CREATE DATABASE b; CREATE TABLE b.t (id INT PRIMARY KEY, name VARCHAR(32), "
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
    if (!primary.execute(sql)) return fail("load");
  }
  auto end = primary.binlogEnd();
  if (!end) return fail(end.status().toString());

  canal::testing::TempDir dir("canal-snapshot-bench");
  canal::testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path() / "server", "memory-instance.xml",
                                            primary.port(), "", end->file, std::to_string(end->position), "b\\\\..*");
  std::ofstream(dir.path() / "server" / "conf" / "canal.properties", std::ios::app)
      << "canal.admin.user = admin\ncanal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n";  // "admin"
  if (!server.start() || !server.waitServing(std::chrono::seconds(30))) return fail("canal-server: " + server.logTail());
  const std::string snapshots = "http://127.0.0.1:" + std::to_string(server.metricsPort()) + "/destinations/example/snapshots";
  const std::string body = "{\"tables\": [\"b.t\"], \"chunkSize\": " + std::to_string(chunkSize) +
                           ", \"parallel\": " + std::to_string(parallel) + "}";
  const auto requestSnapshot = [&] {
    const auto r = canal::testing::httpRequest("POST", snapshots, body, "admin", "admin");
    return r.status == 202 ? std::string() : "POST snapshots: " + std::to_string(r.status) + " " + r.body;
  };
  const auto snapshotState = [&] {
    const auto r = canal::testing::httpRequest("GET", snapshots, "", "admin", "admin");
    const auto at = r.body.find("\"state\":\"");
    return at == std::string::npos ? std::string() : r.body.substr(at + 9, r.body.find('"', at + 9) - at - 9);
  };
  const auto snapshotFailed = [&] { return snapshotState() == "failed"; };
  // The last chunk may be at the client before the snapshot says it is done.
  const auto waitSnapshotEnded = [&] {
    return canal::testing::waitUntil(std::chrono::seconds(60), [&] { return snapshotState() != "running"; });
  };

  // The same write load on the primary while the dump and the snapshots run: one row every 5 ms
  // into another table (the live stream carries it, for the lag). Stopped however main returns.
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
      static_cast<void>(primary.execute("INSERT INTO b.live (at) VALUES (" + std::to_string(canal::wallClockMs()) + ")"));
      std::this_thread::sleep_for(milliseconds(5));
    }
  });

  Figures dump, sdk, tail;
  std::vector<std::int64_t> lags;
  const auto begin = [&](Figures& f) {
    f.primaryCpu -= processCpu(primary.pid());
    f.serverCpu -= processCpu(server.pid());
    return steady_clock::now();
  };
  const auto finish = [&](Figures& f, steady_clock::time_point start) {
    f.wall.push_back(secondsSince(start));
    f.primaryCpu += processCpu(primary.pid());
    f.serverCpu += processCpu(server.pid());
  };
  for (int round = 0; round < rounds; ++round) {
    std::fprintf(stderr, "round %d of %d\n", round + 1, rounds);
    // The peer: what a hand-made full load reads.
    auto start = begin(dump);
    dump.serverCpu += processCpu(server.pid());  // not the dump's
    const double dumpCpu = rusageCpu(RUSAGE_CHILDREN);
    std::string out;
    const int rc = canal::testing::runCommand(
        {"sh", "-c", "mariadb-dump --no-defaults -h127.0.0.1 -P" + std::to_string(primary.port()) + " -u" +
                         primary.options().replicaUser + " -p" + primary.options().replicaPassword +
                         " --single-transaction --quick --skip-lock-tables b t > /dev/null"},
        &out);
    if (rc != 0) return fail("mariadb-dump: " + out);
    finish(dump, start);
    dump.serverCpu -= processCpu(server.pid());
    dump.readerCpu += rusageCpu(RUSAGE_CHILDREN) - dumpCpu;

    {  // The SDK client, as docs/sdk.md writes it.
      auto connector = canal::client::newSingleConnector(server.address(), "example", "", "");
      if (!connector->connect() || !connector->subscribe()) return fail("connect: " + server.logTail());
      start = begin(sdk);
      const double selfCpu = rusageCpu(RUSAGE_SELF);
      if (const std::string e = requestSnapshot(); !e.empty()) return fail(e);
      long seen = 0;
      while (seen < rows) {
        auto message = connector->getWithoutAck(1000, milliseconds(500));
        if (!message) return fail(message.status().toString());
        if (message->empty()) {
          if (snapshotFailed()) return fail("the snapshot failed: " + server.logTail());
          continue;
        }
        auto changes = message->rowChangeViews();
        for (const auto& [entry, change] : changes) {
          if (entry.header().tablename() == "t") {
            seen += static_cast<long>(change.rows());
          } else if (entry.header().tablename() == "live") {
            for (std::size_t r = 0; r < change.rows(); ++r) {
              lags.push_back(canal::wallClockMs() - std::stoll(std::string(change.after(r)[1].value)));
            }
          }
        }
        if (!changes.ok()) return fail(changes.error());
        if (auto s = connector->ack(message->id()); !s) return fail(s.toString());
      }
      finish(sdk, start);
      sdk.readerCpu += rusageCpu(RUSAGE_SELF) - selfCpu;  // with the writer's thread, a small share
      connector->disconnect();
      if (!waitSnapshotEnded()) return fail("the snapshot did not end");
    }

    {  // canal-tail with its defaults, the table's rows only, to a file.
      const std::string lines = "/dev/shm/canal-snapshot-bench-tail.json";
      double cpu = 0;
      start = begin(tail);
      // Requested as canal-tail starts: the rows wait in the store until it reads them. (Live
      // rows stored before its subscription filters them count too: a few in a million.)
      std::thread request([&] {
        if (const std::string e = requestSnapshot(); !e.empty()) std::fprintf(stderr, "%s\n", e.c_str());
      });
      const int tailRc = runTimed({CANAL_TAIL_BINARY, "--address", server.address(), "--destination", "example",
                                   "--filter", "b\\.t", "--max-rows", std::to_string(rows), "--quiet"},
                                  lines, cpu);
      request.join();
      finish(tail, start);
      tail.readerCpu += cpu;
      std::remove(lines.c_str());
      if (tailRc != 0) return fail("canal-tail exited with " + std::to_string(tailRc));
      if (!waitSnapshotEnded()) return fail("the snapshot did not end");
    }
  }
  writer.stop();
  std::sort(lags.begin(), lags.end());
  const double peer = dump.median();
  const double perMillion = 1e6 / static_cast<double>(rows) / rounds;
  std::printf("%ld rows, chunks of %zu read %zu at once, median of %d rounds; SDK client with ConnectorOptions "
              "defaults, canal-tail with its own\n",
              rows, chunkSize, parallel, rounds);
  std::printf("  %-42s %7s %11s %8s   CPU s per million rows: %8s %12s %8s\n", "reader", "wall s", "rows/s", "x dump",
              "mariadbd", "canal-server", "reader");
  const auto line = [&](const char* name, Figures& f, bool server) {
    const double wall = f.median();
    std::printf("  %-42s %7.2f %11.0f %8.2f   %31.2f %12s %8.2f\n", name, wall, rows / wall, peer / wall,
                f.primaryCpu * perMillion, server ? std::to_string(f.serverCpu * perMillion).substr(0, 4).c_str() : "-",
                f.readerCpu * perMillion);
  };
  line("mariadb-dump --single-transaction --quick", dump, false);
  line("snapshot -> SDK client (the docs' loop)", sdk, true);
  line("snapshot -> canal-tail JSON", tail, true);
  if (!lags.empty()) {
    std::printf("  live rows during the SDK client's snapshots: %zu, lag median %lld ms, p99 %lld ms, max %lld ms\n",
                lags.size(), static_cast<long long>(lags[lags.size() / 2]),
                static_cast<long long>(lags[lags.size() * 99 / 100]), static_cast<long long>(lags.back()));
  }
  return 0;
}
