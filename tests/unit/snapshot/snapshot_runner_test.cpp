// The snapshot runner without a database: a table source holding rows of its own, a real
// SnapshotGate whose stream the test moves on, and what the gate puts collected. Chunks cover
// the table once, in key order; a resumed snapshot goes on after the key its progress names; a
// DDL the stream passes while a chunk is in flight makes it read again; a cancel ends it.

#include "server/snapshot/snapshot_runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <set>
#include <map>
#include <mutex>
#include <thread>

namespace canal::snapshot {
namespace {

// s.t (id INT PRIMARY KEY, v VARCHAR(10)) with the rows the test puts in.
class FakeTable final : public TableSource {
 public:
  struct Shared {
    std::mutex mutex;
    std::map<int, std::string> rows;
    std::uint64_t position = 1000;  // where the primary's binlog is
    int reads = 0;
    int sources = 0;  // made by the factory
    std::function<void()> duringRead;  // runs inside each read
  };
  explicit FakeTable(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  Status prepare() override { return Status::ok(); }
  Result<std::vector<std::string>> key(const std::string& database, const std::string& table) override {
    if (database != "s" || table != "t") return Status::invalidArgument(database + "." + table + " has no key");
    return std::vector<std::string>{"id"};
  }
  Result<std::shared_ptr<const schema::TableSchema>> definition(const std::string&, const std::string&) override {
    auto t = std::make_shared<schema::TableSchema>();
    t->database = "s";
    t->table = "t";
    schema::ColumnSchema id;
    id.name = "id";
    id.dataType = "int";
    id.columnType = "int(11)";
    id.isPrimaryKey = true;
    schema::ColumnSchema v;
    v.name = "v";
    v.dataType = "varchar";
    v.columnType = "varchar(10)";
    v.charset = "utf8mb4";
    t->columns = {id, v};
    return std::shared_ptr<const schema::TableSchema>(std::move(t));
  }
  std::optional<std::uint64_t> estimatedRows(const std::string&, const std::string&) override {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    return shared_->rows.size();
  }
  std::uint32_t serverId() override { return 7; }
  bool isMariaDb() const override { return true; }
  Result<instance::StreamPoint> readChunk(const ChunkQuery& query, const std::optional<instance::StreamPoint>&,
                                          const ColumnsCallback& onColumns, const RowCallback& onRow) override {
    std::function<void()> during;
    {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      ++shared_->reads;
      during = shared_->duringRead;
    }
    if (during) during();
    std::lock_guard<std::mutex> lock(shared_->mutex);
    CANAL_RETURN_IF_ERROR(onColumns(2));
    auto it = first(query);
    for (std::size_t n = 0; it != shared_->rows.end() && (query.limit == 0 || n < query.limit) && inRange(query, it->first);
         ++it, ++n) {
      const std::string id = std::to_string(it->first);
      CANAL_RETURN_IF_ERROR(onRow({std::string_view(id), std::string_view(it->second)}));
    }
    return instance::StreamPoint{"mysql-bin.000001", shared_->position};
  }
  Result<std::optional<std::vector<std::string>>> boundary(const ChunkQuery& query) override {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    auto it = first(query);
    for (std::size_t n = 1; it != shared_->rows.end() && n < query.limit; ++n) ++it;
    if (it == shared_->rows.end()) return std::optional<std::vector<std::string>>();
    return std::optional<std::vector<std::string>>(std::vector<std::string>{std::to_string(it->first)});
  }

 private:
  std::map<int, std::string>::iterator first(const ChunkQuery& query) {
    return query.after && *query.after ? shared_->rows.upper_bound(std::stoi((**query.after)[0])) : shared_->rows.begin();
  }
  static bool inRange(const ChunkQuery& query, int id) {
    return !query.upTo || !*query.upTo || id <= std::stoi((**query.upTo)[0]);
  }
  std::shared_ptr<Shared> shared_;
};

class SnapshotRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 1; i <= 10; ++i) table_->rows[i] = "v" + std::to_string(i);
    gate_.setPut([this](convert::ChangeEntry& e, const std::string& progress) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& r : e.rows) put_.push_back(r.after[0].text.value + "=" + r.after[1].text.value);
      progresses_.push_back(progress);
      return Status::ok();
    });
    // The stream moves on between transactions, as the pump would move it.
    stream_ = std::thread([this] {
      while (!stopStream_) {
        {
          auto lock = gate_.lockForEvent();
          std::lock_guard<std::mutex> tableLock(table_->mutex);
          gate_.atPoint("mysql-bin.000001", ++table_->position, false);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    runner_ = std::make_unique<SnapshotRunner>(
        "example",
        [shared = table_]() -> Result<std::unique_ptr<TableSource>> {
          std::lock_guard<std::mutex> lock(shared->mutex);
          ++shared->sources;
          return std::unique_ptr<TableSource>(new FakeTable(shared));
        },
        gate_, convert::RenderOptions{});
  }
  void TearDown() override {
    runner_.reset();
    stopStream_ = true;
    stream_.join();
  }
  SnapshotRequest request(std::size_t chunkSize, std::size_t parallel = 1) {
    SnapshotRequest r;
    r.tables = {{"s", "t"}};
    r.chunkSize = chunkSize;
    r.parallel = parallel;
    return r;
  }
  std::vector<std::string> put() {
    std::lock_guard<std::mutex> lock(mutex_);
    return put_;
  }

  std::shared_ptr<FakeTable::Shared> table_ = std::make_shared<FakeTable::Shared>();
  instance::SnapshotGate gate_;
  std::mutex mutex_;
  std::vector<std::string> put_;
  std::vector<std::string> progresses_;
  std::atomic<bool> stopStream_{false};
  std::thread stream_;
  std::unique_ptr<SnapshotRunner> runner_;
};

std::vector<std::string> rows(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(std::to_string(i) + "=v" + std::to_string(i));
  return out;
}

TEST_F(SnapshotRunnerTest, ChunksCoverTheTableOnceInKeyOrder) {
  auto id = runner_->start(request(3));
  ASSERT_TRUE(id.isOk()) << id.status().toString();
  runner_->wait();
  const auto p = runner_->progress();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->state, "done") << p->toJson();
  EXPECT_EQ(put(), rows(1, 10));
  EXPECT_EQ(p->chunks, 4u) << "3 + 3 + 3 + 1 rows";
  EXPECT_EQ(p->tables[0].rows, 10u);
  EXPECT_EQ(p->tables[0].estimated, 10u);
  EXPECT_TRUE(p->tables[0].done);
}

TEST_F(SnapshotRunnerTest, ParallelRangesAreReadAtOnceAndPutOnceInKeyOrder) {
  // The first read waits until another reader has started: the ranges are read at once.
  std::mutex m;
  std::condition_variable cv;
  int inRead = 0;
  bool overlapped = false;
  table_->duringRead = [&] {
    std::unique_lock<std::mutex> lock(m);
    if (++inRead > 1) overlapped = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return overlapped; });
    --inRead;
  };
  ASSERT_TRUE(runner_->start(request(3, 3)).isOk());
  runner_->wait();
  const auto p = runner_->progress();
  EXPECT_EQ(p->state, "done") << p->toJson();
  EXPECT_TRUE(overlapped) << "no two ranges were read at once";
  EXPECT_EQ(put(), rows(1, 10));
  EXPECT_EQ(p->chunks, 4u) << "ranges of 3 + 3 + 3 rows, then the rest";
  EXPECT_EQ(table_->sources, 1 + 1 + 3) << "the request's check, the range planner and three readers";
  ASSERT_GE(progresses_.size(), 4u);
  EXPECT_NE(progresses_[0].find(R"("after":["33"])"), std::string::npos) << progresses_[0] << " (hex of \"3\")";
}

