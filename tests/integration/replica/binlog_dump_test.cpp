// The binlog dump against a real MariaDB: rows arrive decoded; dumps start from file:pos and from
// a MariaDB GTID position; a purged position is error 1236 naming it, not a silent jump.

#include "server/replica/binlog_dump.h"
#include "server/replica/replica_stream.h"
#include "server/replica/start_position.h"
#include "server/schema/schema_cache.h"
#include "server/schema/schema_history.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "server/binlog/event_type.h"
#include "server/convert/binlog_changes.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::replica {
namespace {

using testing::MariaDbServer;

mysql::ConnectOptions replicaAccount(const MariaDbServer& db) {
  mysql::ConnectOptions o;
  o.host = db.host();
  o.port = db.port();
  o.user = db.options().replicaUser;
  o.password = db.options().replicaPassword;
  return o;
}

std::unique_ptr<BinlogDump> openDump(const MariaDbServer& db, const DumpStart& start) {
  auto connection = mysql::MysqlConnection::connect(replicaAccount(db));
  EXPECT_TRUE(connection.isOk()) << connection.status().toString();
  if (!connection.isOk()) return nullptr;
  DumpOptions options;
  options.slaveId = 4321;
  auto dump = BinlogDump::open(std::move(*connection), options, start);
  EXPECT_TRUE(dump.isOk()) << dump.status().toString();
  return dump.isOk() ? std::move(*dump) : nullptr;
}

struct Received {
  std::vector<convert::ChangeEntry> entries;
  std::string file;
  std::uint64_t lastCommit = 0;  // position after the last XID seen
};

// Reads until `rows` row images arrived and the transaction holding the last one committed.
Received receive(BinlogDump& dump, std::size_t rows) {
  Received r;
  convert::RenderOptions options;
  options.timeZone = convert::TimeZone::utc();
  convert::ChangeAssembler assembler(options);
  std::size_t seen = 0;
  while (true) {
    auto event = dump.next();
    EXPECT_TRUE(event.isOk()) << event.status().toString();
    if (!event.isOk()) return r;
    r.file = event->file;
    convert::ChangeEntry entry;
    auto produced = assembler.handle(event->raw, dump.format(), event->file, "dump", entry);
    EXPECT_TRUE(produced.isOk()) << produced.status().toString();
    if (produced.isOk() && *produced && !entry.rows.empty()) {
      seen += entry.rows.size();
      r.entries.push_back(std::move(entry));
    }
    if (event->raw.header.type == binlog::kXidEvent) {
      r.lastCommit = event->nextPosition;
      if (seen >= rows) return r;
    }
  }
}

// A MariaDB that logs full row metadata (names, signedness), with `ddl` run on it.
std::unique_ptr<MariaDbServer> startServer(const std::vector<std::string>& ddl) {
  testing::MariaDbOptions options;
  options.extraArgs.push_back("--binlog-row-metadata=FULL");
  auto started = MariaDbServer::start(options);
  EXPECT_TRUE(started.isOk()) << started.status().toString();
  if (!started.isOk()) return nullptr;
  for (const auto& sql : ddl) EXPECT_TRUE((*started)->execute(sql).isOk()) << sql;
  return std::move(*started);
}

// A connection to `db` as root, over its unix socket.
Result<std::unique_ptr<mysql::MysqlConnection>> connectAsRoot(const MariaDbServer& db) {
  mysql::ConnectOptions root;
  root.unixSocket = db.socketPath();
  root.user = "root";
  return mysql::MysqlConnection::connect(root);
}

class BinlogDumpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = startServer({"CREATE DATABASE shop", "CREATE TABLE shop.orders (id INT PRIMARY KEY, amount DECIMAL(10,2), "
                                               "note VARCHAR(20), at DATETIME(3), u INT UNSIGNED)"});
    ASSERT_TRUE(db_);
  }

  std::string gtidPos() {
    auto rows = db_->query("SELECT @@gtid_binlog_pos");
    return rows.isOk() && !rows->empty() && (*rows)[0][0] ? *(*rows)[0][0] : "";
  }

  std::unique_ptr<MariaDbServer> db_;
};

