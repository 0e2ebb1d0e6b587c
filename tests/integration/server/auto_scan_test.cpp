// canal.auto.scan and SIGHUP adding, restarting and stopping destinations and refusing a broken
// file while a client on another destination reads on without noticing (also under ZooKeeper
// HA); snapshots requested over HTTP and at start.

#include "tests/integration/server/operations_fixture.h"

namespace canal {
namespace {

TEST_F(OperationsTest, AutoScanAddsRestartsAndStopsDestinationsWhileAnotherReadsOn) {
  testing::TempDir dir("canal-ops");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  writeServerConf(conf, port, metricsPort, "canal.auto.scan = true\ncanal.auto.scan.interval = 1\n");
  writeInstance(conf, "a", 8101, "s\\\\.a");
  writeInstance(conf, "b", 8102, "s\\\\.t");  // not listed: found by the scan at start
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string(), "--logs", (dir.path() / "logs").string()},
                           (dir.path() / "server.out").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "a") && following(metricsPort, "b"); }))
      << status(metricsPort).dump() << server.logTail();
  const std::string address = "127.0.0.1:" + std::to_string(port);
  Reader a(address, "a", "a");
  ASSERT_TRUE(a.open());
  std::atomic<bool> stopWriting{false};
  std::atomic<std::int64_t> written{0};
  std::thread writer([&] {
    while (!stopWriting) {
      if (db_->execute("INSERT INTO s.a (v) VALUES (" + std::to_string(written + 1) + ")").isOk()) ++written;
      std::this_thread::sleep_for(10ms);
    }
  });

  // Added.
  writeInstance(conf, "c", 8103, "s\\\\.c");
  ASSERT_TRUE(testing::waitUntil(10s, [&] { return following(metricsPort, "c"); })) << status(metricsPort).dump();
  {
    Reader c(address, "c", "c");
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(db_->execute("INSERT INTO s.c (v) VALUES (1)"));
    EXPECT_TRUE(testing::waitUntil(10s, [&] { return c.values().size() == 1; }));
  }
  // Changed: restarted, reading the new table list.
  const std::string since = (*destinationIn(status(metricsPort), "c"))["since"];
  writeInstance(conf, "c", 8103, "s\\\\.t");
  ASSERT_TRUE(testing::waitUntil(10s, [&] {
    const Json st = status(metricsPort);
    const Json* c = destinationIn(st, "c");
    return c && (*c)["since"] != since && (*c)["state"] == "following";
  })) << "c was not restarted: " << status(metricsPort).dump();
  {
    Reader c(address, "c", "t");
    ASSERT_TRUE(c.open());
    ASSERT_TRUE(db_->execute("INSERT INTO s.t (v) VALUES (7)"));
    EXPECT_TRUE(testing::waitUntil(10s, [&] {
      const auto v = c.values();
      return !v.empty() && v.back() == 7;
    }));
  }
  // Broken: reported, and the running version goes on.
  std::ofstream(conf / "b" / "instance.properties", std::ios::app) << "canal.instance.memory.buffer.size = lots\n";
  Json st;
  ASSERT_TRUE(testing::waitUntil(10s, [&] {
    st = status(metricsPort);
    const Json* b = destinationIn(st, "b");
    return b && b->contains("configError");
  })) << st.dump();
  const Json* b = destinationIn(st, "b");
  EXPECT_EQ((*b)["state"], "following");
  EXPECT_NE((*b)["configError"]["message"].get<std::string>().find("buffer.size"), std::string::npos) << st.dump();
  EXPECT_EQ(scrape(metricsPort).get(R"(canal_destination_config_error{destination="b"})"), 1);
  // Removed.
  fs::remove_all(conf / "c");
  ASSERT_TRUE(testing::waitUntil(10s, [&] { return !destinationIn(status(metricsPort), "c"); }));
  {
    client::ConnectorOptions o;
    o.retries = 0;
    auto gone = client::newSingleConnector(address, "c", "", "", o);
    EXPECT_FALSE(gone->connect().isOk() && gone->subscribe().isOk()) << "a removed destination still serves";
  }

  stopWriting = true;
  writer.join();
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return static_cast<std::int64_t>(a.values().size()) >= written; }));
  const auto values = a.values();
  std::vector<std::int64_t> expected(static_cast<std::size_t>(written.load()));
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<std::int64_t>(i) + 1;
  EXPECT_EQ(values, expected) << "the client on a saw every row once, in order";
  EXPECT_EQ(a.failures(), 0) << a.lastFailure();
  EXPECT_GT(written, 50);
  a.stop();

  // The destinations' lines are in their own files.
  const std::string cLog = testing::readFile((dir.path() / "logs" / "c" / "c.log").string());
  EXPECT_NE(cLog.find("destination c: starting"), std::string::npos) << cLog;
  const std::string serverLog = testing::readFile((dir.path() / "logs" / "canal" / "canal.log").string());
  EXPECT_NE(serverLog.find("destination c: instance.properties changed; restarted"), std::string::npos) << serverLog;
  EXPECT_NE(serverLog.find("destination b: "), std::string::npos) << serverLog;
  EXPECT_EQ(server.stop(), 0);
}

