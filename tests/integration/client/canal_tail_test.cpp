// canal-tail, the binary: FlatMessage lines, waiting for and following the server through
// restarts, ZooKeeper down, snapshot rows marked, and kill -9 mid-get.

#include "tests/integration/client/connector_fixture.h"

namespace canal::client {
namespace {

// canal-tail, the binary: one FlatMessage line per row change, the MariaDB statement entries
// left out unless asked for, through a static list with a dead first address.
TEST_F(ConnectorTest, CanalTailPrintsOneFlatMessageLinePerRowChange) {
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'x'), (2, 'y'); INSERT INTO s.a VALUES (3, 'z')").isOk());
  const std::string address = "127.0.0.1:" + std::to_string(canal::testing::freePort()) + ",127.0.0.1:" +
                              std::to_string(server_->port());
  std::string out;
  const int rc = canal::testing::runCommand({CANAL_TAIL_BINARY, "--address", address, "--destination", "example",
                                             "--user", "canal", "--password", "canal", "--max-rows", "3",
                                             "--idle-exit", "20", "--no-ack", "--quiet"},
                                            &out);
  EXPECT_EQ(rc, 0) << out;
  std::vector<std::string> lines;
  for (std::size_t from = 0; from < out.size();) {
    const std::size_t nl = out.find('\n', from);
    lines.push_back(out.substr(from, nl - from));
    from = nl == std::string::npos ? out.size() : nl + 1;
  }
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_NE(lines[0].find(R"("data":[{"id":"1","v":"x"},{"id":"2","v":"y"}])"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("type":"INSERT")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(R"("data":[{"id":"3","v":"z"}])"), std::string::npos) << lines[1];

  // --statements: the SQL of each transaction comes first.
  out.clear();
  EXPECT_EQ(canal::testing::runCommand({CANAL_TAIL_BINARY, "--address", "127.0.0.1:" + std::to_string(server_->port()),
                                        "--user", "canal", "--password", "canal", "--max-rows", "5",
                                        "--idle-exit", "20", "--statements", "--quiet"},
                                       &out),
            0)
      << out;
  EXPECT_NE(out.find(R"j("sql":"INSERT INTO s.a VALUES (1, 'x'), (2, 'y')")j"), std::string::npos) << out;
}

// canal-tail started before any server listens: it waits (saying so), follows the server once
// it is up, keeps following through two restarts of it, and a SIGTERM ends it within 1.5 s even
// while it waits on a server that accepts connections and never answers.
TEST_F(ConnectorTest, CanalTailWaitsForTheServerFollowsItThroughRestartsAndStopsAtOnceOnASignal) {
  server_->stop();
  server_.reset();
  const int port = canal::testing::freePort();
  canal::testing::TempDir dir("canal-tail-restarts");
  const std::string log = (dir.path() / "tail.log").string();
  canal::testing::ChildProcess tail;
  ASSERT_TRUE(tail.start({CANAL_TAIL_BINARY, "--address", "127.0.0.1:" + std::to_string(port), "--destination",
                          "example", "--user", "canal", "--password", "canal", "--batch-size", "10"},
                         log)
                  .isOk());
  const auto logged = [&](const std::string& text) { return canal::testing::readFile(log).find(text) != std::string::npos; };
  ASSERT_TRUE(canal::testing::waitUntil(20s, [&] { return logged("canal-tail: waiting: 127.0.0.1:"); })) << tail.logTail();
  EXPECT_TRUE(tail.running()) << "a server that is not up yet is waited for";

  startServer(port);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'one')").isOk());
  ASSERT_TRUE(canal::testing::waitUntil(20s, [&] { return logged(R"({"id":"1","v":"one"})"); })) << tail.logTail();
  std::vector<double> gaps;  // from the server being up again to the row printed
  for (int restart = 2; restart <= 3; ++restart) {
    server_->stop();
    server_.reset();
    ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (" + std::to_string(restart) + ", 'r')").isOk());
    startServer(port);
    ASSERT_FALSE(HasFatalFailure());
    const auto up = std::chrono::steady_clock::now();
    ASSERT_TRUE(canal::testing::waitUntil(30s, [&] { return logged(R"({"id":")" + std::to_string(restart) + R"(","v":"r"})"); }, 10ms))
        << tail.logTail();
    gaps.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - up).count());
    EXPECT_TRUE(tail.running());
  }
  std::printf("[ figures ] canal-tail after a restart of its server: rows printed %.2f s and %.2f s after the server is up\n",
              gaps[0], gaps[1]);

  // A server that accepts and never answers: the connector waits on it; SIGTERM still ends it.
  server_->stop();
  server_.reset();
  const int mute = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(mute, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<std::uint16_t>(port));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(mute, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ASSERT_EQ(::bind(mute, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::listen(mute, 16), 0);
  ASSERT_TRUE(canal::testing::waitUntil(20s, [&] {
    pollfd pending{mute, POLLIN, 0};
    return ::poll(&pending, 1, 0) > 0;
  })) << "canal-tail connects to the mute server and waits for its handshake; " << tail.logTail();
  const int status = tail.stop(std::chrono::milliseconds(1500));
  ::close(mute);
  EXPECT_TRUE(WIFEXITED(status)) << "ended by itself, not killed after the grace period; " << tail.logTail();
}

// canal-tail --zk with no ZooKeeper answering: it says what it waits for, and a SIGTERM or a
// SIGINT ends it within a second, exit code 0.
TEST(CanalTailTest, WithZooKeeperDownItSaysSoAndASignalEndsItWithinASecond) {
  canal::testing::TempDir dir("canal-tail-zk-down");
  const std::string zk = "127.0.0.1:" + std::to_string(canal::testing::freePort());
  for (const int signal : {SIGTERM, SIGINT}) {
    const std::string log = (dir.path() / ("tail-" + std::to_string(signal) + ".log")).string();
    canal::testing::ChildProcess tail;
    ASSERT_TRUE(tail.start({CANAL_TAIL_BINARY, "--zk", zk, "--destination", "example"}, log).isOk());
    ASSERT_TRUE(canal::testing::waitUntil(20s, [&] {
      return canal::testing::readFile(log).find("canal-tail: waiting: no ZooKeeper session with " + zk) != std::string::npos;
    })) << tail.logTail();
    const auto signalled = std::chrono::steady_clock::now();
    ASSERT_EQ(::kill(tail.pid(), signal), 0);
    const int status = tail.wait(std::chrono::seconds(5));
    EXPECT_LT(std::chrono::steady_clock::now() - signalled, 1s) << "signal " << signal;
    EXPECT_EQ(status, 0) << "signal " << signal << "; " << tail.logTail();
  }
}

// canal-tail marks the rows a snapshot read from the table.
TEST_F(ConnectorTest, CanalTailMarksSnapshotRows) {
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'x'), (2, 'y')").isOk());
  snapshot::SnapshotRunner runner("example", destinations_["example"]->options().master,
                                  destinations_["example"]->snapshots(), {});
  snapshot::SnapshotRequest request;
  request.tables = {{"s", "a"}};
  ASSERT_TRUE(runner.start(request).isOk());
  runner.wait();
  ASSERT_EQ(runner.progress()->state, "done") << runner.progress()->toJson();
  std::string out;
  ASSERT_EQ(canal::testing::runCommand({CANAL_TAIL_BINARY, "--address", "127.0.0.1:" + std::to_string(server_->port()),
                                        "--user", "canal", "--password", "canal", "--max-rows", "4",
                                        "--idle-exit", "20", "--quiet"},
                                       &out),
            0)
      << out;
  // The binlog's INSERT, then the snapshot's rows of the same data, marked.
  const auto binlog = out.find(R"("data":[{"id":"1","v":"x"},{"id":"2","v":"y"}])");
  ASSERT_NE(binlog, std::string::npos) << out;
  const auto snapshot = out.find(R"("data":[{"id":"1","v":"x"},{"id":"2","v":"y"}])", binlog + 1);
  ASSERT_NE(snapshot, std::string::npos) << out;
  EXPECT_EQ(out.substr(binlog, out.find('\n', binlog) - binlog).find("snapshot"), std::string::npos);
  EXPECT_NE(out.substr(snapshot, out.find('\n', snapshot) - snapshot).find(R"(,"snapshot":true})"), std::string::npos)
      << out;
}

