// The PostgreSQL type a MySQL/MariaDB column becomes in a target table the sql sink creates:
// every type canal-server renders, and a refusal naming what has none.

#include "forwarder/sql/postgres_types.h"

#include <gtest/gtest.h>

namespace canal::forwarder {
namespace {

TEST(PostgresTypes, EveryRenderedTypeHasOneThatHoldsItsValues) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"tinyint(4)", "smallint"},          {"tinyint(3) unsigned", "smallint"},
      {"smallint(5) unsigned", "integer"}, {"mediumint(8) unsigned", "integer"},
      {"int(11)", "integer"},              {"int(10) unsigned", "bigint"},
      {"bigint(20)", "bigint"},            {"bigint(20) unsigned", "numeric(20)"},
      {"decimal(12,2)", "numeric(12,2)"},  {"float", "real"},
      {"double", "double precision"},      {"bit(1)", "boolean"},
      {"bit(64)", "numeric(20)"},          {"date", "date"},
      {"datetime", "timestamp"},           {"datetime(6)", "timestamp(6)"},
      {"timestamp(3)", "timestamp(3)"},    {"time", "interval"},
      {"time(2)", "interval(2)"},          {"year(4)", "smallint"},
      {"char(3)", "char(3)"},              {"varchar(20)", "varchar(20)"},
      {"mediumtext", "text"},              {"enum('a','b')", "text"},
      {"set('x','y')", "text"},            {"varbinary(16)", "bytea"},
      {"longblob", "bytea"},               {"json", "jsonb"},
      {"uuid", "uuid"},                    {"inet6", "inet"},
      {"point", "bytea"},                  {"INT(11) UNSIGNED ZEROFILL", "bigint"},
  };
  for (const auto& [mysql, postgres] : cases) {
    auto t = postgresType(mysql);
    ASSERT_TRUE(t.isOk()) << mysql << ": " << t.status().message();
    EXPECT_EQ(*t, postgres) << mysql;
  }
}

TEST(PostgresTypes, ATypeWithoutOneIsRefusedByNameWithTheWayOut) {
  auto t = postgresType("vector(3)");
  ASSERT_FALSE(t.isOk());
  EXPECT_NE(t.status().message().find("vector(3)"), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find("cast"), std::string::npos) << t.status().message();
}

}  // namespace
}  // namespace canal::forwarder