// With ZooKeeper HA a destination added by the scan joins the running election (this server
// runs it: its running node names this server), and one removed leaves it (the node goes).
TEST_F(OperationsTest, AutoScanUnderZooKeeperHa) {
  auto zk = testing::ZooKeeperServer::start();
  ASSERT_TRUE(zk) << zk.status().toString();
  testing::TempDir dir("canal-ops");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  writeServerConf(conf, port, metricsPort,
                  "canal.zkServers = " + (*zk)->connectString() + "\ncanal.file.data.dir = " +
                      (dir.path() / "data").string() + "\ncanal.auto.scan = true\ncanal.auto.scan.interval = 1\n" +
                      "canal.instance.global.spring.xml = classpath:spring/default-instance.xml\n" +
                      "canal.admin.user = admin\ncanal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n");
  writeInstance(conf, "a", 8301, "s\\\\.a");
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.out").string()));
  auto session = ZooKeeperSession::connect((*zk)->connectString(), 10s, 10s);
  ASSERT_TRUE(session);
  const auto running = [&](const std::string& name) -> std::string {
    auto data = (*session)->get("/otter/canal/destinations/" + name + "/running");
    return data && *data ? **data : std::string();
  };
  const std::string self = "127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return running("a").find(self) != std::string::npos; })) << server.logTail();
  writeInstance(conf, "c", 8303, "s\\\\.c");
  ASSERT_TRUE(testing::waitUntil(30s, [&] {
    return running("c").find(self) != std::string::npos && following(metricsPort, "c");
  })) << server.logTail();
  fs::remove_all(conf / "c");
  EXPECT_TRUE(testing::waitUntil(30s, [&] { return running("c").empty(); })) << server.logTail();
  auto members = (*session)->children("/otter/canal/destinations/c/cluster");
  ASSERT_TRUE(members);
  EXPECT_TRUE(members->empty()) << "the removed destination's cluster node is still there";
  EXPECT_FALSE(destinationIn(status(metricsPort), "c"));
  EXPECT_NE(running("a").find(self), std::string::npos) << "a kept running";

  // A second server stands by for a, and its /status names the server that runs it; a stopped
  // from the first server's console leaves the election (so the first no longer says who runs
  // it), and the second takes it over.
  const fs::path conf2 = dir.path() / "conf2";
  const int port2 = testing::freePort();
  const int metricsPort2 = testing::freePort();
  writeServerConf(conf2, port2, metricsPort2,
                  "canal.zkServers = " + (*zk)->connectString() + "\ncanal.file.data.dir = " +
                      (dir.path() / "data2").string() + "\ncanal.auto.scan = false\ncanal.destinations = a\n" +
                      "canal.instance.global.spring.xml = classpath:spring/default-instance.xml\n");
  fs::create_directories(conf2 / "a");
  fs::copy_file(conf / "a" / "instance.properties", conf2 / "a" / "instance.properties");
  testing::ChildProcess standby;
  ASSERT_TRUE(standby.start({CANAL_SERVER_BINARY, "--conf", conf2.string()}, (dir.path() / "standby.out").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] {
    const Json s = status(metricsPort2);
    const Json* d = destinationIn(s, "a");
    return d && (*d)["state"] == "standby" && (*d)["runningAt"] == self;
  })) << status(metricsPort2).dump() << standby.logTail();
  const Json firstStatus = status(metricsPort);
  const Json* first = destinationIn(firstStatus, "a");
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["runningAt"], self);
  const ConsoleLogin login = consoleLogin(metricsPort, "admin", "admin");
  ASSERT_FALSE(login.cookie.empty());
  const auto stopped = testing::httpRequest("POST", "http://127.0.0.1:" + std::to_string(metricsPort) +
                                                         "/console/api/destinations/a/stop", "", "", "",
                                            {"Cookie: " + login.cookie, "X-CSRF-Token: " + login.csrfToken});
  EXPECT_EQ(stopped.status, 200) << stopped.body;
  const std::string other = "127.0.0.1:" + std::to_string(port2);
  EXPECT_TRUE(testing::waitUntil(30s, [&] {
    const Json s = status(metricsPort);
    const Json* d = destinationIn(s, "a");
    return running("a").find(other) != std::string::npos && following(metricsPort2, "a") && d &&
           (*d)["state"] == "stopped" && (*d)["runningAt"].is_null();
  })) << status(metricsPort).dump() << status(metricsPort2).dump() << standby.logTail();
  EXPECT_EQ(standby.stop(), 0);
  EXPECT_EQ(server.stop(), 0);
  EXPECT_TRUE(testing::waitUntil(30s, [&] { return running("a").empty(); })) << "released at shutdown";
}

