// Snapshots against a real MariaDB: rows read from the table arrive as the binlog would render
// them, and a consumer applying entries in order ends equal to the table while a writer changes
// it during the snapshot (inserts, updates, key changes, deletes).

#include "server/snapshot/snapshot_runner.h"

#include <gtest/gtest.h>

#include "tests/integration/snapshot/snapshot_fixture.h"

namespace canal::snapshot::test {

TEST_F(SnapshotTest, AConsumerApplyingEntriesInOrderEndsEqualToTheTableWhileAWriterRuns) {
  std::set<std::string> seen;
  std::uint64_t chunks = 0;
  writersCase("", seen, chunks);
}

// Where the primary does not name the binlog position of a read (MySQL), a row written before
// each chunk joins the chunk to the stream; the same workload ends equal to the table. (On
// MariaDB here: the option takes the place of binlog_snapshot_position.)
TEST_F(SnapshotTest, WithAWatermarkTableAConsumerApplyingEntriesInOrderEndsEqualToTheTableWhileAWriterRuns) {
  ASSERT_TRUE(db_->execute("CREATE DATABASE canal_meta").isOk());
  for (const char* host : {"localhost", "127.0.0.1"}) {
    ASSERT_TRUE(db_->execute(std::string("GRANT CREATE, INSERT, UPDATE ON canal_meta.* TO 'canal'@'") + host + "'").isOk());
  }
  std::set<std::string> seen;
  std::uint64_t chunks = 0;
  writersCase("canal_meta.snapshot_watermark", seen, chunks);
  ASSERT_FALSE(HasFatalFailure());
  auto written = db_->query("SELECT chunks FROM canal_meta.snapshot_watermark WHERE destination = 'example'");
  ASSERT_TRUE(written.isOk()) << written.status().toString();
  ASSERT_EQ(written->size(), 1u) << "the runner created the table and wrote its row";
  // Once when the snapshot starts, then once per chunk read (a chunk read again writes again).
  EXPECT_GE(std::stoull(*(*written)[0][0]), chunks + 1);
  EXPECT_EQ(seen.count("snapshot_watermark"), 0u) << "the watermark's writes are not the application's changes";
}

void SnapshotTest::writersCase(const std::string& watermarkTable, std::set<std::string>& seen,
                               std::uint64_t& chunks) {
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
  start(watermarkTable);
  if (HasFatalFailure()) return;

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
  EXPECT_TRUE(id.isOk()) << id.status().toString();
  if (!id.isOk()) {
    writing = false;
    for (auto& w : writers) w.join();
    return;
  }

  Rows rows;
  std::size_t snapshotRows = 0;
  // Positions in stream order never go back, snapshot entries included; a snapshot entry's
  // watermark (the state its rows are) is at or before where it sits.
  std::pair<std::string, std::uint64_t> lastPoint;
  std::size_t backwards = 0;
  std::size_t watermarkAfterEntry = 0;
  const auto consume = [&](const eb::Entry& e) {
    seen.insert(e.header().tablename());
    const std::pair<std::string, std::uint64_t> point{e.header().logfilename(), e.header().logfileoffset()};
    if (point < lastPoint && ++backwards <= 3) {
      ADD_FAILURE() << (isSnapshot(e) ? "snapshot " : "") << "entry at " << point.first << ":" << point.second
                    << " after one at " << lastPoint.first << ":" << lastPoint.second;
    }
    lastPoint = std::max(lastPoint, point);
    if (isSnapshot(e)) {
      std::string watermark;
      for (const auto& p : e.header().props()) {
        if (p.key() == "snapshotWatermark") watermark = p.value();
      }
      const auto colon = watermark.rfind(':');
      if (colon == std::string::npos ||
          std::pair<std::string, std::uint64_t>(watermark.substr(0, colon), std::stoull(watermark.substr(colon + 1))) > point) {
        ++watermarkAfterEntry;
      }
    }
    apply(e, "t", rows, snapshotRows);
  };
  const auto deadline = std::chrono::steady_clock::now() + 180s;
  while (runner_->progress()->state == "running" && std::chrono::steady_clock::now() < deadline) {
    drain(consume);
    const auto p = runner_->progress();
    near = static_cast<int>(p->tables[0].rows + p->tables[0].dropped) + 1;
  }
  writing = false;
  for (auto& w : writers) w.join();
  const auto progress = runner_->progress();
  EXPECT_EQ(progress->state, "done") << progress->toJson();
  if (progress->state != "done") return;
  drainThroughMarker(consume);

  auto table = db_->query("SELECT id, v, n FROM s.t");
  EXPECT_TRUE(table.isOk());
  if (!table.isOk()) return;
  Rows expected;
  for (const auto& row : *table) expected[*row[0]] = {*row[0], row[1].value_or("\\N"), row[2].value_or("\\N")};
  std::printf("[ figures ] %d rows, %d writes during the snapshot; %zu snapshot rows put, %llu dropped, %llu chunks\n",
              kRows, writes.load(), snapshotRows,
              static_cast<unsigned long long>(progress->tables[0].dropped),
              static_cast<unsigned long long>(progress->chunks));
  EXPECT_GT(writes.load(), 100) << "the writer ran during the snapshot";
  EXPECT_GT(snapshotRows, static_cast<std::size_t>(kRows / 2));
  EXPECT_EQ(rows.size(), expected.size());
  for (const auto& [key, values] : rows) {
    if (!expected.count(key)) ADD_FAILURE() << "row " << key << " is gone from the table, not downstream: " << traceOf[key];
  }
  std::size_t different = 0;
  for (const auto& [key, values] : expected) {
    const auto it = rows.find(key);
    if (it == rows.end() || it->second != values) {
      if (++different <= 5) {
        ADD_FAILURE() << "row " << key << " is " << ::testing::PrintToString(values) << " in the table, "
                      << (it == rows.end() ? "missing" : ::testing::PrintToString(it->second)) << " downstream";
      }
    }
  }
  EXPECT_EQ(different, 0u);
  EXPECT_EQ(backwards, 0u);
  EXPECT_EQ(watermarkAfterEntry, 0u) << "every snapshot entry names its watermark, at or before it";
  chunks = progress->chunks;
}

// Every column type MariaDB has: a snapshot row is the binlog INSERT of the same row, column for
// column, under each binlog_row_metadata and with the rendering options at their defaults and not.
TEST_F(SnapshotTest, ASnapshotRowIsTheBinlogRowOfTheSameValuesWithoutRowMetadata) { typesCase("NO_LOG"); }

TEST_F(SnapshotTest, ASnapshotRowIsTheBinlogRowOfTheSameValuesWithMinimalRowMetadata) { typesCase("MINIMAL"); }

TEST_F(SnapshotTest, ASnapshotRowIsTheBinlogRowOfTheSameValuesWithFullRowMetadata) { typesCase("FULL"); }

namespace {

// 63 columns: every type, a signed INT after YEAR and text after GEOMETRY (where MariaDB's
// optional metadata counts columns its own way), generated and invisible columns.
constexpr const char* kTypesTable =
    "CREATE TABLE s.types (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED, "
    "mi MEDIUMINT, mu MEDIUMINT UNSIGNED, ii INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED, bo BOOLEAN, "
    "f FLOAT, f3 FLOAT(10,3), d DOUBLE, d6 DOUBLE(20,6), d20 DOUBLE(30,20), de DECIMAL(10,2), dl DECIMAL(30,12), "
    "d0 DECIMAL(5,0), du DECIMAL(8,3) UNSIGNED, b1 BIT(1), b12 BIT(12), b64 BIT(64), y YEAR, n INT, dt DATE, "
    "tm TIME, tm3 TIME(3), dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP NULL, ts2 TIMESTAMP(2) NULL, c CHAR(4), "
    "vc VARCHAR(20), l1 VARCHAR(10) CHARACTER SET latin1, lc CHAR(5) CHARACTER SET latin1, "
    "lt TEXT CHARACTER SET latin1, bn BINARY(3), vb VARBINARY(8), tt TINYTEXT, tx TEXT, mt MEDIUMTEXT, lx LONGTEXT, "
    "tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB, e ENUM('x','y','z'), st SET('a','b','c'), j JSON, "
    "g GEOMETRY, p POINT, s2 VARCHAR(10), ls LINESTRING, pg POLYGON, u UUID, i4 INET4, i6 INET6, s3 VARCHAR(10), "
    "gv INT AS (ii + 1) VIRTUAL, gs VARCHAR(30) AS (CONCAT(vc, '-')) STORED, inv INT INVISIBLE) "
    "DEFAULT CHARSET=utf8mb4";

// The columns an INSERT writes (the generated ones compute themselves).
constexpr const char* kWritten =
    "id, ti, tu, si, su, mi, mu, ii, iu, bi, bu, bo, f, f3, d, d6, d20, de, dl, d0, du, b1, b12, b64, y, n, dt, tm, "
    "tm3, dtm, dtm6, ts, ts2, c, vc, l1, lc, lt, bn, vb, tt, tx, mt, lx, tb, bl, mb, lb, e, st, j, g, p, s2, ls, pg, "
    "u, i4, i6, s3, inv";

constexpr const char* kTypesRows[] = {
    "(1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, "
    "18446744073709551615, TRUE, 1.2345678, 1234.5678, 0.30000000000000004, -1.0000000000287557E-6, "
    "-1.0000000000287557E-6, -12345678.90, -123456789012345678.000000000001, 12345, 12345.678, b'1', "
    "b'101010101010', b'1111111111111111111111111111111111111111111111111111111111111111', 2024, -5, '2024-02-29', "
    "'-838:59:59', '-838:59:59.000', '2024-01-02 03:04:05', '2024-01-02 03:04:05.123456', '2038-01-19 03:14:07', "
    "'2024-06-30 12:34:56.78', 'ab', 'h\xc3\xa9llo', 'caf\xc3\xa9', 'caf\xe2\x82\xac', 'latin1 t\xc3\xa9\xe2\x82\xacxt', "
    "'a\\0', X'00ff10', 'tiny', 't\xc3\xa9xt', 'medium', 'long', X'00', X'00ffc3a9', X'ff', X'0102', 'y', 'a,c', "
    "'{\"k\": [1, 2.5, \"x\"], \"a\": null}', ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('POINT(3 4)'), "
    "'\xc3\xa9\xf0\x9f\x98\x80', ST_GeomFromText('LINESTRING(0 0,1 1)'), "
    "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), '6ccd780c-baba-1026-9564-5b8c656024db', '192.168.0.1', "
    "'2001:db8::1', 'after', 42)",
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL)",
    "(3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, FALSE, 0, 0, -1e300, 0, 0, 0, 0, 0, 0, b'0', b'0', b'0', 0, 0, '0000-00-00', "
    "'00:00:00', '00:00:00.000', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00', "
    "'0000-00-00 00:00:00.00', '', '', '', '', '', '', X'', '', '', '', '', X'', X'', X'', X'', '', '', '[]', "
    "ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(0 0)'), '', ST_GeomFromText('LINESTRING(0 0,0 0)'), "
    "ST_GeomFromText('POLYGON((0 0,0 0,0 0,0 0))'), '00000000-0000-0000-0000-000000000000', '0.0.0.0', '::', '', 0)",
    "(4, 127, 128, 32767, 32768, 8388607, 8388608, 2147483647, 2147483648, 9223372036854775807, "
    "9223372036854775808, TRUE, 3.4e38, -0.001, 1e-300, 123456.123456, 1.5, 0.01, 0.000000000001, -99999, 0.001, "
    "b'0', b'000000000001', b'1', 1901, 2147483647, '1000-01-01', '838:59:59', '12:00:00.5', "
    "'9999-12-31 23:59:59', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01', '2024-01-01 00:00:00.01', "
    "'abcd', ' x ', '\xc3\xbf', '\xe2\x82\xac', '\xe2\x82\xac', 'a\\0b', X'ff', ' ', '\xf0\x9f\x98\x80', 'm', 'l', "
    "X'ff00', X'00', X'0000', X'c3a9', 'z', 'a,b,c', '\"text\"', ST_GeomFromText('POINT(-1.5 2.25)'), "
    "ST_GeomFromText('POINT(7 8)'), '\xc3\xa9', ST_GeomFromText('LINESTRING(1 2,3 4,5 6)'), "
    "ST_GeomFromText('POLYGON((0 0,2 0,2 2,0 0))'), 'ffffffff-ffff-4fff-bfff-ffffffffffff', '255.255.255.255', "
    "'::ffff:192.0.2.1', 'x', NULL)"};

const eb::Column* findColumn(const eb::RowData& row, const std::string& name) {
  for (const auto& c : row.aftercolumns()) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

}  // namespace

void SnapshotTest::typesCase(const std::string& metadata) {
  ASSERT_TRUE(db_->execute("SET GLOBAL binlog_row_metadata = " + metadata).isOk());
  ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
  const Status created = db_->execute(kTypesTable);
  ASSERT_TRUE(created.isOk()) << created.toString();
  for (const char* row : kTypesRows) {
    ASSERT_TRUE(db_->execute("SET SESSION sql_mode = ''; INSERT INTO s.types (" + std::string(kWritten) + ") VALUES " + row)
                    .isOk()) << row;
  }
  convert::RenderOptions other;
  other.convertColumnCharset = true;
  other.decimal = binlog::DecimalStyle::kExact;
  other.timeZone = convert::TimeZone::fixed(8 * 3600);
  const std::pair<const char*, convert::RenderOptions> cases[] = {{"defaults", convert::RenderOptions{}},
                                                                   {"column.charset, decimal.exact, +08:00", other}};
  int copy = 0;
  for (const auto& [caseName, render] : cases) {
    SCOPED_TRACE(metadata + ", " + caseName);
    const std::string copyTable = "copy" + std::to_string(++copy);
    ASSERT_TRUE(db_->execute("CREATE TABLE s." + copyTable + " LIKE s.types").isOk());
    runner_.reset();
    if (d_) d_->stop();
    start("", render);
    ASSERT_FALSE(HasFatalFailure());

    SnapshotRequest request;
    request.tables = {{"s", "types"}};
    ASSERT_TRUE(runner_->start(request).isOk());
    const Status copied = db_->execute("SET SESSION sql_mode = ''; INSERT INTO s." + copyTable + " (" + kWritten +
                                       ") SELECT " + kWritten + " FROM s.types");
    ASSERT_TRUE(copied.isOk()) << copied.toString();
    std::map<std::string, eb::RowData> fromBinlog;
    std::map<std::string, eb::RowData> fromSnapshot;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while ((fromBinlog.size() < 4 || fromSnapshot.size() < 4) && std::chrono::steady_clock::now() < deadline) {
      drain([&](const eb::Entry& e) {
        if (e.entrytype() != eb::ROWDATA) return;
        const bool snapshot = isSnapshot(e) && e.header().tablename() == "types";
        if (!snapshot && e.header().tablename() != copyTable) return;
        eb::RowChange rc;
        ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
        for (const auto& row : rc.rowdatas()) (snapshot ? fromSnapshot : fromBinlog)[row.aftercolumns(0).value()] = row;
      });
    }
    ASSERT_EQ(fromBinlog.size(), 4u);
    ASSERT_EQ(fromSnapshot.size(), 4u) << runner_->progress()->toJson();

    // The values the binlog must carry whatever the metadata: those the issue reports wrong.
    const eb::RowData& first = fromBinlog.at("1");
    ASSERT_EQ(first.aftercolumns_size(), 63);
    const auto expect = [&](const char* name, const std::string& value, int sqlType, const std::string& mysqlType) {
      const eb::Column* c = findColumn(first, name);
      ASSERT_NE(c, nullptr) << name;
      EXPECT_EQ(c->value(), value) << name;
      EXPECT_EQ(c->sqltype(), sqlType) << name;
      EXPECT_EQ(c->mysqltype(), mysqlType) << name;
    };
    expect("n", "-5", 4, "int(11)");
    expect("s2", "\xc3\xa9\xf0\x9f\x98\x80", 12, "varchar(10)");
    expect("s3", "after", 12, "varchar(10)");
    expect("u", "6ccd780c-baba-1026-9564-5b8c656024db", 1, "uuid");
    expect("i4", "192.168.0.1", 1, "inet4");
    expect("i6", "2001:db8::1", 1, "inet6");
    expect("p", findColumn(first, "p")->value(), 2004, "point");
    expect("d6", "-1.0000000000287557E-6", 8, "double(20,6)");
    expect("l1", render.convertColumnCharset ? "caf\xc3\xa9" : "caf\xe9", 12, "varchar(10)");
    expect("gv", "-2147483647", 4, "int(11)");
    expect("inv", "42", 4, "int(11)");
    expect("de", "-12345678.90", 3, "decimal(10,2)");
    EXPECT_EQ(findColumn(fromBinlog.at("3"), "de")->value(), render.decimal == binlog::DecimalStyle::kExact ? "0.00" : "0.0");
    EXPECT_EQ(findColumn(fromBinlog.at("3"), "u")->value(), "00000000-0000-0000-0000-000000000000");

    for (const auto& [id, binlogRow] : fromBinlog) {
      const eb::RowData& snapshotRow = fromSnapshot.at(id);
      ASSERT_EQ(snapshotRow.aftercolumns_size(), binlogRow.aftercolumns_size());
      for (int i = 0; i < binlogRow.aftercolumns_size(); ++i) {
        const eb::Column& want = binlogRow.aftercolumns(i);
        const eb::Column& got = snapshotRow.aftercolumns(i);
        SCOPED_TRACE("row " + id + ", column " + want.name());
        EXPECT_EQ(got.name(), want.name());
        EXPECT_EQ(got.index(), want.index());
        EXPECT_EQ(got.isnull(), want.isnull());
        EXPECT_EQ(got.value(), want.value());
        EXPECT_EQ(got.sqltype(), want.sqltype());
        EXPECT_EQ(got.mysqltype(), want.mysqltype());
        EXPECT_EQ(got.iskey(), want.iskey());
        EXPECT_EQ(got.updated(), want.updated());
      }
    }
  }
}

// A composite key in another order than the columns, with text that compares by collation
// (case-insensitive) and is not ASCII: chunks neither skip nor repeat rows.
}  // namespace canal::snapshot::test
