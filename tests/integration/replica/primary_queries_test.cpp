// Queries on the primary the replica depends on: rows streamed to a callback, and the start
// position found by timestamp across binlog files.

#include "tests/integration/replica/replica_helpers.h"

namespace canal::replica {
namespace {

// The first inserted id a dump from `start` delivers.
std::optional<int> firstInsertedId(const MariaDbServer& db, const DumpStart& start) {
  auto dump = openDump(db, start);
  if (!dump) return std::nullopt;
  convert::ChangeAssembler assembler(convert::RenderOptions{});
  convert::ChangeEntry entry;
  for (int i = 0; i < 200; ++i) {
    auto e = dump->next();
    if (!e) return std::nullopt;
    auto produced = assembler.handle(e->raw, dump->format(), e->file, "dump", entry);
    if (produced.isOk() && *produced && entry.type == convert::ChangeType::kInsert) {
      return std::stoi(entry.rows[0].after[0].text.value);
    }
  }
  return std::nullopt;
}

// Rows handed over as they arrive: NULL as nullopt, bytes as sent; a callback's error stops the
// reading, is returned, and leaves the connection usable.
TEST(MysqlConnectionQueryEach, RowsStreamToTheCallbackAndAnErrorStopsThemCleanly) {
  auto db = startServer({"CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, v VARBINARY(8))",
                         "INSERT INTO s.t VALUES (1, 'a'), (2, NULL), (3, X'00ff'), (4, 'd')"});
  ASSERT_TRUE(db);
  auto c = connectAsRoot(*db);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  unsigned columns = 0;
  std::vector<std::pair<std::string, std::optional<std::string>>> rows;
  const Status all = (*c)->queryEach(
      "SELECT id, v FROM s.t ORDER BY id", [&](unsigned n) { columns = n; return Status::ok(); },
      [&](const std::vector<std::optional<std::string_view>>& v) {
        rows.emplace_back(std::string(*v[0]), v[1] ? std::optional<std::string>(std::string(*v[1])) : std::nullopt);
        return Status::ok();
      });
  ASSERT_TRUE(all.isOk()) << all.toString();
  EXPECT_EQ(columns, 2u);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].second, std::nullopt);
  EXPECT_EQ(rows[2].second, std::optional<std::string>(std::string("\0\xff", 2)));

  int seen = 0;
  const Status stopped = (*c)->queryEach(
      "SELECT id FROM s.t ORDER BY id", [](unsigned) { return Status::ok(); },
      [&](const std::vector<std::optional<std::string_view>>&) {
        return ++seen == 2 ? Status::aborted("enough") : Status::ok();
      });
  EXPECT_EQ(stopped.code(), StatusCode::kAborted);
  EXPECT_EQ(seen, 2);
  auto after = (*c)->queryValue("SELECT COUNT(*) FROM s.t");
  ASSERT_TRUE(after.isOk()) << after.status().toString();
  EXPECT_EQ(after->value_or(""), "4") << "the rest of the result was read off the connection";
  EXPECT_FALSE((*c)->queryEach("SELECT nope FROM s.t", [](unsigned) { return Status::ok(); },
                               [](const std::vector<std::optional<std::string_view>>&) { return Status::ok(); })
                   .isOk());
}

TEST(StartPosition, ByTimestampAcrossBinlogFilesAndTheCurrentEnd) {
  auto db = startServer({"CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY)"});
  ASSERT_TRUE(db);
  auto c = connectAsRoot(*db);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  // Events carry the session's timestamp: put the rows well after the set-up DDL.
  const std::int64_t base =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
      100000;
  for (const std::string& sql :
       {"SET timestamp = " + std::to_string(base), std::string("INSERT INTO s.t VALUES (1)"),
        "SET timestamp = " + std::to_string(base + 100), std::string("INSERT INTO s.t VALUES (2)"),
        std::string("FLUSH BINARY LOGS"), "SET timestamp = " + std::to_string(base + 200),
        std::string("INSERT INTO s.t VALUES (3)"), std::string("FLUSH BINARY LOGS")}) {
    ASSERT_TRUE((*c)->execute(sql).isOk()) << sql;
  }
  // After FLUSH, MariaDB writes further binlog checkpoint events into the new file as the older
  // files' transactions settle, the last one naming the new file itself: let it land before the
  // end of the log is compared.
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] {
    auto events = (*c)->query("SHOW BINLOG EVENTS IN 'mysql-bin.000003'");
    if (!events.isOk()) return false;
    std::string lastCheckpoint;
    for (const auto& row : events->rows) {
      if (row.size() > 5 && row[2] && *row[2] == "Binlog_checkpoint" && row[5]) lastCheckpoint = *row[5];
    }
    return lastCheckpoint.find("mysql-bin.000003") != std::string::npos;
  }));
  const auto account = replicaAccount(*db);
  auto at = [&](std::int64_t ms) {
    auto start = findByTimestamp(account, ms);
    EXPECT_TRUE(start.isOk()) << start.status().toString();
    return start.isOk() ? *start : DumpStart{};
  };
  EXPECT_EQ(firstInsertedId(*db, at(base * 1000 - 5000)), 1);
  EXPECT_EQ(firstInsertedId(*db, at((base + 50) * 1000)), 2);
  const DumpStart third = at((base + 150) * 1000);
  EXPECT_EQ(third.file, "mysql-bin.000002");
  EXPECT_EQ(firstInsertedId(*db, third), 3);

  auto end = currentEnd(**c);
  ASSERT_TRUE(end.isOk());
  EXPECT_EQ(end->file, "mysql-bin.000003");
  const DumpStart later = at((base + 100000) * 1000);
  EXPECT_EQ(later.toString(), end->toString()) << "nothing that late: the current end";

  // Priority: stored position, then configuration, then the end.
  CommitPosition stored;
  stored.file = "mysql-bin.000002";
  stored.position = 4;
  ConfiguredStart configured;
  configured.timestampMs = (base - 5) * 1000;
  auto chosen = chooseStart(account, stored, configured);
  ASSERT_TRUE(chosen.isOk());
  EXPECT_EQ(chosen->toString(), "mysql-bin.000002:4");
  chosen = chooseStart(account, std::nullopt, configured);
  ASSERT_TRUE(chosen.isOk());
  EXPECT_EQ(firstInsertedId(*db, *chosen), 1);
  configured = ConfiguredStart{};
  configured.journalName = "mysql-bin.000001";
  configured.timestampMs = (base + 50) * 1000;
  chosen = chooseStart(account, std::nullopt, configured);
  ASSERT_TRUE(chosen.isOk());
  EXPECT_EQ(firstInsertedId(*db, *chosen), 2);
  chosen = chooseStart(account, std::nullopt, ConfiguredStart{});
  ASSERT_TRUE(chosen.isOk());
  EXPECT_EQ(chosen->toString(), end->toString());
}


}  // namespace
}  // namespace canal::replica