TEST_F(OperationsTest, SighupScansAtOnce) {
  testing::TempDir dir("canal-ops");
  const fs::path conf = dir.path() / "conf";
  const int metricsPort = testing::freePort();
  writeServerConf(conf, testing::freePort(), metricsPort, "canal.auto.scan = false\n");
  writeInstance(conf, "a", 8201, "s\\\\.a");
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.out").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "a"); })) << server.logTail();
  writeInstance(conf, "a", 8201, "s\\\\.t");
  ::kill(server.pid(), SIGHUP);
  std::string log;
  EXPECT_TRUE(testing::waitUntil(5s, [&] {
    log = server.logTail(100000);
    return log.find("destination a: instance.properties changed; restarted") != std::string::npos;
  })) << log;
  // The change was found by the scan the signal asked for, not by one of its own before it.
  const auto scanned = log.find("SIGHUP: scanning");
  ASSERT_NE(scanned, std::string::npos) << log;
  EXPECT_EQ(log.find("restarted"), log.find("restarted", scanned)) << "no scan without auto.scan or SIGHUP: " << log;
  EXPECT_TRUE(testing::waitUntil(10s, [&] { return following(metricsPort, "a"); }));
  EXPECT_EQ(server.stop(), 0);
}

// Snapshots on demand over HTTP: refused without the admin login, refused for a table without a
// key, and the table's existing rows reach a client, with the progress in /status and /metrics.
TEST_F(OperationsTest, ASnapshotRequestedOverHttpBringsTheExistingRows) {
  std::string rows = "INSERT INTO s.t (v) VALUES ";
  for (int i = 1; i <= 3000; ++i) rows += (i > 1 ? ",(" : "(") + std::to_string(i) + ")";
  ASSERT_TRUE(db_->execute(rows));
  ASSERT_TRUE(db_->execute("CREATE TABLE s.nokey (v INT)"));
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end);
  testing::TempDir dir("canal-snapshot");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  writeServerConf(conf, port, metricsPort,
                  "canal.destinations = example\ncanal.admin.user = admin\n"
                  "canal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n");  // "admin"
  journal_ = end->file;
  position_ = std::to_string(end->position);
  writeInstance(conf, "example", 7101, "s\\\\..*");
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.log").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "example"); })) << server.logTail();
  Reader reader("127.0.0.1:" + std::to_string(port), "example", "t");
  ASSERT_TRUE(reader.open());

  const std::string url = "http://127.0.0.1:" + std::to_string(metricsPort) + "/destinations/example/snapshots";
  const std::string body = R"({"tables": ["s.t"], "chunkSize": 500})";
  EXPECT_EQ(testing::httpRequest("POST", url, body).status, 401);
  EXPECT_EQ(testing::httpRequest("POST", url, body, "admin", "wrong").status, 401);
  const auto keyless = testing::httpRequest("POST", url, R"({"tables": ["s.nokey"]})", "admin", "admin");
  EXPECT_EQ(keyless.status, 400);
  EXPECT_NE(keyless.body.find("neither a primary key nor a unique key"), std::string::npos) << keyless.body;
  const auto started = testing::httpRequest("POST", url, body, "admin", "admin");
  ASSERT_EQ(started.status, 202) << started.body;

  Json progress;
  ASSERT_TRUE(testing::waitUntil(60s, [&] {
    const auto r = testing::httpRequest("GET", url, "", "admin", "admin");
    progress = Json::parse(r.body, nullptr, false);
    return r.status == 200 && progress.is_object() && progress["state"] != "running";
  })) << progress.dump();
  EXPECT_EQ(progress["state"], "done") << progress.dump();
  EXPECT_EQ(progress["rows"], 3000);
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return reader.values().size() >= 3000; }));
  auto values = reader.values();
  std::sort(values.begin(), values.end());
  ASSERT_EQ(values.size(), 3000u);
  EXPECT_EQ(values.front(), 1);
  EXPECT_EQ(values.back(), 3000);

  Json st;
  ASSERT_TRUE(waitForExample(metricsPort, st, [](const Json& d) { return d["snapshot"].is_object(); }, 10s));
  EXPECT_EQ((*destinationIn(st, "example"))["snapshot"]["state"], "done");
  EXPECT_EQ(scrape(metricsPort).get(R"(canal_instance_snapshot_rows{destination="example"})"), 3000);
  EXPECT_EQ(testing::httpRequest("DELETE", url, "", "admin", "admin").status, 404) << "nothing runs";

  // Bad requests are refused, naming the field, and the server stays up.
  for (const std::string& bad :
       {std::string(R"({"tables": ["s.t"], "where": 5})"), std::string(R"({"tables": ["s.t"], "where": null})"),
        std::string(R"({"tables": ["s.t"], "where": ["x"]})"), std::string(R"({"tables": ["s.t"], "where": "1=1) OR (1=1"})"),
        std::string(R"({"tables": ["s.t"], "where": "v > 0; DROP TABLE s.t"})"),
        std::string(R"({"tables": ["s.t"], "chunkSize": 18446744073709551615})"),
        std::string(R"({"tables": ["s.t"], "rowsPerSecond": -1})"), std::string(R"({"tables": ["s.t"], "x": 1})")}) {
    const auto r = testing::httpRequest("POST", url, bad, "admin", "admin");
    EXPECT_EQ(r.status, 400) << bad << " -> " << r.body;
  }
  const std::string hugeBody = R"({"tables": ["s.t"], "where": ")" + std::string(2 << 20, 'x') + "\"}";
  const auto huge = testing::httpRequest("POST", url, hugeBody, "admin", "admin");
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_EQ(testing::httpGet("http://127.0.0.1:" + std::to_string(metricsPort) + "/status").status, 200);

  // A flood of connections that send nothing: each newcomer over the limit closes the oldest of
  // them, so /status still answers; the server keeps its descriptors, and a Canal client still
  // connects on the client port.
  std::vector<int> flood;
  for (int i = 0; i < 300; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(metricsPort));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) flood.push_back(fd);
    else ::close(fd);
  }
  Reader other("127.0.0.1:" + std::to_string(port), "example", "t");
  EXPECT_TRUE(other.open().isOk());
  other.stop();
  EXPECT_EQ(testing::httpGet("http://127.0.0.1:" + std::to_string(metricsPort) + "/status").status, 200);
  for (const int fd : flood) ::close(fd);
  // Password guesses on the snapshot API: a few are checked, then 429 until the address waits.
  std::vector<long> guesses;
  for (int i = 0; i < 8; ++i) guesses.push_back(testing::httpRequest("GET", url, "", "admin", "guess").status);
  EXPECT_EQ(guesses.front(), 401);
  EXPECT_EQ(guesses.back(), 429);
  EXPECT_EQ(server.stop(), 0);
}