TEST_F(BinlogDumpTest, RowsArriveDecodedFromTheStartOfTheLog) {
  ASSERT_TRUE(db_->execute("INSERT INTO shop.orders VALUES (1, 12.50, 'first', '2024-05-06 07:08:09.123', 4294967295)")
                  .isOk());
  ASSERT_TRUE(db_->execute("UPDATE shop.orders SET note = NULL, amount = 1.00 WHERE id = 1").isOk());
  auto dump = openDump(*db_, DumpStart::at("mysql-bin.000001", 4));
  ASSERT_TRUE(dump);
  const Received r = receive(*dump, 2);
  ASSERT_EQ(r.entries.size(), 2u);
  const auto& insert = r.entries[0];
  EXPECT_EQ(insert.type, convert::ChangeType::kInsert);
  EXPECT_EQ(*insert.schema, "shop");
  EXPECT_EQ(*insert.table, "orders");
  EXPECT_EQ(insert.logfileName, "mysql-bin.000001");
  const auto& a = insert.rows[0].after;
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a[0].text.value, "1");
  EXPECT_EQ(a[1].text.value, "12.50");
  EXPECT_EQ(a[2].text.value, "first");
  EXPECT_EQ(a[3].text.value, "2024-05-06 07:08:09.123");
  EXPECT_EQ(a[4].text.value, "4294967295") << "unsigned, from the binlog's signedness metadata";
  const auto& update = r.entries[1];
  EXPECT_EQ(update.type, convert::ChangeType::kUpdate);
  EXPECT_EQ(update.rows[0].before[2].text.value, "first");
  EXPECT_TRUE(update.rows[0].after[2].text.isNull);
  EXPECT_EQ(update.rows[0].after[1].text.value, "1.0") << "Canal's decimal rendering";
  EXPECT_TRUE(update.rows[0].after[1].updated);
  EXPECT_FALSE(update.rows[0].after[0].updated);
  EXPECT_GT(r.lastCommit, 4u);
}

TEST_F(BinlogDumpTest, ResumesFromAFilePositionAndFromAMariaDbGtid) {
  ASSERT_TRUE(db_->execute("INSERT INTO shop.orders VALUES (1, 1, 'one', NULL, 1)").isOk());
  const std::string gtidAfterFirst = gtidPos();
  ASSERT_FALSE(gtidAfterFirst.empty());
  ASSERT_TRUE(db_->execute("INSERT INTO shop.orders VALUES (2, 2, 'two', NULL, 2)").isOk());

  std::uint64_t afterFirst = 0;
  std::string file;
  {
    auto dump = openDump(*db_, DumpStart::at("mysql-bin.000001", 4));
    ASSERT_TRUE(dump);
    const Received r = receive(*dump, 1);
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].rows[0].after[2].text.value, "one");
    afterFirst = r.lastCommit;
    file = r.file;
  }
  {
    auto dump = openDump(*db_, DumpStart::at(file, afterFirst));
    ASSERT_TRUE(dump);
    const Received r = receive(*dump, 1);
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].rows[0].after[2].text.value, "two") << "no gap, no repeat";
  }
  {
    auto dump = openDump(*db_, DumpStart::mariaGtid(gtidAfterFirst));
    ASSERT_TRUE(dump);
    const Received r = receive(*dump, 1);
    ASSERT_EQ(r.entries.size(), 1u);
    EXPECT_EQ(r.entries[0].rows[0].after[2].text.value, "two");
  }
}