TEST_F(SnapshotRunnerTest, RowsInsertedInsideAndAfterTheRangesWhileTheyAreReadAreAllPut) {
  // Even ids 2..20 when the ranges are planned; the first read brings every odd id up to 39:
  // planned ranges then hold more rows than a chunk, and the range to the end a full chunk.
  table_->rows.clear();
  for (int i = 2; i <= 20; i += 2) table_->rows[i] = "v" + std::to_string(i);
  // call_once: a reader that comes second waits until the odd ids are in, so no read sees the table
  // before them.
  std::once_flag once;
  table_->duringRead = [&] {
    std::call_once(once, [&] {
      std::lock_guard<std::mutex> lock(table_->mutex);
      for (int i = 1; i <= 39; i += 2) table_->rows[i] = "v" + std::to_string(i);
    });
  };
  ASSERT_TRUE(runner_->start(request(3, 2)).isOk());
  runner_->wait();
  EXPECT_EQ(runner_->progress()->state, "done") << runner_->progress()->toJson();
  auto expected = rows(1, 20);
  for (int i = 21; i <= 39; i += 2) expected.push_back(std::to_string(i) + "=v" + std::to_string(i));
  const auto got = put();
  std::vector<std::string> sorted = got;
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), got.size()) << "a row put twice";
  std::sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) { return std::stoi(a) < std::stoi(b); });
  EXPECT_EQ(sorted, expected);
  EXPECT_EQ(got, sorted) << "ranges are put in key order";
}

