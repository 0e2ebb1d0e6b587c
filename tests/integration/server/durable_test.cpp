// The canal-server binary in its durable modes against real MariaDB (and ZooKeeper): rows are
// written continuously while the server is killed with SIGKILL at random points and started
// again (file-instance.xml), or while the running server of an active/standby pair is killed
// (default-instance.xml); a client consumes through the SDK with getWithoutAck/ack. Checked:
// every committed row arrives, no row whose ack returned OK arrives again, rows of one key
// arrive in commit order. The figures (runs, rows, duplicates, takeover time) are printed.

#include "tests/integration/server/durable_fixture.h"

namespace canal {
namespace {

TEST_F(DurableServerTest, FileModeKillMinusNineLosesNothingAndRedeliversNoAckedRow) {
  testing::TempDir dir("canal-durable");
  ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "a", "file-instance.xml", db_->port(), "", journal_, position_);
  ASSERT_TRUE(server.start());
  auto connector = single(server);
  Workload work(*connector, db_.get());

  std::mt19937 random(std::random_device{}());
  const int runs = 5;
  for (int run = 0; run < runs; ++run) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + random() % 1200));
    server.kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
    ASSERT_TRUE(server.start());
  }
  const Outcome o = work.finish();
  const Verdict& v = o.verdict;
  std::printf("[ figures ] file mode: %d kill -9 runs, %lld rows committed, lost %lld, duplicates %lld "
              "(of acked rows: %lld), out of order %lld, %lld batches\n",
              runs, static_cast<long long>(o.last), static_cast<long long>(v.lost),
              static_cast<long long>(v.duplicates), static_cast<long long>(work.consumed.ackedAgain),
              static_cast<long long>(v.outOfOrder), static_cast<long long>(work.consumed.batches));
  EXPECT_TRUE(o.all) << server.logTail();
  EXPECT_GT(o.last, 100);
  EXPECT_EQ(v.lost, 0);
  EXPECT_EQ(work.consumed.ackedAgain, 0);
  EXPECT_EQ(v.outOfOrder, 0);
  EXPECT_TRUE(fs::exists(dir.path() / "a" / "data" / "example" / "meta.dat"));
  server.stop();
  // Row values (the store), cursors and table definitions are readable by the server's user only.
  std::size_t checked = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir.path() / "a" / "data")) {
    const auto perms = entry.status().permissions();
    EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none) << entry.path();
    ++checked;
  }
  EXPECT_GT(checked, 3u);
}

// The store's copy of the ack cursor is not synced where meta.dat keeps the cursor: after a
// power loss the store can come back behind meta.dat (simulated by putting back a copy of the
// store taken earlier). The server must then drop the store and go on from meta.dat's cursor:
// no acked row comes again, none is missing.
TEST_F(DurableServerTest, AStoreLeftBehindTheMetaCursorIsDroppedAndNoAckedRowComesAgain) {
  testing::TempDir dir("canal-durable");
  ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "a", "file-instance.xml", db_->port(), "", journal_, position_);
  ASSERT_TRUE(server.start());
  auto connector = single(server);
  Workload work(*connector, nullptr);
  const fs::path store = dir.path() / "a" / "data" / "example" / "store";
  insert(1, 100);
  ASSERT_TRUE(ackedThrough(work, 100)) << server.logTail();
  server.stop();
  fs::copy(store, dir.path() / "store-then", fs::copy_options::recursive);
  ASSERT_TRUE(server.start());
  insert(101, 200);
  ASSERT_TRUE(ackedThrough(work, 200)) << server.logTail();
  expectAPutBackStoreDroppedAndNothingAckedAgain(server, work, store, dir.path() / "store-then", 200);
}

// A store that never recorded an ack (its acks were lost, say, with a power loss) while
// meta.dat has a cursor: its entries up to the cursor were acked, so it is not used.
TEST_F(DurableServerTest, AStoreWithNoAckWhereMetaDatHasACursorIsDroppedAndNoAckedRowComesAgain) {
  testing::TempDir dir("canal-durable");
  ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "a", "file-instance.xml", db_->port(), "", journal_, position_);
  ASSERT_TRUE(server.start());
  insert(1, 100);
  // The 100 rows read and not acked: they are in the store, which has recorded no ack.
  {
    auto reader = single(server);
    std::set<std::int64_t> seen;
    ASSERT_TRUE(testing::waitUntil(30s, [&] {
      if (!reader->checkValid() && !(reader->connect() && reader->subscribe())) return false;
      auto m = reader->getWithoutAck(1000, 200ms);
      if (m) for (auto v : testing::insertedValues(*m, "t")) seen.insert(v);
      return seen.size() == 100;
    })) << server.logTail();
    reader->disconnect();
  }
  server.stop();
  const fs::path store = dir.path() / "a" / "data" / "example" / "store";
  fs::copy(store, dir.path() / "store-then", fs::copy_options::recursive);
  ASSERT_TRUE(server.start());
  auto connector = single(server);
  Workload work(*connector, nullptr);
  ASSERT_TRUE(ackedThrough(work, 100)) << server.logTail();
  expectAPutBackStoreDroppedAndNothingAckedAgain(server, work, store, dir.path() / "store-then", 100);
}