// canal-tail killed with kill -9 over and over while rows arrive, each time restarted at once:
// every row reaches some run, and the first deliveries stay in the order the rows were written
// (a GET of a killed client must not take a batch ahead of what its next connection gets).
TEST_F(ConnectorTest, AClientKilledMidGetKeepsFirstDeliveriesInOrder) {
  std::atomic<bool> writing{true};
  std::atomic<int> written{0};
  std::thread writer([&] {
    while (writing) {
      const int id = written + 1;
      if (!db_->execute("INSERT INTO s.a VALUES (" + std::to_string(id) + ", 'r')").isOk()) break;
      written = id;
      std::this_thread::sleep_for(2ms);  // a steady trickle: the tail waits in GET most of the time
    }
  });
  canal::testing::TempDir dir("canal-tail-kill");
  const std::vector<std::string> tail = {CANAL_TAIL_BINARY, "--address", "127.0.0.1:" + std::to_string(server_->port()),
                                         "--destination", "example", "--user", "canal", "--password", "canal",
                                         "--batch-size", "4", "--quiet"};
  std::vector<std::string> outputs;
  const auto size = [](const std::string& path) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path, ec);
    return ec ? std::uintmax_t{0} : n;
  };
  for (int run = 0; run < 20; ++run) {
    outputs.push_back((dir.path() / ("tail-" + std::to_string(run) + ".out")).string());
    canal::testing::ChildProcess p;
    ASSERT_TRUE(p.start(tail, outputs.back()).isOk());
    // Killed once it printed something: most often while its next GET waits.
    EXPECT_TRUE(canal::testing::waitUntil(20s, [&] { return size(outputs.back()) > 0; })) << p.logTail();
    p.kill();
  }
  writing = false;
  writer.join();
  const int last = written;
  ASSERT_GT(last, 0);
  outputs.push_back((dir.path() / "tail-final.out").string());
  std::vector<std::string> finalRun = tail;
  finalRun.insert(finalRun.end(), {"--idle-exit", "3"});
  std::string ignored;
  ASSERT_EQ(canal::testing::runCommand({"sh", "-c", [&] {
                                          std::string cmd;
                                          for (const auto& a : finalRun) cmd += "'" + a + "' ";
                                          return cmd + "> '" + outputs.back() + "'";
                                        }()},
                                       &ignored),
            0)
      << ignored;
  std::vector<int> firsts;
  std::set<int> seen;
  for (const auto& path : outputs) {
    const std::string text = canal::testing::readFile(path);
    // Whole lines only: a run killed while it wrote leaves a cut line (its batch was not acked).
    std::stringstream lines(text.substr(0, text.rfind('\n') + 1));
    std::string line;
    while (std::getline(lines, line)) {
      const std::size_t data = line.find(R"("data":[)");
      if (data == std::string::npos) continue;
      const std::string rows = line.substr(data, line.find(']', data) - data);
      for (std::size_t at = rows.find(R"({"id":")"); at != std::string::npos; at = rows.find(R"({"id":")", at + 1)) {
        const int id = std::atoi(rows.c_str() + at + 7);
        if (seen.insert(id).second) firsts.push_back(id);
      }
    }
  }
  EXPECT_EQ(static_cast<int>(seen.size()), last) << "rows lost";
  for (std::size_t i = 1; i < firsts.size(); ++i) {
    ASSERT_LT(firsts[i - 1], firsts[i]) << "row " << firsts[i] << " was first delivered after row " << firsts[i - 1];
  }
}

}  // namespace
}  // namespace canal::client