TEST_F(BinlogDumpTest, APurgedPositionIsError1236NamingIt) {
  ASSERT_TRUE(db_->execute("FLUSH BINARY LOGS").isOk());
  // MariaDB keeps a file until its binlog checkpoint moved on: purge until it is gone.
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] {
    if (!db_->execute("PURGE BINARY LOGS TO 'mysql-bin.000002'").isOk()) return false;
    auto logs = db_->query("SHOW BINARY LOGS");
    return logs.isOk() && !logs->empty() && (*logs)[0][0] && *(*logs)[0][0] != "mysql-bin.000001";
  }));
  auto dump = openDump(*db_, DumpStart::at("mysql-bin.000001", 4));
  ASSERT_TRUE(dump);
  Status failure;
  for (int i = 0; i < 10 && failure.isOk(); ++i) {
    auto event = dump->next();
    if (!event.isOk()) failure = event.status();
  }
  ASSERT_FALSE(failure.isOk());
  EXPECT_EQ(dump->lastErrorCode(), mysql::kErrorMasterFatalReadingBinlog) << failure.toString();
  EXPECT_EQ(failure.code(), StatusCode::kPositionRefused) << failure.toString();
  EXPECT_NE(failure.message().find("mysql-bin.000001:4"), std::string::npos) << failure.toString();
}

TEST_F(BinlogDumpTest, WrongPasswordIsAClearError) {
  auto o = replicaAccount(*db_);
  o.password = "wrong";
  auto connection = mysql::MysqlConnection::connect(o);
  ASSERT_FALSE(connection.isOk());
  EXPECT_NE(connection.status().message().find("1045"), std::string::npos) << connection.status().toString();
  EXPECT_EQ(connection.status().where(), db_->host() + ":" + std::to_string(db_->port()));
}

TEST_F(BinlogDumpTest, CancelUnblocksAWaitingDump) {
  auto dump = openDump(*db_, DumpStart::at("mysql-bin.000001", 4));
  ASSERT_TRUE(dump);
  // Drain what exists, then wait for more in a thread and cancel it.
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (dump->next().isOk()) {
    }
    done = true;
  });
  // Give the reader time to block in the read; cancel() also works if it has not yet.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  dump->cancel();
  reader.join();
  EXPECT_TRUE(done);
}

}  // namespace
}  // namespace canal::replica

namespace canal::replica {
namespace {

// Collects the ids of inserted rows from a ReplicaStream on its own thread.
class Collector {
 public:
  explicit Collector(ReplicaStream& stream) : stream_(stream), thread_([this] { run(); }) {}
  ~Collector() {
    stream_.cancel();
    thread_.join();
  }
  std::vector<int> ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_;
  }
  bool waitFor(std::size_t count, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ids().size() >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Called after each rows entry with the number of ids so far.
  std::function<void(std::size_t)> onRows;
  Status error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  void run() {
    convert::RenderOptions options;
    convert::ChangeAssembler assembler(options);
    convert::ChangeEntry entry;
    for (;;) {
      auto e = stream_.next();
      if (!e) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (e.status().code() != StatusCode::kAborted) error_ = e.status();
        return;
      }
      auto produced = assembler.handle(e->raw, stream_.format(), e->file, "stream", entry);
      if (!produced || !*produced || entry.type != convert::ChangeType::kInsert) continue;
      std::size_t n = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& row : entry.rows) ids_.push_back(std::stoi(row.after[0].text.value));
        n = ids_.size();
      }
      if (onRows) onRows(n);
    }
  }

  ReplicaStream& stream_;
  std::mutex mutex_;
  std::vector<int> ids_;
  Status error_;
  std::thread thread_;
};

void expectEachOnce(const std::vector<int>& ids, int n) {
  std::vector<int> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> want(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) want[static_cast<std::size_t>(i)] = i + 1;
  EXPECT_EQ(sorted, want);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "rows arrive in commit order";
}

class ReplicaStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = startServer({"CREATE DATABASE s", "CREATE TABLE s.t (id INT PRIMARY KEY, pad VARCHAR(200))"});
    ASSERT_TRUE(db_);
  }
  Status insert(int from, int to) {  // one transaction
    std::string sql = "INSERT INTO s.t VALUES ";
    for (int i = from; i <= to; ++i) sql += (i > from ? ",(" : "(") + std::to_string(i) + ", REPEAT('x', 200))";
    return db_->execute(sql);
  }
  std::unique_ptr<ReplicaStream> stream() {
    ReconnectPolicy policy;
    policy.initialDelay = std::chrono::milliseconds(50);
    policy.maxDelay = std::chrono::milliseconds(500);
    return std::make_unique<ReplicaStream>(replicaAccount(*db_), DumpOptions{}, DumpStart::at("mysql-bin.000001", 4),
                                           policy);
  }
  std::unique_ptr<MariaDbServer> db_;
};

