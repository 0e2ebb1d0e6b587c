// Table definitions read from the primary and kept across DDL and restarts, for binlogs without
// full row metadata.

#include "tests/integration/replica/replica_helpers.h"

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
