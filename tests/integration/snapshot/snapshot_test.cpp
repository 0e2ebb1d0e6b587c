// Snapshots against a real MariaDB: rows read from the table arrive as the binlog would render
// them, and a consumer applying entries in order ends equal to the table while a writer changes
// it during the snapshot (inserts, updates, key changes, deletes).

#include "server/snapshot/snapshot_runner.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "canal/protocol/entry_protocol.pb.h"
#include "server/app/destination_parts.h"
#include "server/instance/destination.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"

namespace canal::snapshot {
namespace {

namespace eb = canal::protocol::entry;
using namespace std::chrono_literals;

bool isSnapshot(const eb::Entry& e) {
  for (const auto& p : e.header().props()) {
    if (p.key() == "snapshot") return p.value() == "true";
  }
  return false;
}

class SnapshotTest : public canal::testing::MariaDbTest {
 protected:
  void start() {
    instance::DestinationOptions o;
    o.name = "example";
    o.master = replicaLogin();
    o.dump.heartbeatSeconds = 1;
    auto created = app::makeDestination(o);
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    d_ = std::move(*created);
    d_->start();
    ASSERT_TRUE(testing::waitUntil(10s, [&] { return d_->following(); }));
    ASSERT_TRUE(d_->clients().subscribe(1001, "").isOk());
    runner_ = std::make_unique<SnapshotRunner>("example", replicaLogin(), d_->snapshots(), o.pump.render);
  }

  // Reads and acks one batch; false when it came empty.
  bool drain(const std::function<void(const eb::Entry&)>& visit) {
    auto batch = d_->clients().get(1001, 1000, store::GetWait{store::GetWait::Kind::kFor, 100ms});
    EXPECT_TRUE(batch.isOk()) << batch.status().toString();
    if (!batch.isOk() || batch->id == -1) return false;
    for (const std::string& bytes : batch->entries) {
      eb::Entry e;
      EXPECT_TRUE(e.ParseFromString(bytes));
      visit(e);
    }
    EXPECT_TRUE(d_->clients().ack(1001, batch->id).isOk());
    return true;
  }

  void TearDown() override {
    runner_.reset();
    if (d_) d_->stop();
  }