TEST_F(ReplicaStreamTest, PrimaryKilledAndRestartedNoRowLostOrDoubled) {
  auto s = stream();
  Collector collector(*s);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(insert(i * 5 + 1, i * 5 + 5).isOk());
  ASSERT_TRUE(collector.waitFor(50, std::chrono::seconds(30))) << collector.ids().size();
  db_->kill();
  ASSERT_TRUE(db_->restart().isOk()) << db_->errorLog();
  for (int i = 10; i < 20; ++i) ASSERT_TRUE(insert(i * 5 + 1, i * 5 + 5).isOk());
  ASSERT_TRUE(collector.waitFor(100, std::chrono::seconds(60))) << collector.ids().size() << " "
                                                                  << collector.error().toString();
  expectEachOnce(collector.ids(), 100);
  EXPECT_GE(s->reconnects(), 1);
  EXPECT_TRUE(collector.error().isOk()) << collector.error().toString();
}

TEST_F(ReplicaStreamTest, LinkCutInsideATransactionResumesWithoutRepeats) {
  // One transaction large enough for many rows events (each holds ~8 KB of rows).
  ASSERT_TRUE(insert(1, 2000).isOk());
  auto s = stream();
  std::atomic<int> cuts{0};
  Collector collector(*s);
  collector.onRows = [&](std::size_t n) {
    if ((n > 300 && cuts == 0) || (n > 1200 && cuts == 1)) {
      ++cuts;
      s->interrupt();
    }
  };
  ASSERT_TRUE(collector.waitFor(2000, std::chrono::seconds(30))) << collector.ids().size();
  ASSERT_TRUE(insert(2001, 2010).isOk());
  ASSERT_TRUE(collector.waitFor(2010, std::chrono::seconds(30))) << collector.ids().size();
  expectEachOnce(collector.ids(), 2010);
  EXPECT_EQ(cuts, 2);
  EXPECT_GE(s->reconnects(), 2);
  EXPECT_EQ(s->committed().file, "mysql-bin.000001");
}

}  // namespace
}  // namespace canal::replica

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

namespace canal::replica {
namespace {

std::string rowText(const convert::ChangeEntry& e) {
  std::string out;
  for (const auto& c : e.rows[0].after) out += c.name() + "=" + (c.text.isNull ? "NULL" : c.text.value) + " ";
  return out;
}

// MariaDB's default binlog_row_metadata (NO_LOG): names, signedness, keys and types come from
// the primary's definitions.
class SchemaFromPrimaryTest : public canal::testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
    ASSERT_TRUE(db_->execute("CREATE TABLE s.t (id INT UNSIGNED PRIMARY KEY, e ENUM('a','b'), b VARBINARY(4), "
                             "x TEXT)")
                    .isOk());
  }

  // Entries of a dump from the start until `rows` row images arrived, or the first error.
  std::pair<std::vector<convert::ChangeEntry>, Status> read(std::size_t rows,
                                                            const DumpStart& from = DumpStart::at("mysql-bin.000001", 4),
                                                            schema::SchemaCache* kept = nullptr) {
    auto dump = openDump(*db_, from);
    if (!dump) return {{}, Status::internal("no dump")};
    schema::SchemaCache fresh(replicaAccount(*db_));
    schema::SchemaCache& cache = kept ? *kept : fresh;
    convert::ChangeAssembler assembler(convert::RenderOptions{});
    assembler.setTableDefinitions(&cache);
    std::vector<convert::ChangeEntry> out;
    std::size_t seen = 0;
    convert::ChangeEntry entry;
    while (seen < rows) {
      auto e = dump->next();
      if (!e) return {out, e.status()};
      auto produced = assembler.handle(e->raw, dump->format(), e->file, dump->format().serverVersion, entry);
      if (!produced) return {out, produced.status()};
      if (*produced && !entry.rows.empty()) {
        seen += entry.rows.size();
        out.push_back(entry);
      }
    }
    return {out, Status::ok()};
  }

};

