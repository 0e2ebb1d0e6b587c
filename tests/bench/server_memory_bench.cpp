// Memory bound with a slow client: a MariaDB primary writes far more than the memory store
// holds while one client takes small batches slowly; the process RSS (destination, store,
// server and client together) is sampled throughout and must level off at the store's budget
// instead of growing with the backlog. At the end the client speeds up and every row must
// arrive exactly once.
//   build/bench/canal_server_memory_bench [ROWS] [ROW_BYTES]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "canal/client/canal_connector.h"
#include "server/app/destination_parts.h"
#include "server/instance/destination.h"
#include "server/net/canal_server.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/process.h"

namespace {

long rssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const long rows = argc > 1 ? std::atol(argv[1]) : 200000;
  const long rowBytes = argc > 2 ? std::atol(argv[2]) : 400;
  auto db = canal::testing::MariaDbServer::start();
  if (!db) {
    std::cerr << db.status().toString() << "\n";
    return 1;
  }
  if (auto s = (*db)->execute("CREATE DATABASE b; CREATE TABLE b.t (id INT PRIMARY KEY, v TEXT)"); !s.isOk()) {
    std::cerr << s.toString() << "\n";
    return 1;
  }

  canal::instance::DestinationOptions o;
  o.name = "example";
  o.master.host = (*db)->host();
  o.master.port = (*db)->port();
  o.master.user = "canal";
  o.master.password = "canal";
  // The shipped defaults: MEMSIZE, 16384 x 1024 bytes.
  o.store.bufferSize = 16384;
  o.store.memUnit = 1024;
  auto created = canal::app::makeDestination(o);
  if (!created) return 1;
  std::shared_ptr<canal::instance::Destination> d = std::move(*created);
  d->start();
  canal::testing::waitUntil(10s, [&] { return d->following(); });
  canal::net::ServerOptions so;
  so.port = 0;
  canal::net::CanalServer server(so, [&](const std::string&) { return canal::instance::sessionsOf(d); });
  if (!server.start().isOk()) return 1;

  const long baseline = rssKb();
  std::atomic<bool> writing{true};
  std::atomic<bool> fast{false};
  std::atomic<long> received{0};
  std::thread client([&] {
    auto c = canal::client::newSingleConnector("127.0.0.1:" + std::to_string(server.port()), "example", "", "");
    if (!c->connect() || !c->subscribe()) return;
    while (received < rows) {
      auto m = c->getWithoutAck(fast ? 1000 : 4, 100ms);
      if (!m) {
        std::cerr << "get: " << m.status().toString() << "\n";
        return;
      }
      for (const auto& e : m->entries()) {
        if (e.entrytype() != canal::protocol::entry::ROWDATA) continue;
        canal::protocol::entry::RowChange rc;
        rc.ParseFromString(e.storevalue());
        received += rc.rowdatas_size();
      }
      c->ack(m->id());
      if (!fast) std::this_thread::sleep_for(20ms);  // the slow consumer
    }
  });

  std::vector<std::pair<double, long>> samples;
  const auto start = std::chrono::steady_clock::now();
  std::thread sampler([&] {
    while (writing || !fast) {
      samples.emplace_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), rssKb());
      std::this_thread::sleep_for(500ms);
    }
  });
  const long perStatement = 5000;
  for (long done = 0; done < rows; done += perStatement) {
    const long n = std::min(perStatement, rows - done);
    const auto s = (*db)->execute("INSERT INTO b.t SELECT seq, REPEAT('x', " + std::to_string(rowBytes) + ") FROM b.seq_" +
                                  std::to_string(done + 1) + "_to_" + std::to_string(done + n));
    if (!s.isOk()) {
      std::cerr << s.toString() << "\n";
      std::_Exit(1);
    }
  }
  auto binlog = (*db)->binlogEnd();
  const std::string binlogBytes = binlog ? std::to_string(binlog->position) : "?";
  const long receivedWhileWriting = received;
  // Let the backlog sit against the slow client a little longer, then drain it.
  std::this_thread::sleep_for(3s);
  writing = false;
  fast = true;
  client.join();
  sampler.join();
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  long peak = 0;
  for (const auto& [t, kb] : samples) peak = std::max(peak, kb);
  std::printf("rows written %ld x %ld bytes, binlog end offset %s\n", rows, rowBytes, binlogBytes.c_str());
  std::printf("slow client had %ld rows when writing finished; all %ld received after %.1f s\n", receivedWhileWriting,
              received.load(), seconds);
  std::printf("RSS baseline %ld KB, peak %ld KB (store budget %ld KB)\n", baseline, peak, 16384L);
  std::printf("RSS samples (s: KB):");
  for (std::size_t i = 0; i < samples.size(); i += std::max<std::size_t>(1, samples.size() / 20)) {
    std::printf(" %.0f:%ld", samples[i].first, samples[i].second);
  }
  std::printf("\n");
  server.stop();
  d->stop();
  return received == rows ? 0 : 2;
}
