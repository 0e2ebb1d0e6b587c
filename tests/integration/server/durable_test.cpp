// The canal-server binary in its durable modes against real MariaDB (and ZooKeeper): rows are
// written continuously while the server is killed with SIGKILL at random points and started
// again (file-instance.xml), or while the running server of an active/standby pair is killed
// (default-instance.xml); a client consumes through the SDK with getWithoutAck/ack. Checked:
// every committed row arrives, no row whose ack returned OK arrives again, rows of one key
// arrive in commit order. The figures (runs, rows, duplicates, takeover time) are printed.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "canal/client/canal_connector.h"
#include "server/common/zookeeper_session.h"
#include "tests/support/background_writer.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/ha_cluster.h"
#include "tests/support/inserted_rows.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/zookeeper_server.h"

namespace canal {
namespace {

using ServerProcess = testing::CanalServerProcess;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The rows of s.t (k, v) a client saw, and what the checks need.
struct Consumed {
  std::mutex mutex;
  std::vector<std::int64_t> arrivals;  // v, in arrival order, every delivery
  std::set<std::int64_t> acked;        // v of rows in batches whose ack returned OK
  std::int64_t ackedAgain = 0;         // arrivals of rows already acked
  std::int64_t batches = 0;
  std::int64_t emptyGets = 0;  // gets that found nothing: everything before was acked
  Clock::time_point lastArrival{};

  std::set<std::int64_t> distinct() {
    std::lock_guard<std::mutex> lock(mutex);
    return {arrivals.begin(), arrivals.end()};
  }
};

// getWithoutAck / ack in a loop until `stop`, reconnecting whenever the server is gone.
void consume(client::CanalConnector& connector, Consumed& out, const std::atomic<bool>& stop) {
  bool connected = false;
  while (!stop) {
    if (!connected) {
      connected = connector.connect() && connector.subscribe();
      if (!connected) {
        connector.disconnect();
        std::this_thread::sleep_for(100ms);
      }
      continue;
    }
    auto m = connector.getWithoutAck(8, 200ms);
    if (!m) {
      connector.disconnect();
      connected = false;
      continue;
    }
    if (m->id() == -1) {
      std::lock_guard<std::mutex> lock(out.mutex);
      ++out.emptyGets;
      continue;
    }
    const auto rows = testing::insertedValues(*m, "t");
    {
      std::lock_guard<std::mutex> lock(out.mutex);
      for (std::int64_t v : rows) {
        if (out.acked.count(v)) ++out.ackedAgain;
        out.arrivals.push_back(v);
      }
      ++out.batches;
      if (!rows.empty()) out.lastArrival = Clock::now();
    }
    if (connector.ack(m->id())) {
      std::lock_guard<std::mutex> lock(out.mutex);
      out.acked.insert(rows.begin(), rows.end());
    }
  }
}

// Inserts 3 rows per transaction (v = 1, 2, ...; k = v % 7) until `stop`; returns the last v.
std::int64_t writeRows(testing::MariaDbServer& db, const std::atomic<bool>& stop) {
  std::int64_t v = 0;
  while (!stop) {
    std::string sql = "INSERT INTO s.t (k, v) VALUES ";
    for (int i = 0; i < 3; ++i) {
      ++v;
      sql += (i ? ",(" : "(") + std::to_string(v % 7) + "," + std::to_string(v) + ")";
    }
    if (!db.execute(sql).isOk()) {
      v -= 3;
      std::this_thread::sleep_for(20ms);
      continue;
    }
  }
  return v;
}

struct Verdict {
  std::int64_t lost = 0;
  std::int64_t duplicates = 0;  // deliveries beyond the first
  std::int64_t outOfOrder = 0;  // first arrivals of a key not in commit order
};

Verdict judge(Consumed& c, std::int64_t last) {
  std::lock_guard<std::mutex> lock(c.mutex);
  Verdict v;
  std::set<std::int64_t> seen;
  std::map<std::int64_t, std::int64_t> lastPerKey;
  for (std::int64_t x : c.arrivals) {
    if (!seen.insert(x).second) {
      ++v.duplicates;
      continue;
    }
    auto& prev = lastPerKey[x % 7];
    if (x < prev) ++v.outOfOrder;
    prev = x;
  }
  for (std::int64_t x = 1; x <= last; ++x) v.lost += seen.count(x) ? 0 : 1;
  return v;
}

// Waits until every row up to `last` arrived (or 60 s).
bool drained(Consumed& c, std::int64_t last) {
  return testing::waitUntil(60s, [&] {
    const auto d = c.distinct();
    return !d.empty() && *d.rbegin() >= last && static_cast<std::int64_t>(d.size()) >= last;
  }, 100ms);
}

struct Outcome {
  std::int64_t last = 0;  // rows committed: v = 1..last
  bool all = false;       // every one of them arrived
  Verdict verdict;
};

// A consumer acking through `connector` and, with `writeTo`, a writer inserting rows into it,
// each on a thread of its own (stopped and joined on destruction, also when a test fails early).
class Workload {
 public:
  Workload(client::CanalConnector& connector, testing::MariaDbServer* writeTo) {
    consumer_ = std::thread([this, &connector] { consume(connector, consumed, stopConsumer_); });
    if (writeTo) writer_ = std::thread([this, writeTo] { last_ = writeRows(*writeTo, stopWriter_); });
  }
  ~Workload() {
    stopWriter_ = stopConsumer_ = true;
    if (writer_.joinable()) writer_.join();
    if (consumer_.joinable()) consumer_.join();
  }
  // Stops writing (after half a second more) and waits until every row up to the last written
  // — or up to `rows` without a writer — arrived; then stops consuming and judges the arrivals.
  Outcome finish(std::int64_t rows = 0) {
    Outcome o;
    o.last = rows;
    if (writer_.joinable()) {
      std::this_thread::sleep_for(500ms);
      stopWriter_ = true;
      writer_.join();
      o.last = last_;
    }
    o.all = drained(consumed, o.last);
    stopConsumer_ = true;
    consumer_.join();
    o.verdict = judge(consumed, o.last);
    return o;
  }

