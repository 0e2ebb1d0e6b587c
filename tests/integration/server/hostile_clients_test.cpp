// The canal-server binary under every attack of its operator surfaces at once, while a writer
// inserts rows and a client consumes them: hundreds of idle connections on both ports (renewed
// as the server closes them), password guesses over fresh connections on both ports, and
// authenticated peers announcing 60 MiB frames. The bounds hold (guesses checked per second,
// the receive budget), a new client and /status get in within 2 s, the stream loses nothing,
// and SIGTERM stops the server within 2 s with the attackers still connected.
// tests/bench/hostile_soak_bench.cpp runs the same for longer and prints the figures.

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "canal/client/canal_connector.h"
#include "canal/protocol/password_scramble.h"
#include "tests/support/attackers.h"
#include "tests/support/background_writer.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/http_get.h"
#include "tests/support/id_consumer.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/temp_dir.h"

namespace canal {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class HostileClientsTest : public testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s; CREATE TABLE s.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)"));
    auto end = db_->binlogEnd();
    ASSERT_TRUE(end) << end.status().toString();
    server_ = std::make_unique<testing::CanalServerProcess>(CANAL_SERVER_BINARY, dir_.path(), "memory-instance.xml",
                                                            db_->port(), "", end->file, std::to_string(end->position));
    std::ofstream(dir_.path() / "conf" / "canal.properties", std::ios::app)
        << "canal.user = canal\ncanal.passwd = " << protocol::passwordHash("canal") << "\n"
        << "canal.admin.user = admin\ncanal.admin.passwd = " << protocol::passwordHash("admin") << "\n"
        << "canal.net.receive.budget = " << (32 << 20) << "\n";
    ASSERT_TRUE(server_->start());
    ASSERT_TRUE(server_->waitServing(20s)) << server_->logTail();
  }

  testing::TempDir dir_{"canal-hostile"};
  std::unique_ptr<testing::CanalServerProcess> server_;
};

TEST_F(HostileClientsTest, EveryAttackAtOnceHoldsItsBoundAndTheStreamLosesNothing) {
  testing::BackgroundWriter writer(*db_, 1, [](std::mt19937&) { return std::string("INSERT INTO s.t (v) VALUES (1)"); },
                                   5ms);
  testing::IdConsumer consumer(server_->address(), "canal", "canal");
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return !consumer.ids().empty(); })) << server_->logTail();

  testing::AttackOptions o;
  o.clientPort = server_->port();
  o.httpPort = server_->metricsPort();
  testing::Attackers attackers(o);
  const auto began = Clock::now();
  attackers.start();
  std::vector<double> clientJoins, statusAnswers;
  while (Clock::now() - began < 6s) {
    auto before = Clock::now();
    auto newcomer = client::newSingleConnector(server_->address(), "example", "canal", "canal", client::ConnectorOptions{});
    const client::Status joined = newcomer->connect();
    clientJoins.push_back(std::chrono::duration<double>(Clock::now() - before).count());
    EXPECT_TRUE(joined) << joined.message();
    newcomer->disconnect();
    before = Clock::now();
    EXPECT_EQ(testing::httpGet("http://127.0.0.1:" + std::to_string(server_->metricsPort()) + "/status").status, 200);
    statusAnswers.push_back(std::chrono::duration<double>(Clock::now() - before).count());
    std::this_thread::sleep_for(500ms);
  }
  const testing::ProcessFigures during = testing::processFigures(server_->pid());
  const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
  const testing::AttackFigures f = attackers.figures();
  attackers.stop();  // their idle connections stay open
  const double clientChecked = static_cast<double>(f.clientGuessesChecked) / seconds;
  const double httpChecked = static_cast<double>(f.httpGuessesChecked) / seconds;
  std::printf("[ figures ] %.1f s of attacks: %llu idle connections made; client port %llu guesses answered, %.1f/s "
              "checked; HTTP %llu answered, %.1f/s checked; %llu large frames sent, %llu closed; a new client in at "
              "most %.2f s, /status in at most %.2f s; server RSS %ld MB, %d descriptors\n",
              seconds, static_cast<unsigned long long>(f.idleOpened), static_cast<unsigned long long>(f.clientGuesses),
              clientChecked, static_cast<unsigned long long>(f.httpGuesses), httpChecked,
              static_cast<unsigned long long>(f.framesSent), static_cast<unsigned long long>(f.framesClosed),
              *std::max_element(clientJoins.begin(), clientJoins.end()),
              *std::max_element(statusAnswers.begin(), statusAnswers.end()), during.rssKb / 1024, during.descriptors);
  EXPECT_LT(clientChecked, 10.0) << "password guesses checked per second from one address";
  EXPECT_LT(httpChecked, 10.0);
  EXPECT_GT(f.httpGuesses, f.httpGuessesChecked) << "the throttle refused some";
  for (const double t : clientJoins) EXPECT_LT(t, 2.0);
  for (const double t : statusAnswers) EXPECT_LT(t, 2.0);
  EXPECT_GE(f.framesClosed, 1u) << "4 frames of 16 MiB exceed the 32 MiB receive budget";
  EXPECT_LT(during.rssKb, 400 * 1024);
  EXPECT_LT(during.descriptors, 1100);

  writer.stop();
  const long last = std::stol(db_->queryValue("SELECT MAX(id) FROM s.t"));
  EXPECT_TRUE(testing::waitUntil(30s, [&] {
    const auto ids = consumer.ids();
    return !ids.empty() && *ids.rbegin() >= last;
  }));
  consumer.stop();
  const auto ids = consumer.ids();
  long missing = 0;
  for (long id = 1; id <= last; ++id) missing += ids.count(id) == 0;
  EXPECT_EQ(missing, 0) << "of " << last << " rows";
  EXPECT_EQ(consumer.ackedAgain(), 0);

  const auto stopping = Clock::now();
  const int exited = server_->stop();
  const double stopSeconds = std::chrono::duration<double>(Clock::now() - stopping).count();
  std::printf("[ figures ] SIGTERM with the attackers' idle connections open: stopped in %.2f s\n", stopSeconds);
  EXPECT_TRUE(WIFEXITED(exited) && WEXITSTATUS(exited) == 0) << exited << server_->logTail();
  EXPECT_LT(stopSeconds, 2.0);
}

}  // namespace
}  // namespace canal
