// The watermark rules of SnapshotGate, driven as the pump and the snapshot thread drive it.

#include "server/instance/snapshot_gate.h"

#include <gtest/gtest.h>

#include <future>

namespace canal::instance {
namespace {

using convert::ChangeEntry;

std::shared_ptr<const convert::ColumnInfos> infos() {
  return std::make_shared<const convert::ColumnInfos>(convert::ColumnInfos{{"id", "int", true}, {"v", "int", false}});
}

convert::ChangeRow row(const convert::ColumnInfos& columns, const std::string& id, const std::string& v) {
  convert::ChangeRow r;
  for (std::uint32_t i = 0; i < 2; ++i) {
    convert::ChangeColumn c;
    c.index = i;
    c.info = &columns[i];
    c.text.value = i == 0 ? id : v;
    r.after.push_back(c);
  }
  return r;
}

ChangeEntry rowsEntry(const std::string& table, convert::ChangeType type, const std::vector<convert::ChangeRow>& rows) {
  ChangeEntry e;
  e.kind = convert::EntryKind::kRowData;
  e.type = type;
  e.schema = "s";
  e.table = table;
  e.rows = rows;
  for (auto& r : e.rows) {
    if (type == convert::ChangeType::kDelete) r.before.swap(r.after);
  }
  return e;
}

ChangeEntry ddlOn(const std::string& table) {
  ChangeEntry ddl;
  ddl.kind = convert::EntryKind::kRowData;
  ddl.isDdl = true;
  ddl.schema = "s";
  ddl.table = table;
  return ddl;
}

class SnapshotGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gate_.setPut([this](ChangeEntry& e, const std::string& progress) {
      progress_ = progress;
      for (const auto& r : e.rows) put_.push_back(r.after[0].text.value);
      return Status::ok();
    });
  }
  // The pump handles one event: the entries it made, then where the stream is.
  void event(const std::vector<ChangeEntry>& entries, std::uint64_t position, bool inTransaction) {
    auto lock = gate_.lockForEvent();
    for (const auto& e : entries) gate_.noteEntry(e);
    gate_.atPoint("mysql-bin.000002", position, inTransaction);
  }
  // submit() leaves the chunk's rows with the caller: here they are dropped.
  Result<std::size_t> submit(SnapshotChunk c, const SnapshotGate::Watch& watch) { return gate_.submit(c, watch, cancel_); }

  SnapshotChunk chunk(std::uint64_t watermark, const std::vector<std::string>& ids) {
    SnapshotChunk c;
    c.watermark = {"mysql-bin.000002", watermark};
    c.entry = rowsEntry("t", convert::ChangeType::kInsert, {});
    c.entry.columns = columns_;
    for (const auto& id : ids) c.entry.rows.push_back(row(*columns_, id, "snap"));
    c.progress = "after " + (ids.empty() ? std::string() : ids.back());
    return c;
  }

  SnapshotGate gate_;
  std::shared_ptr<const convert::ColumnInfos> columns_ = infos();
  std::vector<std::string> put_;
  std::string progress_;  // the last progress kept
  std::atomic<bool> cancel_{false};
};

