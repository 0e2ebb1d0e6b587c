// The SELECT of a snapshot chunk, built without a database: the columns read (FLOAT and
// DOUBLE(M,D) widened), the key-range condition after the last key, the request's where, order
// and limit.

#include "server/snapshot/chunk_query.h"

#include <gtest/gtest.h>

namespace canal::snapshot {
namespace {

schema::ColumnSchema column(std::string name, std::string dataType, std::string columnType, std::string charset = "",
                            bool binary = false) {
  schema::ColumnSchema c;
  c.name = std::move(name);
  c.dataType = std::move(dataType);
  c.columnType = std::move(columnType);
  c.charset = std::move(charset);
  c.isBinary = binary;
  return c;
}

schema::TableSchema table() {
  schema::TableSchema t;
  t.database = "shop";
  t.table = "or`ders";
  t.columns = {column("region", "varchar", "varchar(8)", "utf8mb4"), column("n", "int", "int(11)"),
               column("tag", "varbinary", "varbinary(4)", "", true), column("f", "float", "float"),
               column("d", "double", "double(10,2)"), column("e", "double", "double")};
  return t;
}

TEST(ChunkQuery, TheFirstChunkReadsEveryColumnInKeyOrder) {
  const auto def = table();
  auto key = keyColumns(def, {"region", "n"});
  ASSERT_TRUE(key.isOk()) << key.status().toString();
  EXPECT_EQ(key->indexes, (std::vector<std::uint32_t>{0, 1}));
  const std::optional<std::vector<std::string>> none;
  EXPECT_EQ(chunkSelect({"shop", "or`ders", &def, &*key, &none, "", 500}),
            "SELECT `region`, `n`, `tag`, CAST(`f` AS DOUBLE), CAST(`d` AS DOUBLE), `e` FROM `shop`.`or``ders` "
            "ORDER BY `region`, `n` LIMIT 500");
}

TEST(ChunkQuery, TheNextChunkStartsAfterTheLastKeyByARowComparisonTheIndexServes) {
  const auto def = table();
  auto key = keyColumns(def, {"region", "n"});
  ASSERT_TRUE(key.isOk());
  const std::optional<std::vector<std::string>> after = std::vector<std::string>{"eu'", "-7"};
  EXPECT_EQ(chunkSelect({"shop", "or`ders", &def, &*key, &after, "n % 2 = 0", 10}),
            "SELECT `region`, `n`, `tag`, CAST(`f` AS DOUBLE), CAST(`d` AS DOUBLE), `e` FROM `shop`.`or``ders` "
            "WHERE ((`region` > CONVERT(X'657527' USING utf8mb4)) OR (`region` = CONVERT(X'657527' USING utf8mb4) "
            "AND `n` > -7)) AND (n % 2 = 0) ORDER BY `region`, `n` LIMIT 10");
}

TEST(ChunkQuery, ARangeReadInParallelEndsAtItsLastKeyInclusiveWithoutALimit) {
  const auto def = table();
  auto key = keyColumns(def, {"region", "n"});
  ASSERT_TRUE(key.isOk());
  const std::optional<std::vector<std::string>> after = std::vector<std::string>{"eu", "3"};
  const std::optional<std::vector<std::string>> upTo = std::vector<std::string>{"us", "9"};
  EXPECT_EQ(chunkSelect({"shop", "t", &def, &*key, &after, "", 0, &upTo}),
            "SELECT `region`, `n`, `tag`, CAST(`f` AS DOUBLE), CAST(`d` AS DOUBLE), `e` FROM `shop`.`t` "
            "WHERE ((`region` > CONVERT(X'6575' USING utf8mb4)) OR (`region` = CONVERT(X'6575' USING utf8mb4) "
            "AND `n` > 3)) AND ((`region` < CONVERT(X'7573' USING utf8mb4)) OR (`region` = CONVERT(X'7573' USING "
            "utf8mb4) AND `n` <= 9)) ORDER BY `region`, `n`");
  // Where the range of the next 100 rows ends: the key of the 100th, on the key's columns only.
  EXPECT_EQ(boundarySelect({"shop", "t", &def, &*key, &after, "n > 0", 100}),
            "SELECT `region`, `n` FROM `shop`.`t` WHERE ((`region` > CONVERT(X'6575' USING utf8mb4)) OR "
            "(`region` = CONVERT(X'6575' USING utf8mb4) AND `n` > 3)) AND (n > 0) ORDER BY `region`, `n` "
            "LIMIT 1 OFFSET 99");
}

TEST(ChunkQuery, KeyValuesAreLiteralsOfTheirColumnsType) {
  const auto def = table();
  EXPECT_EQ(keyLiteral(def.columns[1], "42"), "42");
  EXPECT_EQ(keyLiteral(def.columns[1], "-"), "'-'") << "not a number: compared as text";
  EXPECT_EQ(keyLiteral(def.columns[2], std::string("\x00\xff", 2)), "X'00ff'");
  EXPECT_EQ(keyLiteral(def.columns[0], "a"), "CONVERT(X'61' USING utf8mb4)");
}

TEST(ChunkQuery, AKeyColumnNoLongerInTheTableIsAChangedKey) {
  const auto def = table();
  auto key = keyColumns(def, {"region", "id"});
  ASSERT_FALSE(key.isOk());
  EXPECT_EQ(key.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(key.status().message().find("the key of shop.or`ders changed"), std::string::npos) << key.status().toString();
}

}  // namespace
}  // namespace canal::snapshot