  Consumed consumed;

 private:
  std::atomic<bool> stopConsumer_{false};
  std::atomic<bool> stopWriter_{false};
  std::int64_t last_ = 0;
  std::thread consumer_;
  std::thread writer_;
};

class DurableServerTest : public testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s; CREATE TABLE s.t (id INT AUTO_INCREMENT PRIMARY KEY, k INT, v BIGINT)"));
    auto end = db_->binlogEnd();
    ASSERT_TRUE(end) << end.status().toString();
    journal_ = end->file;
    position_ = std::to_string(end->position);
  }

  std::unique_ptr<client::CanalConnector> single(const ServerProcess& s) {
    client::ConnectorOptions o;
    o.retries = 0;
    o.connectTimeout = 2s;
    o.soTimeout = 5s;
    o.confirmAcks = true;  // an ack that returned OK is recorded: such rows must never come again
    return client::newSingleConnector(s.address(), "example", "", "", o);
  }

  // Inserts rows with v = from..to.
  void insert(int from, int to) {
    std::string sql = "INSERT INTO s.t (k, v) VALUES ";
    for (int v = from; v <= to; ++v) sql += (v > from ? ",(" : "(") + std::to_string(v % 7) + "," + std::to_string(v) + ")";
    ASSERT_TRUE(db_->execute(sql));
  }

  // Every row up to `last` acked, and the transaction's end too (meta.dat's cursor moves with
  // it): a get after that found nothing.
  static bool ackedThrough(Workload& work, std::int64_t last) {
    std::int64_t empty = 0;
    return testing::waitUntil(30s, [&] {
      std::lock_guard<std::mutex> lock(work.consumed.mutex);
      const bool rows = !work.consumed.acked.empty() && *work.consumed.acked.rbegin() >= last &&
                        static_cast<std::int64_t>(work.consumed.acked.size()) >= last;
      if (!rows) empty = work.consumed.emptyGets;
      return rows && work.consumed.emptyGets > empty;
    }, 20ms);
  }