TEST_F(SnapshotGateTest, RowsChangedSinceTheWatchAreLeftOutOnceTheStreamIsPastTheWatermark) {
  event({}, 100, false);
  const auto watch = gate_.watch("s", "t", {0});
  ASSERT_TRUE(watch.at.has_value());
  EXPECT_EQ(watch.at->position, 100u) << "the watch says where the stream is";
  SnapshotChunk kept = chunk(300, {"1", "2", "3", "4"});
  auto submitted =
      std::async(std::launch::async, [&] { return gate_.submit(kept, watch, cancel_); });
  // Changes of keys 2 (update) and 4 (delete), and of another table's key 3.
  event({rowsEntry("t", convert::ChangeType::kUpdate, {row(*columns_, "2", "x")})}, 200, true);
  event({rowsEntry("other", convert::ChangeType::kUpdate, {row(*columns_, "3", "x")})}, 250, true);
  EXPECT_EQ(submitted.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout) << "inside a transaction";
  event({rowsEntry("t", convert::ChangeType::kDelete, {row(*columns_, "4", "x")})}, 320, true);
  EXPECT_EQ(submitted.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
      << "past the watermark but inside a transaction";
  event({}, 330, false);
  const auto put = submitted.get();
  ASSERT_TRUE(put.isOk()) << put.status().toString();
  EXPECT_EQ(*put, 2u);
  EXPECT_EQ(put_, (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(progress_, "after 4") << "the chunk's progress is kept with it";
  ASSERT_EQ(kept.entry.rows.size(), 2u) << "the rows put are left with the submitter (to be reused)";
  EXPECT_EQ(kept.entry.rows[1].after[0].text.value, "3");
}

TEST_F(SnapshotGateTest, ADdlOnTheTableVoidsTheChunk) {
  event({}, 100, false);
  const auto watch = gate_.watch("s", "t", {0});
  event({ddlOn("t")}, 200, false);
  const auto put = submit(chunk(150, {"1"}), watch);
  ASSERT_FALSE(put.isOk());
  EXPECT_EQ(put.status().code(), StatusCode::kUnavailable) << "read again under the new definition";
  EXPECT_TRUE(put_.empty());
}

TEST_F(SnapshotGateTest, KeysChangedBeforeTheWatchAreNotRecordedAndCancelOrStopReleaseTheSubmitter) {
  event({}, 100, false);
  event({rowsEntry("t", convert::ChangeType::kUpdate, {row(*columns_, "1", "x")})}, 150, false);
  auto put = submit(chunk(150, {"1"}), gate_.watch("s", "t", {0}));
  ASSERT_TRUE(put.isOk());
  EXPECT_EQ(*put, 1u) << "a change before the watch is in the chunk's read";

  cancel_ = true;
  EXPECT_EQ(submit(chunk(900, {"2"}), gate_.watch("s", "t", {0})).status().code(), StatusCode::kAborted);
  cancel_ = false;
  const auto watch = gate_.watch("s", "t", {0});
  auto waiting = std::async(std::launch::async, [&] { return submit(chunk(900, {"2"}), watch); });
  gate_.stop();
  EXPECT_EQ(waiting.get().status().code(), StatusCode::kAborted);
}

TEST_F(SnapshotGateTest, OverlappingWatchesEachLeaveOutTheChangesSinceTheirOwnStart) {
  event({}, 100, false);
  const auto first = gate_.watch("s", "t", {0});
  event({rowsEntry("t", convert::ChangeType::kUpdate, {row(*columns_, "2", "x")})}, 150, false);
  // The next chunk is read while the first waits to be put.
  const auto second = gate_.watch("s", "t", {0});
  EXPECT_EQ(second.at->position, 150u);
  event({rowsEntry("t", convert::ChangeType::kUpdate, {row(*columns_, "7", "x")})}, 200, false);
  auto put = submit(chunk(160, {"1", "2", "3"}), first);
  ASSERT_TRUE(put.isOk()) << put.status().toString();
  EXPECT_EQ(put_, (std::vector<std::string>{"1", "3"})) << "key 2 changed after the first watch began";
  event({rowsEntry("t", convert::ChangeType::kUpdate, {row(*columns_, "6", "x")})}, 250, false);
  put = submit(chunk(220, {"2", "5", "6", "7"}), second);
  ASSERT_TRUE(put.isOk()) << put.status().toString();
  EXPECT_EQ(put_, (std::vector<std::string>{"1", "3", "2", "5"}))
      << "key 2 changed before the second watch (its read has the change); 6 and 7 after";

  // A DDL voids the chunk of a watch begun before it, not of one begun after it.
  const auto third = gate_.watch("s", "t", {0});
  event({ddlOn("t")}, 300, false);
  const auto fourth = gate_.watch("s", "t", {0});
  EXPECT_EQ(submit(chunk(300, {"8"}), third).status().code(), StatusCode::kUnavailable);
  put = submit(chunk(300, {"9"}), fourth);
  ASSERT_TRUE(put.isOk()) << put.status().toString();
  EXPECT_EQ(put_.back(), "9") << "read after the DDL: stands";
}

TEST(StreamPoints, CompareByFileNumberThenPosition) {
  EXPECT_LT(compareStreamPoints({"mysql-bin.000009", 900}, {"mysql-bin.000010", 4}), 0);
  EXPECT_GT(compareStreamPoints({"mysql-bin.1000000", 4}, {"mysql-bin.999999", 900}), 0);
  EXPECT_EQ(compareStreamPoints({"mysql-bin.000010", 4}, {"mysql-bin.000010", 4}), 0);
}

}  // namespace
}  // namespace canal::instance
