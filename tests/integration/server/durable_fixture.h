#pragma once

// The durable-mode tests' workload, verdict and fixture: a writer of rows (k, v), what a client
// consumed, the checks (every committed row, no acked row again, per-key order) and canal-server
// processes in file or default mode on a real MariaDB (and ZooKeeper).

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
inline void consume(client::CanalConnector& connector, Consumed& out, const std::atomic<bool>& stop) {
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
inline std::int64_t writeRows(testing::MariaDbServer& db, const std::atomic<bool>& stop) {
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

inline Verdict judge(Consumed& c, std::int64_t last) {
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
inline bool drained(Consumed& c, std::int64_t last) {
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

}  // namespace canal