TEST_F(SchemaFromPrimaryTest, NamesSignednessKeysAndTypesFromThePrimary) {
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (4294967295, 'b', 0xff00, 'hello')").isOk());
  auto [entries, status] = read(1);
  ASSERT_TRUE(status.isOk()) << status.toString();
  ASSERT_EQ(entries.size(), 1u);
  const auto& row = entries[0].rows[0].after;
  ASSERT_EQ(row.size(), 4u);
  EXPECT_EQ(row[0].name(), "id");
  EXPECT_TRUE(row[0].isKey());
  EXPECT_EQ(row[0].mysqlType(), "int(10) unsigned");
  EXPECT_EQ(row[0].text.value, "4294967295");
  EXPECT_EQ(row[0].text.sqlType, convert::kSqlBigint);
  EXPECT_EQ(row[1].name(), "e");
  EXPECT_EQ(row[1].mysqlType(), "enum('a','b')");
  EXPECT_EQ(row[1].text.value, "2");
  EXPECT_EQ(row[2].text.value, std::string("\xc3\xbf\x00", 3)) << "VARBINARY as ISO-8859-1 characters";
  EXPECT_EQ(row[2].text.sqlType, convert::kSqlBlob);
  EXPECT_EQ(row[3].text.value, "hello");
  EXPECT_EQ(row[3].text.sqlType, convert::kSqlClob);
}

