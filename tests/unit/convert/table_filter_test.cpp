#include "server/convert/table_filter.h"

#include <gtest/gtest.h>

namespace canal::convert {
namespace {

RegexFilter white(std::string_view list) {
  auto f = RegexFilter::compile(list, true);
  EXPECT_TRUE(f.isOk()) << f.status().toString();
  return std::move(f).value();
}

TEST(RegexFilter, CanalDefaultMatchesEveryQualifiedNameInAnyCase) {
  // canal.instance.filter.regex=.*\\..* reads back from the properties file as .*\..*
  const RegexFilter f = white(".*\\..*");
  EXPECT_TRUE(f.matches("shop.orders"));
  EXPECT_TRUE(f.matches("Shop.Orders"));
  EXPECT_FALSE(f.matches("nodot"));
}

TEST(RegexFilter, EachPatternIsAnchoredAtBothEnds) {
  const RegexFilter f = white("canal\\.test,mysql\\..*");
  EXPECT_TRUE(f.matches("canal.test"));
  EXPECT_TRUE(f.matches("CANAL.TEST"));
  EXPECT_FALSE(f.matches("canal.test2"));
  EXPECT_FALSE(f.matches("xcanal.test"));
  EXPECT_TRUE(f.matches("mysql.user"));
  EXPECT_FALSE(f.matches("other.user"));
}

TEST(RegexFilter, APrefixPatternDoesNotHideALongerOne) {
  const RegexFilter f = white("s\\.foo,s\\.foot,s\\.f.*t");
  EXPECT_TRUE(f.matches("s.foo"));
  EXPECT_TRUE(f.matches("s.foot"));
  EXPECT_TRUE(f.matches("s.fooooot"));
  EXPECT_FALSE(f.matches("s.fooo"));
}

TEST(RegexFilter, AnUnescapedDotMatchesAnyCharacterAsInCanal) {
  // Written test.t1 instead of test\\.t1, the dot is a wildcard: Canal matches testxt1 too.
  const RegexFilter f = white("test.t1");
  EXPECT_TRUE(f.matches("test.t1"));
  EXPECT_TRUE(f.matches("testxt1"));
}

TEST(RegexFilter, SpacesAroundItemsAndEmptyItemsAreIgnored) {
  const RegexFilter f = white(" a\\.b , ,c\\.d,");
  EXPECT_TRUE(f.matches("a.b"));
  EXPECT_TRUE(f.matches("c.d"));
  EXPECT_FALSE(f.matches("a.c"));
}

TEST(RegexFilter, AnEmptyListTakesItsDefault) {
  auto w = RegexFilter::compile("", true);
  auto b = RegexFilter::compile(" , ", false);
  ASSERT_TRUE(w.isOk() && b.isOk());
  EXPECT_TRUE(w->empty());
  EXPECT_TRUE(w->matches("any.table"));
  EXPECT_FALSE(b->matches("any.table"));
}

TEST(RegexFilter, AnInvalidRegexIsAnErrorNamingIt) {
  auto f = RegexFilter::compile("shop\\.(orders", true);
  ASSERT_FALSE(f.isOk());
  EXPECT_NE(f.status().message().find("shop\\.(orders"), std::string::npos) << f.status().toString();
  EXPECT_NE(f.status().message().find("missing closing parenthesis"), std::string::npos) << f.status().toString();
}

TEST(TableFilter, BlackListWinsOverWhiteList) {
  auto f = TableFilter::create({".*\\..*", "mysql\\.slave_.*,shop\\.tmp_.*", "", ""});
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  EXPECT_TRUE((*f)->accepts("shop", "orders"));
  EXPECT_FALSE((*f)->accepts("shop", "tmp_1"));
  EXPECT_FALSE((*f)->accepts("mysql", "slave_master_info"));
  EXPECT_TRUE((*f)->accepts("mysql", "user"));
  // Decisions are cached per name; asking again gives the same answer.
  EXPECT_FALSE((*f)->accepts("shop", "tmp_1"));
  EXPECT_TRUE((*f)->accepts("shop", "orders"));
}

TEST(TableFilter, ColumnListsAreCaseInsensitivePerTable) {
  auto f = TableFilter::create({".*\\..*", "", "shop.orders:id/Total,shop.users:id", "shop.users:password"});
  ASSERT_TRUE(f.isOk()) << f.status().toString();
  const TableFilter& t = **f;
  EXPECT_TRUE(t.filtersColumns());
  EXPECT_TRUE(t.keepsColumn("shop", "orders", "ID"));
  EXPECT_TRUE(t.keepsColumn("SHOP", "ORDERS", "total"));
  EXPECT_FALSE(t.keepsColumn("shop", "orders", "note"));
  EXPECT_TRUE(t.keepsColumn("shop", "users", "id"));
  EXPECT_FALSE(t.keepsColumn("shop", "users", "password"));
  EXPECT_TRUE(t.keepsColumn("shop", "items", "anything"));  // no list for that table
}

TEST(TableFilter, AMalformedColumnListNamesTheKey) {
  auto f = TableFilter::create({".*\\..*", "", "orders-id", ""});
  ASSERT_FALSE(f.isOk());
  EXPECT_NE(f.status().toString().find("canal.instance.filter.field"), std::string::npos) << f.status().toString();
  EXPECT_NE(f.status().toString().find("orders-id"), std::string::npos);
}

}  // namespace
}  // namespace canal::convert