  // The store directory replaced by the copy `then` while the server is down, then the server
  // started, two more rows written and everything read to the end: the store is not used, and
  // no acked row comes again.
  void expectAPutBackStoreDroppedAndNothingAckedAgain(ServerProcess& server, Workload& work, const fs::path& store,
                                                      const fs::path& then, int rows) {
    server.stop();
    fs::remove_all(store);
    fs::copy(then, store, fs::copy_options::recursive);
    ASSERT_TRUE(server.start());
    insert(rows + 1, rows + 2);
    const Outcome o = work.finish(rows + 2);
    EXPECT_TRUE(o.all) << server.logTail();
    EXPECT_EQ(o.verdict.lost, 0);
    EXPECT_EQ(work.consumed.ackedAgain, 0) << "rows acked before the store was put back came again";
    EXPECT_NE(server.logTail().find("the local store is behind the meta.dat cursor"), std::string::npos)
        << server.logTail();
  }

  // The verdict of a snapshot interrupted after `beforeKill` of `rows` rows: every row arrived,
  // at most `maxAgain` acked rows came again, and the server said it went on after the last
  // chunk recorded (not from the start).
  static void expectResumed(const char* what, Consumed& consumed, std::size_t beforeKill, int rows,
                            std::int64_t maxAgain, const std::string& log) {
    const auto distinct = consumed.distinct();
    std::printf("[ figures ] %s, snapshot of %d rows interrupted after %zu: %zu distinct rows at the end, %zu "
                "deliveries, %lld acked rows again\n",
                what, rows, beforeKill, distinct.size(), consumed.arrivals.size(),
                static_cast<long long>(consumed.ackedAgain));
    EXPECT_LT(beforeKill, static_cast<std::size_t>(rows)) << "the kill came before the snapshot ended";
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(rows));
    EXPECT_EQ(*distinct.begin(), 1);
    EXPECT_EQ(*distinct.rbegin(), rows);
    EXPECT_LE(consumed.ackedAgain, maxAgain);
    EXPECT_NE(log.find("goes on at table s.t (after the last chunk recorded)"), std::string::npos) << log;
  }
  // Rows v = 1..rows into s.t, for the snapshot tests.
  void insertRows(int rows) {
    for (int from = 1; from <= rows; from += 5000) {
      std::string sql = "INSERT INTO s.t (k, v) VALUES ";
      for (int v = from; v < std::min(rows + 1, from + 5000); ++v) {
        sql += (v > from ? ",(" : "(") + std::to_string(v % 7) + "," + std::to_string(v) + ")";
      }
      ASSERT_TRUE(db_->execute(sql));
    }
  }
  // An initial snapshot of s.t in chunks of `chunk` rows at 8000 rows/s, for the server under `root`.
  static void configureSnapshot(const std::filesystem::path& root, int chunk, const std::string& more = "") {
    std::ofstream(root / "conf" / "example" / "instance.properties", std::ios::app)
        << more << "canal.instance.snapshot.mode = initial\ncanal.instance.snapshot.tables = s.t\n"
        << "canal.instance.snapshot.chunk.size = " << chunk << "\ncanal.instance.snapshot.rows.per.second = 8000\n";
  }
  // A transaction every 20 ms into s.w (created here): a client's cursor moves with them, as
  // snapshot rows do not move it.
  std::unique_ptr<testing::HaCluster> startHaCluster(const std::string& name, int sessionTimeoutMs = 4000) {
    auto c = testing::HaCluster::start(CANAL_SERVER_BINARY, name, db_->port(), sessionTimeoutMs, journal_, position_);
    EXPECT_TRUE(c) << c.status().toString();
    return c ? std::move(*c) : nullptr;
  }

  std::unique_ptr<testing::BackgroundWriter> tickWriter() {
    EXPECT_TRUE(db_->execute("CREATE TABLE s.w (id INT AUTO_INCREMENT PRIMARY KEY, n INT)"));
    return std::make_unique<testing::BackgroundWriter>(
        *db_, 1, [](std::mt19937&) { return std::string("INSERT INTO s.w (n) VALUES (1)"); }, 20ms);
  }

  std::string journal_;
  std::string position_;
};

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

namespace canal {
namespace {

// Configuration errors of the durable modes stop the server with a message naming the cause.
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