// canal.instance.snapshot.mode = initial: a destination without a stored position delivers the
// existing rows besides the changes (interleaved where they meet; a row the stream carried before
// its chunk was read may come again with the same values, as an upsert).
TEST_F(OperationsTest, AnInitialSnapshotDeliversTheExistingRowsAndTheChanges) {
  ASSERT_TRUE(db_->execute("INSERT INTO s.t (v) VALUES (1), (2), (3)"));
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end);
  journal_ = end->file;
  position_ = std::to_string(end->position);
  testing::TempDir dir("canal-initial");
  const fs::path conf = dir.path() / "conf";
  const int port = testing::freePort();
  const int metricsPort = testing::freePort();
  writeServerConf(conf, port, metricsPort, "canal.destinations = example\n");
  writeInstance(conf, "example", 7102, "s\\\\.t", "canal.instance.snapshot.mode = initial\n");
  testing::ChildProcess server;
  ASSERT_TRUE(server.start({CANAL_SERVER_BINARY, "--conf", conf.string()}, (dir.path() / "server.log").string()));
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return following(metricsPort, "example"); })) << server.logTail();
  Reader reader("127.0.0.1:" + std::to_string(port), "example", "t");
  ASSERT_TRUE(reader.open());
  ASSERT_TRUE(db_->execute("INSERT INTO s.t (v) VALUES (4)"));
  Json st;
  ASSERT_TRUE(waitForExample(metricsPort, st, [](const Json& d) { return d["snapshot"].is_object() &&
                                                                          d["snapshot"]["state"] == "done"; }, 20s))
      << st.dump();
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return reader.values().size() >= 4; })) << server.logTail();
  const auto values = reader.values();
  EXPECT_EQ(std::set<std::int64_t>(values.begin(), values.end()), (std::set<std::int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace canal