// The primary's binlogs are purged while the server is down: what the store held is served
// from it; the stream then reports the purged position instead of skipping ahead.
TEST_F(DurableServerTest, StoredEntriesAreServedAfterThePrimaryPurgedItsBinlogs) {
  testing::TempDir dir("canal-durable");
  ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "a", "file-instance.xml", db_->port(), "", journal_, position_);
  ASSERT_TRUE(server.start());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(db_->execute("INSERT INTO s.t (k, v) VALUES (" + std::to_string(i % 7) + "," + std::to_string(i + 1) + ")"));
  }
  // Read everything without acking: it is all in the store then.
  auto connector = single(server);
  std::set<std::int64_t> seen;
  ASSERT_TRUE(testing::waitUntil(30s, [&] {
    if (!connector->checkValid() && !(connector->connect() && connector->subscribe())) return false;
    auto m = connector->getWithoutAck(100, 200ms);
    if (m) for (auto v : testing::insertedValues(*m, "t")) seen.insert(v);
    return seen.size() == 50;
  })) << "rows seen: " << seen.size() << "\n" << server.logTail();
  connector->disconnect();
  server.kill();
  ASSERT_TRUE(db_->execute("FLUSH BINARY LOGS"));
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end) << end.status().toString();
  ASSERT_TRUE(db_->execute("PURGE BINARY LOGS TO '" + end->file + "'"));
  ASSERT_TRUE(server.start());
  connector = single(server);
  Workload work(*connector, nullptr);
  const Outcome o = work.finish(50);
  EXPECT_TRUE(o.all) << server.logTail();
  EXPECT_EQ(o.verdict.lost, 0);
  EXPECT_TRUE(testing::waitUntil(10s, [&] { return server.logTail().find(journal_) != std::string::npos; }))
      << "the purged position is reported: " << server.logTail();
  server.stop();
}

// The cursor of an ack cannot be written (meta.dat's temporary file is a directory): the ack
// reports the error naming the file, the server goes on, and the batch is not lost — after a
// reconnect its rows come again, and once an ack is written they do not come after a restart.
TEST_F(DurableServerTest, AnAckWhoseCursorCannotBeWrittenFailsAndItsRowsComeAgain) {
  testing::TempDir dir("canal-durable");
  ServerProcess server(CANAL_SERVER_BINARY, dir.path() / "a", "file-instance.xml", db_->port(), "", journal_, position_);
  ASSERT_TRUE(server.start());
  client::ConnectorOptions options;
  options.retries = 20;
  options.retryInterval = 100ms;
  options.connectTimeout = 2s;
  options.soTimeout = 5s;
  options.confirmAcks = true;  // ack() itself reports the failure
  auto connector = client::newSingleConnector(server.address(), "example", "", "", options);
  const auto subscribed = [&] {
    return testing::waitUntil(20s, [&] { return connector->connect() && connector->subscribe(); }, 100ms);
  };
  ASSERT_TRUE(subscribed()) << server.logTail();

  const auto insert = [&](int from) {
    return db_->execute("INSERT INTO s.t (k, v) VALUES (1," + std::to_string(from) + "),(2," +
                        std::to_string(from + 1) + "),(3," + std::to_string(from + 2) + ")");
  };
  // Gets batches until `want` rows arrived (or 20 s); their ids in order, the rows in `seen`.
  const auto fetch = [&](std::size_t want, std::vector<std::int64_t>& seen) {
    std::vector<std::int64_t> ids;
    testing::waitUntil(20s, [&] {
      auto m = connector->getWithoutAck(100, 200ms);
      if (m && m->id() != -1) {
        ids.push_back(m->id());
        for (auto v : testing::insertedValues(*m, "t")) seen.push_back(v);
      }
      return seen.size() >= want;
    });
    return ids;
  };

  ASSERT_TRUE(insert(1));
  std::vector<std::int64_t> seen;
  for (auto id : fetch(3, seen)) ASSERT_TRUE(connector->ack(id));
  ASSERT_EQ(seen, (std::vector<std::int64_t>{1, 2, 3}));
  const fs::path meta = dir.path() / "a" / "data" / "example" / "meta.dat";
  ASSERT_TRUE(fs::exists(meta));

  const fs::path blocker = meta.string() + ".tmp";
  ASSERT_TRUE(fs::create_directory(blocker));
  ASSERT_TRUE(insert(4));
  seen.clear();
  client::Status failed;
  for (auto id : fetch(3, seen)) {
    failed = connector->ack(id);
    if (!failed) break;
  }
  ASSERT_EQ(seen, (std::vector<std::int64_t>{4, 5, 6}));
  ASSERT_FALSE(failed.isOk()) << "an ack whose cursor was not written returned OK";
  EXPECT_NE(failed.message().find(blocker.string()), std::string::npos) << failed.toString() << "\n" << server.logTail();

  // The server is still up; the rows come again on the next connection and are acked then.
  fs::remove(blocker);
  seen.clear();
  const auto again = fetch(3, seen);
  ASSERT_EQ(seen, (std::vector<std::int64_t>{4, 5, 6})) << server.logTail();
  for (auto id : again) ASSERT_TRUE(connector->ack(id)) << server.logTail();
  connector->disconnect();

  server.kill();
  ASSERT_TRUE(server.start());
  connector = client::newSingleConnector(server.address(), "example", "", "", options);
  ASSERT_TRUE(subscribed()) << server.logTail();
  ASSERT_TRUE(insert(7));
  seen.clear();
  fetch(3, seen);
  EXPECT_EQ(seen, (std::vector<std::int64_t>{7, 8, 9})) << "acked rows came again after a restart";
  server.stop();
}

