// Snapshots of a real MariaDB's tables chunk by chunk, one reader or several by key range: a
// composite key of text and number covered without gaps under a writer, an ALTER that voids the
// chunks read under the old definition, a cancel between chunks.

#include <gtest/gtest.h>

#include "tests/integration/snapshot/snapshot_fixture.h"

namespace canal::snapshot::test {
namespace {

// The parameter: chunks read at once (SnapshotRequest::parallel).
class SnapshotChunkingTest : public SnapshotTest, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(SnapshotChunkingTest, ACompositeKeyOfTextAndNumberIsChunkedWithoutGapsWhileAWriterRuns) {
  ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE(db_->execute("CREATE TABLE s.c (a INT NOT NULL, b VARCHAR(16) NOT NULL, v INT, PRIMARY KEY (b, a)) "
                           "DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci").isOk());
  const std::vector<std::string> names = {"alpha", "Beta", "\xc3\xa9t\xc3\xa9", "zulu", "Zeta", "mu"};
  std::string sql = "INSERT INTO s.c VALUES ";
  for (int a = 0; a < 3000; ++a) {
    for (std::size_t n = 0; n < names.size(); ++n) {
      sql += (a || n ? "," : "") + std::string("(") + std::to_string(a) + ",'" + names[n] + "'," + std::to_string(a) + ")";
    }
  }
  ASSERT_TRUE(db_->execute(sql).isOk());
  start();
  ASSERT_FALSE(HasFatalFailure());
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    std::mt19937 random(11);
    while (writing) {
      const std::string a = std::to_string(random() % 3000);
      const std::string b = names[random() % names.size()];
      switch (random() % 3) {
        case 0: static_cast<void>(db_->execute("DELETE FROM s.c WHERE a = " + a + " AND b = '" + b + "'")); break;
        case 1: static_cast<void>(db_->execute("INSERT IGNORE INTO s.c VALUES (" + a + ", '" + b + "', -1)")); break;
        default: static_cast<void>(db_->execute("UPDATE s.c SET v = v + 1 WHERE a = " + a + " AND b = '" + b + "'"));
      }
    }
  });
  SnapshotRequest request;
  request.tables = {{"s", "c"}};
  request.chunkSize = 700;
  request.parallel = GetParam();
  ASSERT_TRUE(runner_->start(request).isOk());
  std::map<std::string, std::string> rows;  // "a/b" -> v
  const auto applyRow = [&](const eb::Entry& e) {
    if (e.entrytype() != eb::ROWDATA || e.header().tablename() != "c") return;
    eb::RowChange rc;
    ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
    for (const auto& row : rc.rowdatas()) {
      if (row.beforecolumns_size()) rows.erase(row.beforecolumns(0).value() + "/" + row.beforecolumns(1).value());
      if (row.aftercolumns_size()) {
        rows[row.aftercolumns(0).value() + "/" + row.aftercolumns(1).value()] = row.aftercolumns(2).value();
      }
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (runner_->progress()->state == "running" && std::chrono::steady_clock::now() < deadline) drain(applyRow);
  writing = false;
  writer.join();
  ASSERT_EQ(runner_->progress()->state, "done") << runner_->progress()->toJson();
  drainThroughMarker([&](const eb::Entry& e) { applyRow(e); });
  auto table = db_->query("SELECT a, b, v FROM s.c");
  ASSERT_TRUE(table.isOk());
  std::map<std::string, std::string> expected;
  for (const auto& row : *table) expected[*row[0] + "/" + *row[1]] = row[2].value_or("\\N");
  EXPECT_EQ(rows.size(), expected.size());
  EXPECT_TRUE(rows == expected);
}

// An ALTER while a table is snapshotted: no chunk read under the old definition comes after the
// ALTER in the stream, and the rows still end equal to the table.
TEST_P(SnapshotChunkingTest, AnAlterDuringTheSnapshotVoidsTheChunkReadUnderTheOldDefinition) {
  ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE(db_->execute("CREATE TABLE s.a (id INT PRIMARY KEY, v INT)").isOk());
  std::string sql = "INSERT INTO s.a VALUES ";
  for (int id = 1; id <= 40000; ++id) sql += (id > 1 ? ",(" : "(") + std::to_string(id) + "," + std::to_string(id) + ")";
  ASSERT_TRUE(db_->execute(sql).isOk());
  start();
  ASSERT_FALSE(HasFatalFailure());
  SnapshotRequest request;
  request.tables = {{"s", "a"}};
  request.chunkSize = 500;
  request.rowsPerSecond = 20000;  // about two seconds: the ALTERs land in the middle
  request.parallel = GetParam();
  ASSERT_TRUE(runner_->start(request).isOk());
  std::size_t columns = 2;   // of the definition in force at this point of the stream
  int badChunks = 0;
  std::map<std::string, std::string> rows;  // id -> v
  bool altered = false;
  const auto applyRow = [&](const eb::Entry& e) {
    if (e.entrytype() != eb::ROWDATA || e.header().tablename() != "a") return;
    eb::RowChange rc;
    ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
    if (rc.isddl()) {
      columns = rc.sql().find("ADD") != std::string::npos ? 3 : 2;
      return;
    }
    for (const auto& row : rc.rowdatas()) {
      if (isSnapshot(e) && static_cast<std::size_t>(row.aftercolumns_size()) != columns) ++badChunks;
      if (row.beforecolumns_size()) rows.erase(row.beforecolumns(0).value());
      if (row.aftercolumns_size()) rows[row.aftercolumns(0).value()] = row.aftercolumns(1).value();
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (runner_->progress()->state == "running" && std::chrono::steady_clock::now() < deadline) {
    drain(applyRow);
    const auto p = runner_->progress();
    if (!altered && p->tables[0].rows > 10000) {
      ASSERT_TRUE(db_->execute("ALTER TABLE s.a ADD COLUMN extra INT DEFAULT 7 AFTER id").isOk());
      ASSERT_TRUE(db_->execute("UPDATE s.a SET v = -v WHERE id % 1000 = 0").isOk());
      altered = true;
    }
  }
  ASSERT_TRUE(altered);
  ASSERT_EQ(runner_->progress()->state, "done") << runner_->progress()->toJson();
  drainThroughMarker([&](const eb::Entry& e) { applyRow(e); });
  EXPECT_EQ(badChunks, 0) << "snapshot rows with another column count than the definition in force";
  auto table = db_->query("SELECT id, v FROM s.a");
  ASSERT_TRUE(table.isOk());
  std::size_t different = 0;
  for (const auto& row : *table) {
    const auto it = rows.find(*row[0]);
    // After the ALTER the second column is `extra`: compare v where the row's entry had it.
    if (it == rows.end()) ++different;
  }
  EXPECT_EQ(different, 0u);
  EXPECT_EQ(rows.size(), table->size());
}

INSTANTIATE_TEST_SUITE_P(OneOrFourReaders, SnapshotChunkingTest, ::testing::Values(1, 4));

// A cancelled snapshot stops between chunks; the stream goes on as before.
TEST_F(SnapshotTest, ACancelledSnapshotLeavesTheStreamGoingOn) {
  ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE(db_->execute("CREATE TABLE s.k (id INT PRIMARY KEY)").isOk());
  std::string sql = "INSERT INTO s.k VALUES ";
  for (int id = 1; id <= 20000; ++id) sql += (id > 1 ? ",(" : "(") + std::to_string(id) + ")";
  ASSERT_TRUE(db_->execute(sql).isOk());
  start();
  ASSERT_FALSE(HasFatalFailure());
  SnapshotRequest request;
  request.tables = {{"s", "k"}};
  request.chunkSize = 100;
  request.rowsPerSecond = 1000;  // twenty seconds unless cancelled
  ASSERT_TRUE(runner_->start(request).isOk());
  std::size_t snapshotRows = 0;
  bool liveRow = false;
  const auto count = [&](const eb::Entry& e) {
    if (e.entrytype() != eb::ROWDATA || e.header().tablename() != "k") return;
    eb::RowChange rc;
    ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
    if (isSnapshot(e)) snapshotRows += static_cast<std::size_t>(rc.rowdatas_size());
    else if (rc.rowdatas_size() && rc.rowdatas(0).aftercolumns(0).value() == "30000") liveRow = true;
  };
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (snapshotRows < 300 && std::chrono::steady_clock::now() < deadline) drain(count);
  runner_->cancel();
  runner_->wait();
  EXPECT_EQ(runner_->progress()->state, "cancelled");
  ASSERT_TRUE(db_->execute("INSERT INTO s.k VALUES (30000)").isOk());
  while (!liveRow && std::chrono::steady_clock::now() < deadline) drain(count);
  EXPECT_TRUE(liveRow);
  EXPECT_LT(snapshotRows, 20000u);
  EXPECT_EQ(snapshotRows % 100, 0u) << "whole chunks only";
  EXPECT_TRUE(d_->streamError().isOk());
  SnapshotRequest again = request;
  again.rowsPerSecond = 0;
  EXPECT_TRUE(runner_->start(again).isOk()) << "another snapshot can start";
}

}  // namespace
}  // namespace canal::snapshot::test
