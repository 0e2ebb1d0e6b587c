// A source table's DDL and its copy in a SQL target, without a database: column changes
// repeated (types mapped for PostgreSQL, defaults and NOT NULL kept, the mapping's renames and
// left-out columns followed), index and option changes passed by, and a stop that names the
// statement and how to go on.

#include "forwarder/sql/sql_ddl.h"

#include <gtest/gtest.h>

#include "forwarder/sink.h"

namespace canal::forwarder {
namespace {

Change ddl(const std::string& sql) {
  Change c;
  c.isDdl = true;
  c.type = eb::ALTER;
  c.database = "shop";
  c.table = "orders";
  c.logfileName = "mysql-bin.000003";
  c.logfileOffset = 4711;
  c.rowChange.set_isddl(true);
  c.rowChange.set_sql(sql);
  return c;
}

std::string quoteDoubling(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  return out;
}

const SqlDialect kMariaDb{false, quoteDoubling};
const SqlDialect kPostgres{true, quoteDoubling};

std::vector<std::string> mirrored(const std::string& sql, const SqlDialect& d, const SqlMapping& m = SqlMapping{}) {
  auto out = ddlStatements(m, d.postgres ? "\"r\".\"orders\"" : "`r`.`orders`", ddl(sql), d, SqlSinkConfig::Ddl::kMirror);
  EXPECT_TRUE(out.isOk()) << sql << ": " << out.status().message();
  return out.isOk() ? *out : std::vector<std::string>{};
}

TEST(SqlDdl, ColumnChangesAreRepeatedOnPostgresWithMappedTypes) {
  EXPECT_EQ(mirrored("ALTER TABLE shop.orders ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'n/a' AFTER id", kPostgres),
            std::vector<std::string>{"ALTER TABLE \"r\".\"orders\" ADD COLUMN IF NOT EXISTS \"note\" varchar(20) "
                                     "DEFAULT 'n/a' NOT NULL"});
  EXPECT_EQ(mirrored("alter table `orders` add `qty` int unsigned, drop column `old`, add index (qty)", kPostgres),
            (std::vector<std::string>{"ALTER TABLE \"r\".\"orders\" ADD COLUMN IF NOT EXISTS \"qty\" bigint",
                                      "ALTER TABLE \"r\".\"orders\" DROP COLUMN IF EXISTS \"old\""}));
  EXPECT_EQ(mirrored("ALTER TABLE orders RENAME COLUMN a TO b", kPostgres),
            std::vector<std::string>{"ALTER TABLE \"r\".\"orders\" RENAME COLUMN \"a\" TO \"b\""});
  EXPECT_EQ(mirrored("ALTER TABLE orders CHANGE total amount DECIMAL(12,2)", kPostgres),
            (std::vector<std::string>{"ALTER TABLE \"r\".\"orders\" RENAME COLUMN \"total\" TO \"amount\"",
                                      "ALTER TABLE \"r\".\"orders\" ALTER COLUMN \"amount\" TYPE numeric(12,2) USING "
                                      "\"amount\"::numeric(12,2)"}));
  EXPECT_EQ(mirrored("TRUNCATE TABLE shop.orders", kPostgres), std::vector<std::string>{"TRUNCATE TABLE \"r\".\"orders\""});
}

TEST(SqlDdl, OnMariaDbTheDefinitionIsKeptWithoutItsPlace) {
  EXPECT_EQ(mirrored("ALTER TABLE orders ADD COLUMN note VARCHAR(20) CHARACTER SET utf8mb4 DEFAULT 'x' FIRST", kMariaDb),
            std::vector<std::string>{"ALTER TABLE `r`.`orders` ADD COLUMN IF NOT EXISTS `note` VARCHAR(20) CHARACTER SET "
                                     "utf8mb4 DEFAULT 'x'"});
  EXPECT_EQ(mirrored("ALTER TABLE orders MODIFY COLUMN n BIGINT NOT NULL", kMariaDb),
            std::vector<std::string>{"ALTER TABLE `r`.`orders` CHANGE COLUMN `n` `n` BIGINT NOT NULL"});
}

TEST(SqlDdl, IndexesOptionsAndLeftOutColumnsChangeNothingRenamesFollowTheMapping) {
  EXPECT_TRUE(mirrored("ALTER TABLE orders ADD INDEX i (a), DROP PRIMARY KEY, ENGINE=InnoDB, ALGORITHM=INPLACE", kPostgres)
                  .empty());
  EXPECT_TRUE(mirrored("CREATE TABLE shop.other (id INT)", kPostgres).empty());
  SqlMapping m;
  m.exclude = {"secret"};
  m.rename = {{"note", "remark"}};
  EXPECT_TRUE(mirrored("ALTER TABLE orders DROP COLUMN secret", kPostgres, m).empty());
  EXPECT_EQ(mirrored("ALTER TABLE orders DROP COLUMN note", kPostgres, m),
            std::vector<std::string>{"ALTER TABLE \"r\".\"orders\" DROP COLUMN IF EXISTS \"remark\""});
  m.cast = {{"at", "text"}};
  EXPECT_EQ(mirrored("ALTER TABLE orders ADD at TIME", kPostgres, m),
            std::vector<std::string>{"ALTER TABLE \"r\".\"orders\" ADD COLUMN IF NOT EXISTS \"at\" text"});
}

TEST(SqlDdl, WithoutMirrorAColumnChangeStopsNamingTheStatementAndTheWayOn) {
  auto out = ddlStatements(SqlMapping{}, "`r`.`orders`", ddl("ALTER TABLE orders ADD COLUMN note INT"), kMariaDb,
                           SqlSinkConfig::Ddl::kStop);
  ASSERT_FALSE(out.isOk());
  EXPECT_EQ(out.status().code(), kSinkFatal);
  const std::string& m = out.status().message();
  EXPECT_NE(m.find("shop.orders at mysql-bin.000003:4711"), std::string::npos) << m;
  EXPECT_NE(m.find("ALTER TABLE orders ADD COLUMN note INT"), std::string::npos) << m;
  EXPECT_NE(m.find("sql.ddl: mirror"), std::string::npos) << m;
  auto index = ddlStatements(SqlMapping{}, "`r`.`orders`", ddl("ALTER TABLE orders ADD INDEX (a)"), kMariaDb,
                             SqlSinkConfig::Ddl::kStop);
  EXPECT_TRUE(index.isOk() && index->empty()) << "an index changes nothing in the copy";
  auto ignored = ddlStatements(SqlMapping{}, "`r`.`orders`", ddl("TRUNCATE orders"), kMariaDb, SqlSinkConfig::Ddl::kIgnore);
  EXPECT_TRUE(ignored.isOk() && ignored->empty());
  auto dropped = ddlStatements(SqlMapping{}, "`r`.`orders`", ddl("DROP TABLE orders"), kMariaDb, SqlSinkConfig::Ddl::kMirror);
  EXPECT_FALSE(dropped.isOk()) << "the copy is not dropped by the sink";
  auto noType = ddlStatements(SqlMapping{}, "\"r\".\"orders\"", ddl("ALTER TABLE orders ADD v VECTOR(3)"), kPostgres,
                              SqlSinkConfig::Ddl::kMirror);
  ASSERT_FALSE(noType.isOk());
  EXPECT_NE(noType.status().message().find("VECTOR(3)"), std::string::npos) << noType.status().message();
}

}  // namespace
}  // namespace canal::forwarder
