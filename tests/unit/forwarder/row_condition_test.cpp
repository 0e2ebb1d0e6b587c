// The sql sink's per-table `where` on a row image: comparisons as numbers or text, NULL as SQL
// has it, IN, LIKE, AND/OR/NOT with parentheses, and a refusal naming what and where.

#include "forwarder/row_condition.h"

#include <gtest/gtest.h>

#include "tests/unit/forwarder/change_builder.h"

namespace canal::forwarder {
namespace {

using namespace test_changes;

google::protobuf::RepeatedPtrField<eb::Column> image(const std::vector<Col>& cols) {
  google::protobuf::RepeatedPtrField<eb::Column> out;
  for (const Col& c : cols) *out.Add() = column(c);
  return out;
}

bool matches(const std::string& where, const std::vector<Col>& cols) {
  auto c = RowCondition::compile(where);
  EXPECT_TRUE(c.isOk()) << where << ": " << c.status().message();
  return c.isOk() && c->matches(image(cols));
}

TEST(RowCondition, ComparisonsNullsListsPatternsAndLogic) {
  const std::vector<Col> row = {{"id", "12"}, {"status", "it's done"}, {"price", "9.50"}, {"note", std::nullopt}};
  EXPECT_TRUE(matches("id > 9", row)) << "12 > 9 as numbers, not as text";
  EXPECT_TRUE(matches("price >= 9.5 AND price < 10", row));
  EXPECT_TRUE(matches("status = 'it''s done'", row));
  EXPECT_TRUE(matches("status <> 'deleted'", row));
  EXPECT_FALSE(matches("note = 'x'", row)) << "NULL compares false";
  EXPECT_FALSE(matches("note != 'x'", row));
  EXPECT_TRUE(matches("note IS NULL AND status IS NOT NULL", row));
  EXPECT_TRUE(matches("id IN (1, 12, 30)", row));
  EXPECT_TRUE(matches("id NOT IN (1, 2)", row));
  EXPECT_TRUE(matches("status LIKE 'it%do_e'", row));
  EXPECT_FALSE(matches("status NOT LIKE '%done'", row));
  EXPECT_TRUE(matches("NOT (id < 10 OR `status` = 'x') and price > 1", row)) << "keywords in any case, quoted names";
  EXPECT_FALSE(matches("missing = 1", row)) << "a column the row does not have";
}

TEST(RowCondition, AMalformedConditionIsRefusedNamingWhere) {
  for (const auto& [text, what] : std::vector<std::pair<std::string, std::string>>{
           {"id >", "a value"}, {"(id = 1", "')' is missing"}, {"id = 'open", "not closed"},
           {"id = 1; DROP TABLE t", "';'"}, {"id = 1 id = 2", "after a whole condition"}, {"id IS 5", "[NOT] NULL"}}) {
    auto c = RowCondition::compile(text);
    ASSERT_FALSE(c.isOk()) << text;
    EXPECT_NE(c.status().message().find(what), std::string::npos) << text << ": " << c.status().message();
    EXPECT_NE(c.status().message().find("at character"), std::string::npos) << c.status().message();
  }
}

}  // namespace
}  // namespace canal::forwarder
