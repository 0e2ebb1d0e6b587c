// Snapshots in the durable modes: killed midway (RocksDB store, memory store) or taken over by a
// standby, a snapshot goes on after the last chunk stored or acked; and the durable modes'
// configuration errors.

#include "tests/integration/server/durable_fixture.h"

namespace canal {
namespace {

// kill -9 in the middle of an initial snapshot (file mode): after the restart the snapshot goes
// on after the last chunk stored, every row arrives, and no acked row comes again.
TEST_F(DurableServerTest, ASnapshotKilledMidwayGoesOnAfterTheLastChunkStored) {
  constexpr int kRows = 30000;
  insertRows(kRows);
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end);
  testing::TempDir dir("canal-snapshot-kill");
  ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "a", "file-instance.xml", db_->port(), "", end->file,
                       std::to_string(end->position));
  configureSnapshot(dir.path() / "a", 500);
  ASSERT_TRUE(server.start());
  auto connector = single(server);
  Consumed consumed;
  std::atomic<bool> stop{false};
  std::thread reader([&] { consume(*connector, consumed, stop); });
  ASSERT_TRUE(testing::waitUntil(60s, [&] { return consumed.distinct().size() >= 6000; })) << server.logTail();
  server.kill();
  const std::size_t beforeKill = consumed.distinct().size();
  ASSERT_TRUE(server.start());
  const bool all = testing::waitUntil(90s, [&] { return consumed.distinct().size() >= static_cast<std::size_t>(kRows); });
  stop = true;
  reader.join();
  EXPECT_TRUE(all) << server.logTail();
  expectResumed("RocksDB store, kill -9", consumed, beforeKill, kRows, 0, server.logTail(20000));
  server.stop();
}

// The same with the memory store (canal.instance.store.type = MEMORY): nothing of the stream
// survives the kill but meta.dat, so the snapshot's progress rides with the client's cursor
// (snapshot.dat beside meta.dat; a ZooKeeper node of its own for a standby taking over) and the
// snapshot goes on after the last chunk the client acked, not from the beginning.
TEST_F(DurableServerTest, WithTheMemoryStoreASnapshotKilledMidwayGoesOnAfterTheLastChunkAcked) {
  constexpr int kRows = 30000;
  constexpr int kChunk = 500;
  insertRows(kRows);
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end);
  testing::TempDir dir("canal-snapshot-kill-memory");
  ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "a", "file-instance.xml", db_->port(), "", end->file,
                       std::to_string(end->position));
  std::ofstream(dir.path() / "a" / "conf" / "canal.properties", std::ios::app) << "canal.file.flush.period = 0\n";
  configureSnapshot(dir.path() / "a", kChunk, "canal.instance.store.type = MEMORY\n");
  ASSERT_TRUE(server.start());
  auto writer = tickWriter();
  auto connector = single(server);
  Consumed consumed;
  std::atomic<bool> stop{false};
  std::thread reader([&] { consume(*connector, consumed, stop); });
  const auto snapshotDat = dir.path() / "a" / "data" / "example" / "snapshot.dat";
  ASSERT_TRUE(testing::waitUntil(60s, [&] {
    return consumed.distinct().size() >= 6000 && std::filesystem::exists(snapshotDat);
  })) << server.logTail();
  server.kill();
  const std::size_t beforeKill = consumed.distinct().size();
  ASSERT_TRUE(server.start());
  const bool all = testing::waitUntil(90s, [&] { return consumed.distinct().size() >= static_cast<std::size_t>(kRows); });
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return !std::filesystem::exists(snapshotDat); }))
      << "snapshot.dat goes once the snapshot is over and acked";
  stop = true;
  reader.join();
  writer->stop();
  EXPECT_TRUE(all) << server.logTail();
  // At most the chunk the client was in the middle of comes again: the rest goes on after it.
  expectResumed("memory store, kill -9", consumed, beforeKill, kRows, kChunk, server.logTail(20000));
  server.stop();
}

