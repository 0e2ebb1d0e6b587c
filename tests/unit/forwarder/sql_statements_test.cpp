// The SQL sink's statements, built without a database: upserts and deletes by key in binlog
// order, consecutive ones in one statement, a key change as a delete then an upsert, values as
// literals of their type, and the mapping's target, key, renames and column choice.

#include "forwarder/sql/sql_statements.h"

#include <gtest/gtest.h>

#include "forwarder/sink.h"
#include "tests/unit/forwarder/change_builder.h"

namespace canal::forwarder {
namespace {

using namespace test_changes;

std::string escapeQuotes(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

const SqlDialect kMariaDb{false, escapeQuotes};
const SqlDialect kPostgres{true, [](std::string_view text) {
                             std::string out;
                             for (const char c : text) {
                               if (c == '\'') out.push_back('\'');
                               out.push_back(c);
                             }
                             return out;
                           }};

SqlMapping mapping(std::string target = "") {
  SqlMapping m;
  m.table = "shop.orders";
  m.target = std::move(target);
  return m;
}

Col id(const std::string& v) { return {"id", v, true, false, 4, "int(11)"}; }
Col note(const std::optional<std::string>& v) { return {"note", v}; }

TEST(SqlStatements, ConsecutiveChangesOfATableShareAStatementAndKeepTheirOrder) {
  const Change a = change(eb::INSERT, {{{}, {id("1"), note("it's")}}, {{}, {id("2"), note(std::nullopt)}}}, 100);
  const Change b = change(eb::UPDATE, {{{id("1"), note("it's")}, {id("1"), note("x")}}}, 200);
  const Change c = change(eb::DELETE, {{{id("2"), note(std::nullopt)}, {}}}, 300);
  const Change d = change(eb::DELETE, {{{id("1"), note("x")}, {}}}, 400);
  auto batch = sqlStatements({mapping("replica.orders")}, {&a, &b, &c, &d}, kMariaDb, 500);
  ASSERT_TRUE(batch.isOk()) << batch.status().message();
  ASSERT_EQ(batch->statements.size(), 2u);
  EXPECT_EQ(batch->statements[0],
            "INSERT INTO `replica`.`orders` (`id`, `note`) VALUES (1, 'it\\'s'), (2, NULL), (1, 'x') "
            "ON DUPLICATE KEY UPDATE `id` = VALUES(`id`), `note` = VALUES(`note`)");
  EXPECT_EQ(batch->statements[1], "DELETE FROM `replica`.`orders` WHERE `id` IN (2, 1)");
  EXPECT_EQ(batch->rows, 5u);
}

TEST(SqlStatements, AKeyChangeIsADeleteOfTheOldKeyThenAnUpsert) {
  const Change move = change(eb::UPDATE, {{{id("1"), note("a")}, {id("9"), note("a")}}}, 100);
  auto batch = sqlStatements({mapping()}, {&move}, kMariaDb, 500);
  ASSERT_TRUE(batch.isOk());
  ASSERT_EQ(batch->statements.size(), 2u);
  EXPECT_EQ(batch->statements[0], "DELETE FROM `shop`.`orders` WHERE `id` IN (1)");
  EXPECT_EQ(batch->statements[1].rfind("INSERT INTO `shop`.`orders` (`id`, `note`) VALUES (9, 'a')", 0), 0u)
      << batch->statements[1];
}

TEST(SqlStatements, TheMappingsKeyRenamesAndColumnsAndAStatementsRowLimit) {
  SqlMapping m = mapping("r.o");
  m.key = {"code", "id"};
  m.rename = {{"note", "remark"}};
  m.exclude = {"secret"};
  const auto row = [](const std::string& n) {
    return std::vector<Col>{{"code", "c" + n, false, false, 12, "varchar(8)"}, id(n), note("n" + n), {"secret", "s"}};
  };
  const Change ins = change(eb::INSERT, {{{}, row("1")}, {{}, row("2")}, {{}, row("3")}}, 100);
  const Change del = change(eb::DELETE, {{row("1"), {}}, {row("2"), {}}}, 200);
  auto batch = sqlStatements({m}, {&ins, &del}, kMariaDb, 2);
  ASSERT_TRUE(batch.isOk()) << batch.status().message();
  ASSERT_EQ(batch->statements.size(), 3u);
  EXPECT_EQ(batch->statements[0].rfind("INSERT INTO `r`.`o` (`code`, `id`, `remark`) VALUES ('c1', 1, 'n1'), ('c2', 2, 'n2') ", 0),
            0u) << batch->statements[0];
  EXPECT_EQ(batch->statements[1].rfind("INSERT INTO `r`.`o` (`code`, `id`, `remark`) VALUES ('c3', 3, 'n3') ", 0), 0u);
  EXPECT_EQ(batch->statements[2], "DELETE FROM `r`.`o` WHERE (`code`, `id`) IN (('c1', 1), ('c2', 2))");
}

TEST(SqlStatements, ValuesAreLiteralsOfTheirType) {
  const auto literal = [](Col c) { return sqlLiteral(column(c), kMariaDb); };
  EXPECT_EQ(literal({"n", "-12.50", false, false, 3, "decimal(10,2)"}), "-12.50");
  EXPECT_EQ(literal({"d", "1.0E-4", false, false, 8, "double"}), "1.0E-4");
  EXPECT_EQ(literal({"b", "5", false, false, -7, "bit(8)"}), "5");
  EXPECT_EQ(literal({"e", "2", false, false, 4, "enum('a','b')"}), "2");
  EXPECT_EQ(literal({"t", "2024-05-06 07:08:09", false, false, 93, "datetime"}), "'2024-05-06 07:08:09'");
  EXPECT_EQ(literal({"x", std::nullopt, false, false, 12}), "NULL");
  // Canal sends a BLOB's bytes as ISO-8859-1 characters: 0x00 0xFF 'A' is "\u0000\u00ffA".
  EXPECT_EQ(literal({"blob", std::string("\x00\xc3\xbf" "A", 4), false, false, 2004, "blob"}), "X'00ff41'");
  EXPECT_EQ(literal({"s", "1; DROP TABLE t", false, false, 4, "int"}), "'1; DROP TABLE t'") << "not a number: quoted";
}

TEST(SqlStatements, OnPostgresUpsertsConflictOnTheKeyAndAKeysSecondUpsertStartsAStatement) {
  const Change a = change(eb::INSERT, {{{}, {id("1"), note("it's")}}, {{}, {id("2"), note(std::nullopt)}}}, 100);
  const Change b = change(eb::UPDATE, {{{id("1"), note("it's")}, {id("1"), note("x")}}}, 200);
  const Change c = change(eb::DELETE, {{{id("2"), note(std::nullopt)}, {}}}, 300);
  auto batch = sqlStatements({mapping("replica.orders")}, {&a, &b, &c}, kPostgres, 500);
  ASSERT_TRUE(batch.isOk()) << batch.status().message();
  ASSERT_EQ(batch->statements.size(), 3u);
  EXPECT_EQ(batch->statements[0],
            "INSERT INTO \"replica\".\"orders\" (\"id\", \"note\") VALUES ('1', 'it''s'), ('2', NULL) "
            "ON CONFLICT (\"id\") DO UPDATE SET \"note\" = EXCLUDED.\"note\"");
  EXPECT_EQ(batch->statements[1],
            "INSERT INTO \"replica\".\"orders\" (\"id\", \"note\") VALUES ('1', 'x') "
            "ON CONFLICT (\"id\") DO UPDATE SET \"note\" = EXCLUDED.\"note\"")
      << "PostgreSQL refuses one statement that touches a row twice";
  EXPECT_EQ(batch->statements[2], "DELETE FROM \"replica\".\"orders\" WHERE \"id\" IN ('2')");
  // A table of key columns only has nothing to update.
  const Change k = change(eb::INSERT, {{{}, {id("5")}}}, 400);
  auto keys = sqlStatements({mapping("r.k")}, {&k}, kPostgres, 500);
  ASSERT_TRUE(keys.isOk());
  EXPECT_EQ(keys->statements.at(0), "INSERT INTO \"r\".\"k\" (\"id\") VALUES ('5') ON CONFLICT (\"id\") DO NOTHING");
}

TEST(SqlStatements, OnPostgresALargeUpsertIsCopiedIntoAStagingTableAndASmallOneStaysLiterals) {
  SqlDialect copying = kPostgres;
  copying.copyRows = 3;
  const Change big = change(eb::INSERT,
                            {{{}, {id("1"), note("tab\there")}},
                             {{}, {id("2"), note(std::nullopt)}},
                             {{}, {id("3"), note("back\\slash\nline")}}},
                            100);
  const Change bytes = change(eb::INSERT,
                              {{{}, {id("4"), {"b", std::string("\x00\xc3\xbf", 3), false, false, 2004, "blob"}}},
                               {{}, {id("5"), {"b", "it's", false, false, 2004, "blob"}}}},
                              200, "files");
  SqlMapping files = mapping("r.files");
  files.table = "shop.files";
  auto batch = sqlStatements({mapping("r.orders"), files}, {&big, &bytes}, copying, 500);
  ASSERT_TRUE(batch.isOk()) << batch.status().message();
  ASSERT_EQ(batch->statements.size(), 2u);
  ASSERT_EQ(batch->copies.size(), 2u);
  ASSERT_TRUE(batch->copies[0]);
  const SqlCopy& copy = *batch->copies[0];
  EXPECT_EQ(copy.stage.rfind("pg_temp.\"canal_stage_", 0), 0u) << copy.stage;
  EXPECT_EQ(copy.create, "CREATE TEMPORARY TABLE " + copy.stage.substr(8) +
                             " ON COMMIT DELETE ROWS AS SELECT \"id\", \"note\" FROM \"r\".\"orders\" WITH NO DATA");
  EXPECT_EQ(copy.copy, "COPY " + copy.stage + " (\"id\", \"note\") FROM STDIN");
  EXPECT_EQ(copy.data, "1\ttab\\there\n2\t\\N\n3\tback\\\\slash\\nline\n");
  EXPECT_EQ(batch->statements[0],
            "WITH canal_rows AS (DELETE FROM " + copy.stage + " RETURNING \"id\", \"note\") INSERT INTO \"r\".\"orders\" "
            "(\"id\", \"note\") SELECT \"id\", \"note\" FROM canal_rows ON CONFLICT (\"id\") DO UPDATE SET \"note\" = "
            "EXCLUDED.\"note\"");
  EXPECT_FALSE(batch->copies[1]) << "two rows: below copyRows";
  EXPECT_EQ(batch->statements[1],
            "INSERT INTO \"r\".\"files\" (\"id\", \"b\") VALUES ('4', '\\x00ff'), ('5', '\\x69742773') "
            "ON CONFLICT (\"id\") DO UPDATE SET \"b\" = EXCLUDED.\"b\"");
  // Another table's stage, and none for a mapping with a cast (its literals are CAST(...)).
  SqlMapping cast = mapping("r.orders");
  cast.cast["note"] = "text";
  auto casted = sqlStatements({cast}, {&big}, copying, 500);
  ASSERT_TRUE(casted.isOk());
  EXPECT_FALSE(casted->copies.at(0));
  EXPECT_NE(casted->statements[0].find("CAST('tab\there' AS text)"), std::string::npos) << casted->statements[0];
}

TEST(SqlStatements, OnPostgresValuesAreQuotedBytesAreByteaAndACastConverts) {
  const auto literal = [](Col c, const std::string& cast = "") { return sqlLiteral(column(c), kPostgres, cast); };
  EXPECT_EQ(literal({"n", "-12.50", false, false, 3, "decimal(10,2)"}), "'-12.50'");
  EXPECT_EQ(literal({"b", "1", false, false, -7, "bit(1)"}), "'1'");
  EXPECT_EQ(literal({"blob", std::string("\x00\xc3\xbf" "A", 4), false, false, 2004, "blob"}), "'\\x00ff41'");
  EXPECT_EQ(literal({"s", "it's", false, false, 12, "varchar(8)"}), "'it''s'");
  EXPECT_EQ(literal({"t", "-838:59:59", false, false, 92, "time"}, "interval"), "CAST('-838:59:59' AS interval)");
  EXPECT_EQ(literal({"x", std::nullopt, false, false, 12}, "text"), "CAST(NULL AS text)");
  // ENUM indexes and SET masks (Canal without the binlog's metadata) as their labels.
  EXPECT_EQ(literal({"e", "2", false, false, 4, "enum('a','it''s','c')"}), "'it''s'");
  EXPECT_EQ(literal({"e", "0", false, false, 4, "enum('a','b')"}), "''");
  EXPECT_EQ(literal({"e", "b", false, false, 12, "enum('a','b')"}), "'b'") << "already a label";
  EXPECT_EQ(literal({"s", "5", false, false, -7, "set('x','y','z')"}), "'x,z'");
  // JSON and TEXT with a binary collation come with BLOB's sqlType but hold text.
  EXPECT_EQ(literal({"j", "{\"a\": 1}", false, false, 2004, "longtext"}), "'{\"a\": 1}'");
}

TEST(SqlStatements, TheMappingsWhereKeepsItsRowsAndAnUpdateOutOfItDeletes) {
  SqlMapping m = mapping("r.o");
  m.where = "note <> 'hidden'";
  const Change ins = change(eb::INSERT, {{{}, {id("1"), note("a")}}, {{}, {id("2"), note("hidden")}}}, 100);
  const Change out = change(eb::UPDATE, {{{id("1"), note("a")}, {id("1"), note("hidden")}}}, 200);
  const Change in = change(eb::UPDATE, {{{id("2"), note("hidden")}, {id("2"), note("b")}}}, 300);
  auto batch = sqlStatements({m}, {&ins, &out, &in}, kMariaDb, 500);
  ASSERT_TRUE(batch.isOk()) << batch.status().message();
  ASSERT_EQ(batch->statements.size(), 3u);
  EXPECT_EQ(batch->statements[0].rfind("INSERT INTO `r`.`o` (`id`, `note`) VALUES (1, 'a') ", 0), 0u) << batch->statements[0];
  EXPECT_EQ(batch->statements[1], "DELETE FROM `r`.`o` WHERE `id` IN (1)");
  EXPECT_EQ(batch->statements[2].rfind("INSERT INTO `r`.`o` (`id`, `note`) VALUES (2, 'b') ", 0), 0u) << batch->statements[2];
}

TEST(SqlStatements, LanesSplitTheRowsByKeyEachKeyOnOneLaneInOrder) {
  std::vector<Change> inserts;
  for (int i = 0; i < 40; ++i) inserts.push_back(change(eb::INSERT, {{{}, {id(std::to_string(i)), note("a")}}}, 100 + i));
  const Change update = change(eb::UPDATE, {{{id("7"), note("a")}, {id("7"), note("b")}}}, 200);
  std::vector<const Change*> all;
  for (const Change& c : inserts) all.push_back(&c);
  all.push_back(&update);
  std::size_t rows = 0;
  std::vector<std::string> lanesOf7;
  for (std::size_t lane = 0; lane < 3; ++lane) {
    auto batch = sqlStatements({mapping()}, all, kMariaDb, 1, SqlLane{lane, 3});
    ASSERT_TRUE(batch.isOk()) << batch.status().message();
    rows += batch->rows;
    EXPECT_GT(batch->rows, 3u) << "lane " << lane << " takes its share";
    for (const std::string& st : batch->statements) {
      if (st.find("VALUES (7, ") != std::string::npos) lanesOf7.push_back(std::to_string(lane) + ":" + st.substr(st.find("VALUES")));
    }
  }
  EXPECT_EQ(rows, 41u) << "every row on exactly one lane";
  ASSERT_EQ(lanesOf7.size(), 2u);
  EXPECT_EQ(lanesOf7[0].substr(0, 2), lanesOf7[1].substr(0, 2)) << "a key's changes on one lane";
  EXPECT_NE(lanesOf7[0].find("'a'"), std::string::npos) << "in their order";
  EXPECT_NE(lanesOf7[1].find("'b'"), std::string::npos);
}

TEST(SqlStatements, ARowWithoutAKeyCannotBeDeletedAndSaysWhichMappingToFix) {
  const Change del = change(eb::DELETE, {{{note("a")}, {}}}, 100);
  auto batch = sqlStatements({mapping()}, {&del}, kMariaDb, 500);
  ASSERT_FALSE(batch.isOk());
  EXPECT_EQ(batch.status().code(), kSinkFatal);
  EXPECT_NE(batch.status().message().find("set key in the mapping of shop.orders"), std::string::npos)
      << batch.status().message();
}

TEST(SqlStatements, TablesNoMappingTakesAreLeftOut) {
  const Change other = change(eb::INSERT, {{{}, {id("1")}}}, 100, "customers");
  auto batch = sqlStatements({mapping()}, {&other}, kMariaDb, 500);
  ASSERT_TRUE(batch.isOk());
  EXPECT_TRUE(batch->statements.empty());
}

}  // namespace
}  // namespace canal::forwarder