  std::unique_ptr<instance::Destination> d_;
  std::unique_ptr<SnapshotRunner> runner_;
};

// The table as a consumer rebuilds it: key -> the row's values (NULL as "\\N").
using Rows = std::map<std::string, std::vector<std::string>>;

std::vector<std::string> valuesOf(const google::protobuf::RepeatedPtrField<eb::Column>& columns) {
  std::vector<std::string> out;
  for (const auto& c : columns) out.push_back(c.isnull() ? "\\N" : c.value());
  return out;
}

void apply(const eb::Entry& e, const std::string& table, Rows& rows, std::size_t& snapshotRows) {
  if (e.entrytype() != eb::ROWDATA || e.header().tablename() != table) return;
  eb::RowChange rc;
  ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
  if (rc.isddl()) return;
  for (const auto& row : rc.rowdatas()) {
    if (rc.eventtype() == eb::DELETE || rc.eventtype() == eb::UPDATE) rows.erase(row.beforecolumns(0).value());
    if (rc.eventtype() == eb::INSERT || rc.eventtype() == eb::UPDATE) {
      rows[row.aftercolumns(0).value()] = valuesOf(row.aftercolumns());
    }
    if (isSnapshot(e)) ++snapshotRows;
  }
}

TEST_F(SnapshotTest, AConsumerApplyingEntriesInOrderEndsEqualToTheTableWhileAWriterRuns) {
  constexpr int kRows = 200000;
  ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE(db_->execute("CREATE TABLE s.t (id INT PRIMARY KEY, v VARCHAR(32), n INT)").isOk());
  for (int from = 1; from <= kRows; from += 5000) {
    std::string sql = "INSERT INTO s.t VALUES ";
    for (int id = from; id < from + 5000; ++id) {
      sql += (id > from ? "," : "") + std::string("(") + std::to_string(id) + ",'v" + std::to_string(id) + "'," +
             std::to_string(id % 7) + ")";
    }
    ASSERT_TRUE(db_->execute(sql).isOk());
  }
  start();
  ASSERT_FALSE(HasFatalFailure());

  std::atomic<bool> writing{true};
  std::atomic<int> writes{0};
  std::atomic<int> near{1};  // where the snapshot is: most writes go to the chunks it reads next
  const auto writer = [&](unsigned seed) {
    std::mt19937 random(seed);
    while (writing) {
      const int id = random() % 4 == 0 ? static_cast<int>(random() % (kRows + 2000)) + 1
                                        : near.load() + static_cast<int>(random() % 6000);
      std::string sql;
      switch (random() % 5) {
        case 0: sql = "INSERT IGNORE INTO s.t VALUES (" + std::to_string(id) + ", 'new', 1)"; break;
        case 1: sql = "DELETE FROM s.t WHERE id = " + std::to_string(id); break;
        case 2: sql = "UPDATE IGNORE s.t SET id = " + std::to_string(id + 1000000) + " WHERE id = " + std::to_string(id); break;
        default: sql = "UPDATE s.t SET v = 'w" + std::to_string(writes.load()) + "', n = n + 1 WHERE id = " + std::to_string(id);
      }
      if (db_->execute(sql).isOk()) ++writes;
    }
  };
  std::vector<std::thread> writers;
  for (unsigned seed = 1; seed <= 4; ++seed) writers.emplace_back(writer, seed);
  SnapshotRequest request;
  request.tables = {{"s", "t"}};
  request.chunkSize = 2000;
  auto id = runner_->start(request);
  ASSERT_TRUE(id.isOk()) << id.status().toString();

  Rows rows;
  std::size_t snapshotRows = 0;
  const auto deadline = std::chrono::steady_clock::now() + 180s;
  while (runner_->progress()->state == "running" && std::chrono::steady_clock::now() < deadline) {
    drain([&](const eb::Entry& e) { apply(e, "t", rows, snapshotRows); });
    const auto p = runner_->progress();
    near = static_cast<int>(p->tables[0].rows + p->tables[0].dropped) + 1;
  }
  writing = false;
  for (auto& w : writers) w.join();
  const auto progress = runner_->progress();
  ASSERT_EQ(progress->state, "done") << progress->toJson();
  ASSERT_TRUE(db_->execute("CREATE TABLE s.marker (id INT)").isOk());
  bool marker = false;
  while (!marker && std::chrono::steady_clock::now() < deadline) {
    drain([&](const eb::Entry& e) {
      if (e.header().tablename() == "marker") marker = true;
      apply(e, "t", rows, snapshotRows);
    });
  }
  ASSERT_TRUE(marker);

  auto table = db_->query("SELECT id, v, n FROM s.t");
  ASSERT_TRUE(table.isOk());
  Rows expected;
  for (const auto& row : *table) expected[*row[0]] = {*row[0], row[1].value_or("\\N"), row[2].value_or("\\N")};
  std::printf("[ figures ] %d rows, %d writes during the snapshot; %zu snapshot rows put, %llu dropped, %llu chunks\n",
              kRows, writes.load(), snapshotRows,
              static_cast<unsigned long long>(progress->tables[0].dropped),
              static_cast<unsigned long long>(progress->chunks));
  EXPECT_GT(writes.load(), 100) << "the writer ran during the snapshot";
  EXPECT_GT(snapshotRows, static_cast<std::size_t>(kRows / 2));
  EXPECT_EQ(rows.size(), expected.size());
  std::size_t different = 0;
  for (const auto& [key, values] : expected) {
    const auto it = rows.find(key);
    if (it == rows.end() || it->second != values) {
      if (++different <= 5) ADD_FAILURE() << "row " << key << " differs";
    }
  }
  EXPECT_EQ(different, 0u);
}

}  // namespace
}  // namespace canal::snapshot