// Default mode (ZooKeeper, active/standby): the running server is killed mid-snapshot; the
// standby takes over from the ZooKeeper cursor and goes on with the snapshot kept beside it
// (node <clientId>/snapshot), after the last chunk the client acked.
TEST_F(DurableServerTest, AStandbyTakingOverGoesOnWithTheSnapshotAfterTheLastChunkAcked) {
  constexpr int kRows = 30000;
  constexpr int kChunk = 500;
  insertRows(kRows);
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end);
  auto zk = testing::ZooKeeperServer::start();
  ASSERT_TRUE(zk) << zk.status().toString();
  testing::TempDir dir("canal-snapshot-ha");
  std::vector<std::unique_ptr<ServerProcess>> servers;
  for (const char* name : {"a", "b"}) {
    servers.push_back(std::make_unique<ServerProcess>(CANAL_SERVER_BINARY, dir.path() / name, "default-instance.xml",
                                                      db_->port(), (*zk)->connectString(), end->file,
                                                      std::to_string(end->position)));
    std::ofstream(dir.path() / name / "conf" / "canal.properties", std::ios::app) << "canal.zookeeper.flush.period = 0\n";
    configureSnapshot(dir.path() / name, kChunk);
  }
  ServerProcess& a = *servers[0];
  ServerProcess& b = *servers[1];
  auto session = ZooKeeperSession::connect((*zk)->connectString(), 10s, 10s);
  ASSERT_TRUE(session);
  const auto runningAddress = [&] {
    auto data = (*session)->get("/otter/canal/destinations/example/running");
    return data && *data ? nlohmann::json::parse(**data, nullptr, false).value("address", "") : std::string();
  };
  const auto storedProgress = [&]() -> std::string {
    auto data = (*session)->get("/otter/canal/destinations/example/1001/snapshot");
    return data && *data ? **data : "";
  };
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(testing::waitUntil(20s, [&] { return runningAddress() == a.address(); })) << a.logTail();
  ASSERT_TRUE(b.start());
  auto writer = tickWriter();
  client::ConnectorOptions o;
  o.retries = 0;
  o.connectTimeout = 2s;
  o.soTimeout = 5s;
  o.confirmAcks = true;  // an ack that returned OK is recorded: such rows must never come again
  auto connector = client::newClusterConnector(client::ClusterSource::zooKeeper((*zk)->connectString()), "example", "",
                                               "", o);
  Consumed consumed;
  std::atomic<bool> stop{false};
  std::thread reader([&] { consume(*connector, consumed, stop); });
  ASSERT_TRUE(testing::waitUntil(60s, [&] { return consumed.distinct().size() >= 6000 && !storedProgress().empty(); }))
      << a.logTail();
  a.kill();
  const std::size_t beforeKill = consumed.distinct().size();
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return runningAddress() == b.address(); }, 20ms)) << b.logTail();
  const bool all = testing::waitUntil(90s, [&] { return consumed.distinct().size() >= static_cast<std::size_t>(kRows); });
  EXPECT_TRUE(testing::waitUntil(30s, [&] { return storedProgress().empty(); })) << "cleared once the snapshot is acked";
  stop = true;
  reader.join();
  writer->stop();
  EXPECT_TRUE(all) << b.logTail();
  expectResumed("default mode, takeover", consumed, beforeKill, kRows, kChunk, b.logTail(20000));
  b.stop();
}

// Configuration errors of the durable modes stop the server with a message naming the cause.
TEST(DurableServerConfig, UnreachableZooKeeperAndUnusableDataDirAreNamed) {
  testing::TempDir dir("canal-durable-config");
  const int deadPort = testing::freePort();
  {
    ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "zk", "default-instance.xml", 3306, "127.0.0.1:" + std::to_string(deadPort),
                         "mysql-bin.000001", "4");
    ASSERT_TRUE(server.start());
    ASSERT_TRUE(testing::waitUntil(30s, [&] { return server.logTail().find("stopped") != std::string::npos ||
                                                     server.logTail().find("canal.zkServers") != std::string::npos; }))
        << server.logTail();
    EXPECT_NE(server.logTail().find("127.0.0.1:" + std::to_string(deadPort)), std::string::npos) << server.logTail();
    EXPECT_NE(server.stop(), 0);
  }
  {
    ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "file", "file-instance.xml", 3306, "", "mysql-bin.000001", "4");
    std::ofstream(dir.path() / "file" / "data") << "a file where the data directory should be";
    ASSERT_TRUE(server.start());
    ASSERT_TRUE(testing::waitUntil(30s, [&] { return server.logTail().find("data") != std::string::npos &&
                                                     server.logTail().find("error") != std::string::npos; }))
        << server.logTail();
    EXPECT_NE(server.logTail().find((dir.path() / "file" / "data").string()), std::string::npos) << server.logTail();
    EXPECT_NE(server.stop(), 0);
  }
}

}  // namespace
}  // namespace canal
