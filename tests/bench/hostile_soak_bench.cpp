// Soak benchmark (on demand): canal-server under every attack of its operator surfaces at once
// for a while (tests/support/attackers.h: idle connections on both ports renewed as the server
// closes them, password guesses over fresh connections on both ports, authenticated peers
// announcing 60 MiB frames), while a writer inserts a row every 5 ms into a throwaway MariaDB
// and an SDK client with its default options consumes them. Every 10 s it prints the server's
// RSS and descriptors, the guesses the server checked per second, the time a new client and a
// GET /status took; at the end the rows lost or acked twice, and how long SIGTERM took.
//
//   build/bench/canal_hostile_soak_bench [seconds, default 60]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "canal/client/canal_connector.h"
#include "canal/protocol/password_scramble.h"
#include "tests/support/attackers.h"
#include "tests/support/background_writer.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/http_get.h"
#include "tests/support/id_consumer.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/temp_dir.h"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace t = canal::testing;

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 60;
  auto db = t::MariaDbServer::start();
  if (!db) {
    std::fprintf(stderr, "mariadb: %s\n", db.status().toString().c_str());
    return 1;
  }
  if (!(*db)->execute("CREATE DATABASE s; CREATE TABLE s.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")) return 1;
  auto end = (*db)->binlogEnd();
  if (!end) return 1;
  t::TempDir dir("canal-hostile-soak");
  t::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", (*db)->port(), "", end->file,
                               std::to_string(end->position));
  std::ofstream(dir.path() / "conf" / "canal.properties", std::ios::app)
      << "canal.user = canal\ncanal.passwd = " << canal::protocol::passwordHash("canal") << "\n"
      << "canal.admin.user = admin\ncanal.admin.passwd = " << canal::protocol::passwordHash("admin") << "\n";
  if (!server.start() || !server.waitServing(20s)) {
    std::fprintf(stderr, "canal-server did not start: %s\n", server.logTail().c_str());
    return 1;
  }
  std::printf("canal-server: stock limits (canal.net.* defaults), users canal and admin; SDK consumer with "
              "ConnectorOptions{} defaults, getWithoutAck(1000, 200 ms); writer: 1 insert / 5 ms; %d s\n",
              seconds);
  t::BackgroundWriter writer(**db, 1, [](std::mt19937&) { return std::string("INSERT INTO s.t (v) VALUES (1)"); }, 5ms);
  t::IdConsumer consumer(server.address(), "canal", "canal");

  t::AttackOptions o;
  o.clientPort = server.port();
  o.httpPort = server.metricsPort();
  t::Attackers attackers(o);
  const auto began = Clock::now();
  attackers.start();
  t::AttackFigures last{};
  auto lastAt = began;
  const std::string status = "http://127.0.0.1:" + std::to_string(server.metricsPort()) + "/status";
  while (Clock::now() - began < std::chrono::seconds(seconds)) {
    std::this_thread::sleep_for(10s);
    auto at = Clock::now();
    auto newcomer = canal::client::newSingleConnector(server.address(), "example", "canal", "canal",
                                                      canal::client::ConnectorOptions{});
    const bool joined = static_cast<bool>(newcomer->connect());
    const double joinSeconds = std::chrono::duration<double>(Clock::now() - at).count();
    newcomer->disconnect();
    at = Clock::now();
    const long statusCode = t::httpGet(status).status;
    const double statusSeconds = std::chrono::duration<double>(Clock::now() - at).count();
    const t::AttackFigures f = attackers.figures();
    const double span = std::chrono::duration<double>(Clock::now() - lastAt).count();
    const t::ProcessFigures p = t::processFigures(server.pid());
    std::printf("t=%3.0f s  RSS %4ld MB  fds %4d  idle conns %6.0f/s  checked guesses: client %.1f/s, http %.1f/s "
                "(answered %.0f/s, %.0f/s)  large frames closed %llu  new client %s %.3f s  /status %ld in %.3f s  "
                "rows %zu\n",
                std::chrono::duration<double>(Clock::now() - began).count(), p.rssKb / 1024, p.descriptors,
                static_cast<double>(f.idleOpened - last.idleOpened) / span,
                static_cast<double>(f.clientGuessesChecked - last.clientGuessesChecked) / span,
                static_cast<double>(f.httpGuessesChecked - last.httpGuessesChecked) / span,
                static_cast<double>(f.clientGuesses - last.clientGuesses) / span,
                static_cast<double>(f.httpGuesses - last.httpGuesses) / span,
                static_cast<unsigned long long>(f.framesClosed), joined ? "in" : "REFUSED after", joinSeconds, statusCode,
                statusSeconds, consumer.ids().size());
    std::fflush(stdout);
    last = f;
    lastAt = Clock::now();
  }
  attackers.stop();  // the idle connections stay open through the stop below
  writer.stop();
  const long rows = std::stol((*db)->queryValue("SELECT MAX(id) FROM s.t"));
  t::waitUntil(60s, [&] {
    const auto ids = consumer.ids();
    return !ids.empty() && *ids.rbegin() >= rows;
  });
  consumer.stop();
  const auto ids = consumer.ids();
  long missing = 0;
  for (long id = 1; id <= rows; ++id) missing += ids.count(id) == 0;
  const auto stopping = Clock::now();
  const int exited = server.stop();
  std::printf("rows written %ld, missing %ld, acked and delivered again %ld; SIGTERM with the attackers connected: "
              "stopped in %.2f s (exit status %d)\n",
              rows, missing, consumer.ackedAgain(), std::chrono::duration<double>(Clock::now() - stopping).count(),
              exited);
  return missing == 0 ? 0 : 1;
}