TEST_F(SchemaFromPrimaryTest, ColumnsAddedByDdlAreSeenAfterIt) {
  ASSERT_TRUE(db_->execute("ALTER TABLE s.t ADD COLUMN n INT").isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (1, 'a', NULL, NULL, 42)").isOk());
  auto [entries, status] = read(1);
  ASSERT_TRUE(status.isOk()) << status.toString();
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_EQ(entries[0].rows[0].after.size(), 5u);
  EXPECT_EQ(entries[0].rows[0].after[4].name(), "n");
  EXPECT_EQ(entries[0].rows[0].after[4].text.value, "42");
}

// Rows written before and between ALTERs, read after all of them: the stream's DDL is replayed,
// so each row decodes with the columns it was written with.
TEST_F(SchemaFromPrimaryTest, RowsBetweenAltersDecodeWithTheirOwnColumns) {
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (1, 'a', NULL, 'one')").isOk());
  ASSERT_TRUE(db_->execute("ALTER TABLE s.t ADD COLUMN n INT AFTER id").isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (2, 20, 'b', NULL, 'two')").isOk());
  ASSERT_TRUE(db_->execute("ALTER TABLE s.t DROP COLUMN x, MODIFY COLUMN n BIGINT UNSIGNED").isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (3, 18446744073709551615, 'a', NULL)").isOk());
  auto [entries, status] = read(3);
  ASSERT_TRUE(status.isOk()) << status.toString();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(rowText(entries[0]), "id=1 e=1 b=NULL x=one ");
  EXPECT_EQ(rowText(entries[1]), "id=2 n=20 e=2 b=NULL x=two ");
  EXPECT_EQ(rowText(entries[2]), "id=3 n=18446744073709551615 e=1 b=NULL ");
  EXPECT_EQ(entries[2].rows[0].after[1].mysqlType(), "bigint(20) unsigned");
}

// Without the CREATE TABLE in the stream (it starts later) only the current definition is at
// hand; rows written before an ALTER then stop the stream, naming both column lists, instead of
// being shifted onto the wrong columns.
TEST_F(SchemaFromPrimaryTest, ATableMapThatDoesNotMatchTheDefinitionStops) {
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end.isOk()) << end.status().toString();
  const DumpStart from = DumpStart::at(end->file, end->position);
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (1, 'a', NULL, NULL)").isOk());
  ASSERT_TRUE(db_->execute("ALTER TABLE s.t ADD COLUMN n INT").isOk());
  auto [entries, status] = read(1, from);
  EXPECT_TRUE(entries.empty());
  ASSERT_TRUE(status.isCorruption()) << status.toString();
  EXPECT_NE(status.message().find("has 4 columns"), std::string::npos) << status.toString();
  EXPECT_NE(status.message().find("the table has 5 (id int(10) unsigned, e enum('a','b'), b varbinary(4), x text, n int(11))"),
            std::string::npos)
      << status.toString();
}

schema::SchemaPosition masterEnd(MariaDbServer& db) {
  auto end = db.binlogEnd();
  if (!end.isOk()) return {};
  return {end->file, end->position};
}

// The schema history kept beside the positions: a restart from a stored position decodes with
// the definitions of that position although the primary has changed the table since.
TEST_F(SchemaFromPrimaryTest, AHistoryKeptAcrossRestartsDecodesWithTheColumnsOfTheStoredPosition) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "schema-history.jsonl").string();
  const schema::SchemaPosition start = masterEnd(*db_);
  ASSERT_FALSE(start.file.empty());
  const DumpStart from = DumpStart::at(start.file, start.position);
  schema::SchemaPosition afterAlter;
  {
    auto history = schema::SchemaHistory::open(path);
    ASSERT_TRUE(history.isOk());
    schema::SchemaCache cache(replicaAccount(*db_));
    ASSERT_TRUE(cache.start(*history, start).isOk());
    EXPECT_EQ(cache.size(), 1u) << "the first snapshot holds every user table";
    ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (1, 'a', NULL, 'one')").isOk());
    ASSERT_TRUE(db_->execute("ALTER TABLE s.t ADD COLUMN n INT").isOk());
    afterAlter = masterEnd(*db_);
    ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (2, 'b', NULL, 'two', 7)").isOk());
    auto [entries, status] = read(2, from, &cache);
    ASSERT_TRUE(status.isOk()) << status.toString();
    ASSERT_EQ(entries.size(), 2u);
  }
  // The table changes again; this stream is stopped and does not see it.
  ASSERT_TRUE(db_->execute("ALTER TABLE s.t DROP COLUMN x").isOk());

  {  // Restart from the first position: the ALTER is replayed from the stream, as the first time.
    auto history = schema::SchemaHistory::open(path);
    ASSERT_TRUE(history.isOk());
    schema::SchemaCache cache(replicaAccount(*db_));
    ASSERT_TRUE(cache.start(*history, start).isOk());
    auto [entries, status] = read(2, from, &cache);
    ASSERT_TRUE(status.isOk()) << status.toString();
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(rowText(entries[0]), "id=1 e=1 b=NULL x=one ");
    EXPECT_EQ(rowText(entries[1]), "id=2 e=2 b=NULL x=two n=7 ");
  }
  {  // Restart after the ALTER: the history has the five columns, the primary has four.
    auto history = schema::SchemaHistory::open(path);
    ASSERT_TRUE(history.isOk());
    schema::SchemaCache cache(replicaAccount(*db_));
    ASSERT_TRUE(cache.start(*history, afterAlter).isOk());
    auto [entries, status] = read(1, DumpStart::at(afterAlter.file, afterAlter.position), &cache);
    ASSERT_TRUE(status.isOk()) << status.toString();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(rowText(entries[0]), "id=2 e=2 b=NULL x=two n=7 ");
  }
}

}  // namespace
}  // namespace canal::replica