TEST_F(SnapshotRunnerTest, AResumedSnapshotGoesOnAfterTheKeyItsProgressNames) {
  ASSERT_TRUE(runner_->start(request(4)).isOk());
  runner_->wait();
  ASSERT_GE(progresses_.size(), 2u);
  const std::string afterFirstChunk = progresses_[0];  // what a restart after the first chunk finds
  {
    std::lock_guard<std::mutex> lock(mutex_);
    put_.clear();
  }
  auto resumed = runner_->resume(afterFirstChunk);
  ASSERT_TRUE(resumed.isOk()) << resumed.status().toString();
  runner_->wait();
  EXPECT_EQ(runner_->progress()->state, "done");
  EXPECT_TRUE(runner_->progress()->resumed);
  EXPECT_EQ(put(), rows(5, 10));
}

class SnapshotRunnerDdlTest : public SnapshotRunnerTest, public ::testing::WithParamInterface<std::size_t> {};

TEST_P(SnapshotRunnerDdlTest, ADdlTheStreamPassesWhileAChunkIsReadMakesItReadAgain) {
  std::atomic<bool> once{false};
  table_->duringRead = [&] {
    if (once.exchange(true)) return;
    // The stream carries a DDL on the table while the first chunk is read.
    convert::ChangeEntry ddl;
    ddl.kind = convert::EntryKind::kRowData;
    ddl.isDdl = true;
    ddl.schema = "s";
    ddl.table = "t";
    auto lock = gate_.lockForEvent();
    gate_.noteEntry(ddl);
  };
  ASSERT_TRUE(runner_->start(request(5, GetParam())).isOk());
  runner_->wait();
  const auto p = runner_->progress();
  EXPECT_EQ(p->state, "done") << p->toJson();
  EXPECT_EQ(put(), rows(1, 10)) << "the voided chunk's rows are not put twice";
  EXPECT_GT(table_->reads, 2);
}

INSTANTIATE_TEST_SUITE_P(OneOrThreeReaders, SnapshotRunnerDdlTest, ::testing::Values(1, 3));

TEST_F(SnapshotRunnerTest, ATableWithoutAKeyIsRefusedBeforeAnythingIsRead) {
  SnapshotRequest r = request(3);
  r.tables.push_back({"s", "nokey"});
  auto id = runner_->start(r);
  ASSERT_FALSE(id.isOk());
  EXPECT_NE(id.status().message().find("s.nokey has no key"), std::string::npos) << id.status().toString();
  EXPECT_EQ(table_->reads, 0);
  EXPECT_FALSE(runner_->progress());
}

TEST_F(SnapshotRunnerTest, ACancelEndsTheSnapshotWithWholeChunksOnly) {
  table_->duringRead = [this] {
    if (table_->reads == 2) runner_->cancel();
  };
  ASSERT_TRUE(runner_->start(request(2)).isOk());
  runner_->wait();
  const auto p = runner_->progress();
  EXPECT_EQ(p->state, "cancelled") << p->toJson();
  const auto got = put();
  EXPECT_EQ(got.size() % 2, 0u) << "chunks are put whole or not at all";
  EXPECT_LT(got.size(), 10u);
  EXPECT_EQ(got, rows(1, static_cast<int>(got.size())));
}

}  // namespace
}  // namespace canal::snapshot
