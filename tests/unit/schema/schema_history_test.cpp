#include "server/schema/schema_history.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/support/temp_dir.h"
#include "tests/unit/schema/columns_text.h"

namespace canal::schema {
namespace {

TableSet oneTable() {
  TableSet t;
  applyDdl(t, "CREATE TABLE s.t (id INT PRIMARY KEY, name VARCHAR(8), e ENUM('a','b'))", "s");
  return t;
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SchemaHistory, PositionsOrderByFileIndexThenOffset) {
  EXPECT_TRUE(atOrBefore({"mysql-bin.000009", 900}, {"mysql-bin.000010", 4}));
  EXPECT_FALSE(atOrBefore({"mysql-bin.000010", 4}, {"mysql-bin.000009", 900}));
  EXPECT_TRUE(atOrBefore({"mysql-bin.000010", 4}, {"mysql-bin.000010", 4}));
  EXPECT_FALSE(atOrBefore({"mysql-bin.000010", 5}, {"mysql-bin.000010", 4}));
  EXPECT_TRUE(atOrBefore({"mysql-bin.999999", 5}, {"mysql-bin.1000000", 4}));
}

TEST(SchemaHistory, RestoresTheDefinitionsOfAnEarlierPositionAfterReopening) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "schema-history.jsonl").string();
  {
    auto h = SchemaHistory::open(path);
    ASSERT_TRUE(h.isOk()) << h.status().toString();
    ASSERT_TRUE(h->empty());
    ASSERT_TRUE(h->appendSnapshot({"bin.000001", 4}, oneTable()).isOk());
    ASSERT_TRUE(h->appendDdl({"bin.000001", 500}, "s", "ALTER TABLE t ADD COLUMN n BIGINT AFTER id").isOk());
    ASSERT_TRUE(h->appendDdl({"bin.000002", 300}, "s", "ALTER TABLE t DROP COLUMN name").isOk());
  }
  auto h = SchemaHistory::open(path);
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  auto last = h->restore({"bin.000002", 1000});
  ASSERT_TRUE(last.isOk()) << last.status().toString();
  EXPECT_EQ(columns(*last, "s", "t"), "id int(11) PK; n bigint(20); e enum('a','b'); ");

  // Back before the second ALTER: it is gone from the file too, the stream replays it.
  auto middle = h->restore({"bin.000001", 800});
  ASSERT_TRUE(middle.isOk());
  EXPECT_EQ(columns(*middle, "s", "t"), "id int(11) PK; n bigint(20); name varchar(8); e enum('a','b'); ");
  EXPECT_EQ(readFile(path).find("DROP COLUMN"), std::string::npos);

  auto first = h->restore({"bin.000001", 4});
  ASSERT_TRUE(first.isOk());
  EXPECT_EQ(columns(*first, "s", "t"), "id int(11) PK; name varchar(8); e enum('a','b'); ");
  ASSERT_EQ(first->at({"s", "t"}).columns[2].members, (std::vector<std::string>{"a", "b"}));
}

TEST(SchemaHistory, TableRecordsAndUnfollowableDdl) {
  testing::TempDir dir;
  auto h = SchemaHistory::open((dir.path() / "h").string());
  ASSERT_TRUE(h.isOk());
  ASSERT_TRUE(h->appendSnapshot({"bin.000001", 4}, oneTable()).isOk());
  TableSchema other;
  other.database = "s";
  other.table = "u";
  other.columns.push_back(ColumnSchema{"k", "varbinary(4)", "varbinary", false, true, true, {}, ""});
  ASSERT_TRUE(h->appendTable({"bin.000001", 100}, other).isOk());
  auto withU = h->restore({"bin.000001", 100});
  ASSERT_TRUE(withU.isOk());
  EXPECT_EQ(columns(*withU, "s", "u"), "k varbinary(4) PK BIN; ");
  EXPECT_TRUE(withU->at({"s", "u"}).columns[0].isBinary);
  // A CREATE ... SELECT cannot be replayed: that table is forgotten, to be read again.
  ASSERT_TRUE(h->appendDdl({"bin.000001", 200}, "s", "CREATE TABLE u2 AS SELECT * FROM u").isOk());
  auto after = h->restore({"bin.000001", 200});
  ASSERT_TRUE(after.isOk());
  EXPECT_EQ(columns(*after, "s", "u2"), "<none>");
  EXPECT_EQ(columns(*after, "s", "t"), "id int(11) PK; name varchar(8); e enum('a','b'); ");
}

TEST(SchemaHistory, ATornLastRecordIsDroppedAndABrokenOneNamesItsLine) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "h").string();
  {
    auto h = SchemaHistory::open(path);
    ASSERT_TRUE(h.isOk());
    ASSERT_TRUE(h->appendSnapshot({"bin.000001", 4}, oneTable()).isOk());
  }
  {
    std::ofstream out(path, std::ios::app);
    out << R"({"file":"bin.000001","pos":90,"kind":"ddl","sql":"ALTER TABLE t ADD tor)";  // a crash mid-append
  }
  auto h = SchemaHistory::open(path);
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  auto t = h->restore({"bin.000009", 4});
  ASSERT_TRUE(t.isOk());
  EXPECT_EQ(columns(*t, "s", "t"), "id int(11) PK; name varchar(8); e enum('a','b'); ");
  EXPECT_EQ(readFile(path).find("tor"), std::string::npos);

  {
    std::ofstream out(path, std::ios::app);
    out << "not json\n" << R"({"file":"bin.000001","pos":95,"kind":"ddl","database":"s","sql":"DROP TABLE t"})" << "\n";
  }
  auto broken = SchemaHistory::open(path);
  ASSERT_TRUE(broken.status().isCorruption());
  EXPECT_NE(broken.status().toString().find(path + ":2"), std::string::npos) << broken.status().toString();
}

}  // namespace
}  // namespace canal::schema