namespace canal::replica {
namespace {

// A primary and a standby (server_id 2, log_slave_updates) replicating from it from the
// start; `extraArgs` go to both servers.
struct PrimaryAndStandby {
  std::unique_ptr<MariaDbServer> primary;
  std::unique_ptr<MariaDbServer> standby;
};

Result<PrimaryAndStandby> startPrimaryAndStandby(const std::vector<std::string>& extraArgs) {
  testing::MariaDbOptions primaryOptions;
  primaryOptions.extraArgs = extraArgs;
  auto primary = MariaDbServer::start(primaryOptions);
  if (!primary.isOk()) return primary.status();
  testing::MariaDbOptions standbyOptions;
  standbyOptions.serverId = 2;
  standbyOptions.extraArgs = extraArgs;
  standbyOptions.extraArgs.push_back("--log-slave-updates");
  auto standby = MariaDbServer::start(standbyOptions);
  if (!standby.isOk()) return standby.status();
  CANAL_RETURN_IF_ERROR((*standby)->replicateFrom(**primary));
  return PrimaryAndStandby{std::move(*primary), std::move(*standby)};
}

// A primary and a standby replicating from it (log_slave_updates, MariaDB GTID). When the
// primary dies the stream moves to the standby and resumes after the last committed GTID.
TEST(StandbyFailover, PrimaryDiesStreamResumesOnTheStandbyByGtid) {
  auto servers = startPrimaryAndStandby({"--binlog-row-metadata=FULL"});
  ASSERT_TRUE(servers.isOk()) << servers.status().toString();
  auto& p = *servers->primary;
  auto& s = *servers->standby;
  ASSERT_TRUE(p.execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE(p.execute("CREATE TABLE s.t (id INT PRIMARY KEY)").isOk());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(p.execute("INSERT INTO s.t VALUES (" + std::to_string(i * 5 + 1) + "),(" + std::to_string(i * 5 + 2) +
                          "),(" + std::to_string(i * 5 + 3) + "),(" + std::to_string(i * 5 + 4) + "),(" +
                          std::to_string(i * 5 + 5) + ")")
                    .isOk());
  }
  ASSERT_TRUE(s.waitCaughtUp(p).isOk());

  ReconnectPolicy policy;
  policy.initialDelay = std::chrono::milliseconds(50);
  policy.maxDelay = std::chrono::milliseconds(200);
  policy.failoverAfter = 2;
  ReplicaStream stream(replicaAccount(p), DumpOptions{}, DumpStart::at("mysql-bin.000001", 4), policy);
  stream.addStandby(replicaAccount(s));
  Collector collector(stream);
  ASSERT_TRUE(collector.waitFor(20, std::chrono::seconds(30))) << collector.ids().size();

  p.kill();
  ASSERT_TRUE(s.execute("STOP SLAVE").isOk());
  ASSERT_TRUE(s.execute("INSERT INTO s.t VALUES (21),(22),(23),(24),(25)").isOk());
  ASSERT_TRUE(s.execute("INSERT INTO s.t VALUES (26),(27),(28),(29),(30)").isOk());
  ASSERT_TRUE(collector.waitFor(30, std::chrono::seconds(60))) << collector.ids().size() << " "
                                                                  << collector.error().toString();
  expectEachOnce(collector.ids(), 30);
  EXPECT_EQ(stream.currentAddress(), 1u);
  EXPECT_TRUE(collector.error().isOk()) << collector.error().toString();
}

// A hung primary (SIGSTOP): its dump link stays open and silent, and heartbeats would only be
// missed after three 30 s periods. The detecting SQL (every 500 ms, three failures) finds it
// down and the stream moves to the standby, resuming there by GTID.
TEST(StandbyFailover, TheDetectingSqlMovesAwayFromAHungPrimary) {
  auto servers = startPrimaryAndStandby({});
  ASSERT_TRUE(servers.isOk()) << servers.status().toString();
  auto& p = *servers->primary;
  auto& s = *servers->standby;
  ASSERT_TRUE(p.execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE(p.execute("CREATE TABLE s.t (id INT PRIMARY KEY)").isOk());
  ASSERT_TRUE(p.execute("INSERT INTO s.t VALUES (1),(2),(3)").isOk());
  ASSERT_TRUE(s.waitCaughtUp(p).isOk());

  DumpOptions options;
  options.heartbeatSeconds = 30;
  ReconnectPolicy policy;
  policy.failoverAfter = 1000;  // only the detecting SQL moves the stream
  ReplicaStream stream(replicaAccount(p), options, DumpStart::at("mysql-bin.000001", 4), policy);
  stream.addStandby(replicaAccount(s));
  stream.enableDetecting(DetectingOptions{"select 1", std::chrono::milliseconds(500), 3});
  Collector collector(stream);
  ASSERT_TRUE(collector.waitFor(3, std::chrono::seconds(30))) << collector.ids().size();

  p.freeze();
  ASSERT_TRUE(s.execute("STOP SLAVE").isOk());
  ASSERT_TRUE(s.execute("INSERT INTO s.t VALUES (4),(5)").isOk());
  ASSERT_TRUE(collector.waitFor(5, std::chrono::seconds(45)))
      << collector.ids().size() << " " << collector.error().toString();
  expectEachOnce(collector.ids(), 5);
  EXPECT_EQ(stream.currentAddress(), 1u);
  EXPECT_GE(stream.detectingFailures(), 3u);
  EXPECT_EQ(stream.reconnects(), 1) << "one link dropped: the hung primary's, by the detector";
  p.thaw();
}

// With a 1 s heartbeat period a quiet primary keeps the link alive: heartbeats arrive, the read
// timeout (three periods) never fires, and a row written later arrives on the same link.
TEST_F(ReplicaStreamTest, HeartbeatsKeepAQuietLinkAlive) {
  DumpOptions options;
  options.heartbeatSeconds = 1;
  ReplicaStream stream(replicaAccount(*db_), options, DumpStart::at("mysql-bin.000001", 4));
  Collector collector(stream);
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(15), [&] { return stream.heartbeats() >= 4; }))
      << stream.heartbeats();
  ASSERT_TRUE(insert(1, 3).isOk());
  ASSERT_TRUE(collector.waitFor(3, std::chrono::seconds(10)));
  expectEachOnce(collector.ids(), 3);
  EXPECT_EQ(stream.reconnects(), 0);
}

}  // namespace
}  // namespace canal::replica

