// The snapshot API's request body: every field type-checked and bounded (400 naming it), and a
// `where` that is one boolean expression.

#include "server/app/snapshot_api.h"

#include <gtest/gtest.h>

namespace canal::app {
namespace {

::testing::AssertionResult refused(const std::string& body, const std::string& naming) {
  const auto parsed = parseSnapshotBody(body);
  if (parsed.isOk()) return ::testing::AssertionFailure() << body << " was accepted";
  if (parsed.status().code() != StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << body << ": " << parsed.status().toString();
  }
  if (parsed.status().message().find(naming) == std::string::npos) {
    return ::testing::AssertionFailure() << body << ": '" << parsed.status().message() << "' does not name " << naming;
  }
  return ::testing::AssertionSuccess();
}

TEST(SnapshotBody, EveryFieldIsTypeCheckedAndNamedWhenWrong) {
  EXPECT_TRUE(refused("", "\"tables\" is missing"));
  EXPECT_TRUE(refused("[1]", "not a JSON object"));
  EXPECT_TRUE(refused("{\"tables\": \"s.t\"}", "\"tables\""));
  EXPECT_TRUE(refused("{\"tables\": []}", "\"tables\""));
  EXPECT_TRUE(refused("{\"tables\": [5]}", "\"tables\""));
  EXPECT_TRUE(refused("{\"tables\": [\"\"]}", "\"tables\""));
  for (const char* where : {"5", "null", "[\"a\"]", "{}", "true"}) {
    EXPECT_TRUE(refused(std::string("{\"tables\": [\"s.t\"], \"where\": ") + where + "}", "\"where\""));
  }
  for (const char* size : {"0", "-1", "1.5", "\"10\"", "1000001", "18446744073709551615", "null"}) {
    EXPECT_TRUE(refused(std::string("{\"tables\": [\"s.t\"], \"chunkSize\": ") + size + "}", "\"chunkSize\""));
  }
  for (const char* pace : {"-1", "0.5", "\"1\"", "100000001"}) {
    EXPECT_TRUE(refused(std::string("{\"tables\": [\"s.t\"], \"rowsPerSecond\": ") + pace + "}", "\"rowsPerSecond\""));
  }
  for (const char* parallel : {"0", "-1", "2.5", "\"4\"", "17", "null"}) {
    EXPECT_TRUE(refused(std::string("{\"tables\": [\"s.t\"], \"parallel\": ") + parallel + "}", "\"parallel\""));
  }
  EXPECT_TRUE(refused("{\"tables\": [\"s.t\"], \"chunksize\": 10}", "unknown field \"chunksize\""));

  const auto good = parseSnapshotBody(
      R"({"tables": ["s.t", "s\\.o_.*"], "where": "id > 5", "chunkSize": 1000000, "rowsPerSecond": 0, "parallel": 16})");
  ASSERT_TRUE(good.isOk()) << good.status().toString();
  EXPECT_EQ(good->tables, "s.t,s\\.o_.*");
  EXPECT_EQ(good->request.where, "id > 5");
  EXPECT_EQ(good->request.chunkSize, 1000000u);
  EXPECT_TRUE(good->chunkSizeGiven);
  EXPECT_EQ(good->request.parallel, 16u);
  EXPECT_TRUE(good->parallelGiven);
  const auto defaults = parseSnapshotBody(R"({"tables": ["s.t"]})");
  ASSERT_TRUE(defaults.isOk());
  EXPECT_FALSE(defaults->chunkSizeGiven) << "the destination's canal.instance.snapshot.chunk.size applies";
  EXPECT_TRUE(defaults->request.where.empty());
}

TEST(SnapshotWhere, OnlyOneBooleanExpressionIsAccepted) {
  for (const char* ok : {"", "id > 5", "(a = 1 OR b = 2) AND c IN (1, 2)", "name = 'it''s (; -- /* #'",
                         "name = \"a\\\"b)\"", "`we(ird` = 1", "a - -1 > 0", "a / 2 * 3 > 1", "x = 'a\\\\'"}) {
    EXPECT_TRUE(snapshot::checkWhere(ok).isOk()) << ok << ": " << snapshot::checkWhere(ok).toString();
  }
  for (const char* bad : {"1=1) OR (1=1", "(1=1", "id > 0; DROP TABLE t", "id > 0 -- x", "id > 0 # x",
                          "id /* x */ > 0", "id */ > 0", "name = 'open", "`open = 1", ")(", "a --1"}) {
    const Status s = snapshot::checkWhere(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("\"where\""), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace canal::app