TEST_F(DurableServerTest, DefaultModeStandbyTakesOverAndTheClientFollows) {
  auto cluster = startHaCluster("canal-ha");
  if (!cluster) return;
  ServerProcess& a = *cluster->a;
  ServerProcess& b = *cluster->b;
  const auto runningAddress = [&] { return cluster->runningAddress(); };

  client::ConnectorOptions o;
  o.retries = 0;
  o.connectTimeout = 2s;
  o.soTimeout = 5s;
  o.confirmAcks = true;  // an ack that returned OK is recorded: such rows must never come again
  auto connector = client::newClusterConnector(client::ClusterSource::zooKeeper(cluster->zk->connectString()), "example", "",
                                               "", o);
  Workload work(*connector, db_.get());

  std::vector<double> takeovers;
  ServerProcess* running = &a;
  ServerProcess* standby = &b;
  for (int run = 0; run < 2; ++run) {
    ASSERT_TRUE(testing::waitUntil(20s, [&] { return work.consumed.distinct().size() > 100u * (run + 1); }))
        << running->logTail();
    const auto killed = Clock::now();
    running->kill();
    ASSERT_TRUE(testing::waitUntil(30s, [&] { return runningAddress() == standby->address(); }, 20ms))
        << standby->logTail();
    takeovers.push_back(std::chrono::duration<double>(Clock::now() - killed).count());
    ASSERT_TRUE(running->start());  // back as the standby
    std::swap(running, standby);
  }
  const Outcome outcome = work.finish();
  const Verdict& v = outcome.verdict;
  std::printf("[ figures ] default mode (2 servers + ZooKeeper): %zu takeovers in %.2f s and %.2f s "
              "(session timeout 4 s), %lld rows committed, lost %lld, duplicates %lld (of acked rows: %lld), "
              "out of order %lld\n",
              takeovers.size(), takeovers[0], takeovers[1], static_cast<long long>(outcome.last),
              static_cast<long long>(v.lost), static_cast<long long>(v.duplicates),
              static_cast<long long>(work.consumed.ackedAgain), static_cast<long long>(v.outOfOrder));
  EXPECT_TRUE(outcome.all) << a.logTail() << b.logTail();
  EXPECT_EQ(v.lost, 0);
  EXPECT_EQ(work.consumed.ackedAgain, 0);
  EXPECT_EQ(v.outOfOrder, 0);
  for (double t : takeovers) EXPECT_LT(t, 10.0);
  auto cursor = cluster->session->get("/otter/canal/destinations/example/1001/cursor");
  ASSERT_TRUE(cursor && *cursor);
  EXPECT_EQ((*cursor)->rfind("{\"@type\":\"com.alibaba.otter.canal.protocol.position.LogPosition\"", 0), 0u) << **cursor;
  a.stop();
  b.stop();
}

}  // namespace
}  // namespace canal