namespace canal::replica {
namespace {

// TLS to the primary (a self-signed certificate made for the test) and the ed25519 plugin: the
// account logs in, the session is encrypted, and the dump works over it.
TEST(ReplicaAuthentication, TlsAndEd25519) {
  testing::TempDir dir("canal-tls");
  const std::string cert = dir.path().string() + "/cert.pem";
  const std::string key = dir.path().string() + "/key.pem";
  std::string output;
  ASSERT_EQ(testing::runCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                                 "-days", "2", "-keyout", key, "-out", cert},
                                &output),
            0)
      << output;
  testing::MariaDbOptions options;
  options.extraArgs = {"--binlog-row-metadata=FULL", "--ssl-cert=" + cert, "--ssl-key=" + key,
                       "--plugin-load-add=auth_ed25519"};
  auto db = MariaDbServer::start(options);
  ASSERT_TRUE(db.isOk()) << db.status().toString();
  ASSERT_TRUE((*db)->execute("CREATE USER edge@'%' IDENTIFIED VIA ed25519 USING PASSWORD('s3cret')").isOk());
  ASSERT_TRUE((*db)->execute("GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO edge@'%'").isOk());
  ASSERT_TRUE((*db)->execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE((*db)->execute("CREATE TABLE s.t (id INT PRIMARY KEY)").isOk());
  ASSERT_TRUE((*db)->execute("INSERT INTO s.t VALUES (7)").isOk());

  mysql::ConnectOptions o = replicaAccount(**db);
  o.user = "edge";
  o.password = "s3cret";
  o.tls = true;
  o.tlsCa = cert;
  auto c = mysql::MysqlConnection::connect(o);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  auto cipher = (*c)->query("SHOW STATUS LIKE 'Ssl_cipher'");
  ASSERT_TRUE(cipher.isOk());
  ASSERT_FALSE(cipher->rows.empty());
  EXPECT_FALSE(cipher->rows[0][1].value_or("").empty()) << "the session is encrypted";
  auto plugin = (*c)->queryValue("SELECT plugin FROM mysql.user WHERE user = 'edge'");
  ASSERT_TRUE(plugin.isOk());
  EXPECT_EQ(plugin->value_or(""), "ed25519");

  auto dump = BinlogDump::open(std::move(*c), DumpOptions{}, DumpStart::at("mysql-bin.000001", 4));
  ASSERT_TRUE(dump.isOk()) << dump.status().toString();
  const Received r = receive(**dump, 1);
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].rows[0].after[0].text.value, "7");

  o.password = "wrong";
  auto refused = mysql::MysqlConnection::connect(o);
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.status().message().find("1045"), std::string::npos) << refused.status().toString();
}

}  // namespace
}  // namespace canal::replica
