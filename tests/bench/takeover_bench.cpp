// Takeover benchmark (on demand): the gap a person watching canal-tail --zk sees when the
// running canal-server of an active/standby pair is killed with -9, from the kill to the first
// line printed once the standby runs the destination, for each ZooKeeper session timeout given
// (canal.zookeeper.session.timeout; the test ZooKeeper's tickTime is 500 ms, so 1000-10000 are
// granted as asked). A throwaway MariaDB takes one insert every 20 ms; canal-tail runs with its
// defaults. Rows missing from canal-tail's output at the end are counted.
//
//   build/bench/canal_takeover_bench [kills per session timeout, default 5] [session ms ...]
//                                    (default: 1000 6000)

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "tests/support/background_writer.h"
#include "tests/support/ha_cluster.h"
#include "tests/support/mariadb_server.h"

using namespace std::chrono_literals;
namespace t = canal::testing;

int main(int argc, char** argv) {
  const int kills = argc > 1 ? std::atoi(argv[1]) : 5;
  std::vector<int> sessions;
  for (int i = 2; i < argc; ++i) sessions.push_back(std::atoi(argv[i]));
  if (sessions.empty()) sessions = {1000, 6000};
  if (kills < 1) {
    std::fprintf(stderr, "usage: %s [kills] [session ms ...]\n", argv[0]);
    return 2;
  }
  std::printf("canal-tail options: --zk <ensemble> --destination example (defaults otherwise); writer: 1 insert / 20 ms\n");
  int failures = 0;
  for (const int session : sessions) {
    auto db = t::MariaDbServer::start();
    if (!db) {
      std::fprintf(stderr, "mariadb: %s\n", db.status().toString().c_str());
      return 1;
    }
    if (!(*db)->execute("CREATE DATABASE s; CREATE TABLE s.w (id INT AUTO_INCREMENT PRIMARY KEY, n INT)")) return 1;
    auto end = (*db)->binlogEnd();
    if (!end) return 1;
    auto cluster = t::HaCluster::start(CANAL_SERVER_BINARY, "canal-takeover-bench", (*db)->port(), session, end->file,
                                       std::to_string(end->position));
    if (!cluster) {
      std::fprintf(stderr, "cluster: %s\n", cluster.status().toString().c_str());
      return 1;
    }
    t::BackgroundWriter writer(**db, 1, [](std::mt19937&) { return std::string("INSERT INTO s.w (n) VALUES (1)"); },
                               20ms);
    t::TailProcess tail(CANAL_TAIL_BINARY, **cluster, ((*cluster)->dir->path() / "tail.out").string());
    if (!tail.start()) return 1;
    const t::TakeoverGaps gaps = t::killAndMeasure(**cluster, tail, kills);
    writer.stop();
    if (!gaps.error.empty()) {
      std::printf("session %d ms: %s\n", session, gaps.error.c_str());
      ++failures;
      continue;
    }
    const long want = std::stol((*db)->queryValue("SELECT MAX(id) FROM s.w"));
    std::set<long> ids;
    t::waitUntil(60s, [&] {
      const auto printed = tail.ids("w");
      ids = std::set<long>(printed.begin(), printed.end());
      return !ids.empty() && *ids.rbegin() >= want;
    });
    long missing = 0;
    for (long id = 1; id <= want; ++id) missing += ids.count(id) == 0;
    std::printf("session %5d ms: %d kill -9 takeovers, gap kill -> next line printed: median %.2f s, max %.2f s "
                "(each:", session, kills, gaps.median(), gaps.max());
    for (double g : gaps.seconds) std::printf(" %.2f", g);
    std::printf("; the standby in the running node after:");
    for (double g : gaps.takeovers) std::printf(" %.2f", g);
    std::printf("); %ld rows, %ld missing; canal-tail %s\n", want, missing, tail.running() ? "running" : "EXITED");
    failures += missing > 0 || !tail.running();
  }
  return failures == 0 ? 0 : 1;
}
