// Row changes to Elasticsearch _bulk actions: ids, versions, field mapping and type conversion,
// merging within a batch, and the NDJSON written.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "forwarder/elasticsearch/elasticsearch_sink.h"
#include "tests/unit/forwarder/change_builder.h"

namespace canal::forwarder {
namespace {

using test_changes::Col;
using test_changes::change;

using Json = nlohmann::json;

std::vector<Col> order(const std::string& id, const std::string& name, const std::string& price, bool updatedName = false) {
  return {{"id", id, true, false, 4, "int(11)"},
          {"user_name", name, false, updatedName},
          {"price", price, false, false, 3, "decimal(10,2)"},
          {"created", std::string("2024-05-06 07:08:09"), false, false, 93, "datetime"},
          {"attrs", std::string("{\"a\":[1,2]}"), false, false, 2005, "longtext"},
          {"secret", std::string("x")}};
}

IndexMapping mapping() {
  IndexMapping m;
  m.table = "shop\\..*";
  m.index = "%{database}_%{table}";
  m.rename = {{"user_name", "user"}};
  m.exclude = {"secret"};
  m.types = {{"attrs", FieldType::kJson}};
  return m;
}

TEST(BulkActionsTest, InsertBecomesAVersionedIndexWithTypedRenamedFields) {
  const Change insert = change(eb::INSERT, {{{}, order("7", "ann", "12.50")}}, 1234);
  auto actions = bulkActions({mapping()}, {&insert});
  ASSERT_TRUE(actions.isOk()) << actions.status().toString();
  ASSERT_EQ(actions->size(), 1u);
  const BulkAction& a = (*actions)[0];
  EXPECT_EQ(a.kind, BulkAction::Kind::kIndex);
  EXPECT_EQ(a.index, "shop_orders");
  EXPECT_EQ(a.id, "7");
  EXPECT_EQ(a.version, (std::int64_t{2} << 32) | 1234);
  EXPECT_EQ(Json::parse(a.source),
            Json::parse(R"({"id":7,"user":"ann","price":12.5,"created":"2024-05-06T07:08:09","attrs":{"a":[1,2]}})"));

  const std::string body = bulkBody(*actions, 0, 1);
  const auto nl = body.find('\n');
  EXPECT_EQ(Json::parse(body.substr(0, nl)),
            Json::parse(R"({"index":{"_index":"shop_orders","_id":"7","version":8589935826,"version_type":"external"}})"));
  EXPECT_EQ(body.back(), '\n');
}

TEST(BulkActionsTest, DeleteUsesTheBeforeImageAndKeyChangesDeleteTheOldDocument) {
  const Change del = change(eb::DELETE, {{order("7", "ann", "1"), {}}}, 100);
  const Change moved = change(eb::UPDATE, {{order("8", "bob", "1"), order("9", "bob", "1")}}, 200);
  auto actions = bulkActions({mapping()}, {&del, &moved});
  ASSERT_TRUE(actions.isOk());
  ASSERT_EQ(actions->size(), 3u);
  EXPECT_EQ((*actions)[0].kind, BulkAction::Kind::kDelete);
  EXPECT_EQ((*actions)[0].id, "7");
  EXPECT_EQ((*actions)[1].kind, BulkAction::Kind::kDelete);
  EXPECT_EQ((*actions)[1].id, "8");
  EXPECT_EQ((*actions)[2].kind, BulkAction::Kind::kIndex);
  EXPECT_EQ((*actions)[2].id, "9");
  const std::string body = bulkBody(*actions, 0, 3);
  EXPECT_EQ(std::count(body.begin(), body.end(), '\n'), 4);  // delete, delete, index + source
}

TEST(BulkActionsTest, ChangesOfOneDocumentInABatchMergeToTheLast) {
  const Change insert = change(eb::INSERT, {{{}, order("7", "ann", "1")}}, 100);
  const Change update = change(eb::UPDATE, {{order("7", "ann", "1"), order("7", "amy", "2", true)}}, 200);
  const Change other = change(eb::INSERT, {{{}, order("8", "x", "1")}}, 300);
  auto actions = bulkActions({mapping()}, {&insert, &update, &other});
  ASSERT_TRUE(actions.isOk());
  ASSERT_EQ(actions->size(), 2u);
  EXPECT_EQ((*actions)[0].id, "7");
  EXPECT_EQ((*actions)[0].version, (std::int64_t{2} << 32) | 200);
  EXPECT_EQ(Json::parse((*actions)[0].source)["user"], "amy");

  // A partial after-image (binlog_row_image=MINIMAL) merged into the full document before it.
  const Change partial = change(eb::UPDATE, {{{{"id", "7", true, false, 4, "int(11)"}},
                                              {{"user_name", std::string("zed"), false, true}}}},
                                400);
  actions = bulkActions({mapping()}, {&insert, &partial});
  ASSERT_TRUE(actions.isOk());
  ASSERT_EQ(actions->size(), 1u);
  EXPECT_EQ((*actions)[0].kind, BulkAction::Kind::kIndex);
  EXPECT_EQ(Json::parse((*actions)[0].source)["user"], "zed");
  EXPECT_EQ(Json::parse((*actions)[0].source)["price"], 1);
  // Alone it is a partial update without a version (the update API takes none).
  actions = bulkActions({mapping()}, {&partial});
  ASSERT_TRUE(actions.isOk());
  ASSERT_EQ(actions->size(), 1u);
  EXPECT_EQ((*actions)[0].kind, BulkAction::Kind::kUpdate);
  const std::string body = bulkBody(*actions, 0, 1);
  EXPECT_EQ(body, "{\"update\":{\"_index\":\"shop_orders\",\"_id\":\"7\",\"retry_on_conflict\":3}}\n"
                  "{\"doc\":{\"user\":\"zed\"},\"doc_as_upsert\":true}\n");
}

TEST(BulkActionsTest, IdColumnsIncludeListsAndUnmappedTables) {
  IndexMapping m = mapping();
  m.table = "shop.orders";
  m.index = "Orders";
  m.id = {"user_name", "id"};
  m.include = {"id", "price"};
  m.types = {{"price", FieldType::kString}};
  const Change insert = change(eb::INSERT, {{{}, order("7", "ann", "1.50")}}, 1);
  const Change unmapped = change(eb::INSERT, {{{}, order("1", "x", "1")}}, 2, "other");
  auto actions = bulkActions({m}, {&insert, &unmapped});
  ASSERT_TRUE(actions.isOk());
  ASSERT_EQ(actions->size(), 1u);
  EXPECT_EQ((*actions)[0].index, "orders");  // index names are lower case
  EXPECT_EQ((*actions)[0].id, "ann_7");
  EXPECT_EQ(Json::parse((*actions)[0].source), Json::parse(R"({"id":7,"price":"1.50"})"));
}

TEST(BulkActionsTest, ARowWithoutAnIdIsAnErrorNamingTheTable) {
  const Change keyless = change(eb::INSERT, {{{}, {{"v", std::string("1")}}}}, 5);
  auto actions = bulkActions({mapping()}, {&keyless});
  ASSERT_FALSE(actions.isOk());
  EXPECT_EQ(actions.status().code(), kSinkFatal);
  EXPECT_NE(actions.status().message().find("shop.orders at mysql-bin.000002:5"), std::string::npos);
}

TEST(BulkActionsTest, ZeroDatesAndNullsAndBadJson) {
  std::vector<Col> row = {{"id", "1", true, false, 4, "int(11)"},
                          {"created", std::string("0000-00-00 00:00:00"), false, false, 93, "datetime"},
                          {"note", std::nullopt},
                          {"attrs", std::string("not json"), false, false, 12, "json"}};
  const Change insert = change(eb::INSERT, {{{}, row}}, 1);
  auto actions = bulkActions({mapping()}, {&insert});
  ASSERT_TRUE(actions.isOk());
  EXPECT_EQ(Json::parse((*actions)[0].source), Json::parse(R"({"id":1,"created":null,"note":null,"attrs":"not json"})"));
}

TEST(ChangeTest, PositionGrowsAlongTheBinlog) {
  Change a, b, c;
  a.logfileName = "mysql-bin.000009";
  a.logfileOffset = 4000000000;
  b.logfileName = "mysql-bin.000010";
  b.logfileOffset = 4;
  c.logfileName = "mysql-bin.000010";
  c.logfileOffset = 5;
  EXPECT_LT(a.position(), b.position());
  EXPECT_LT(b.position(), c.position());
  EXPECT_EQ(binlogFileIndex("mariadb-bin.123456"), 123456);
  EXPECT_EQ(binlogFileIndex("noindex"), 0);
}

}  // namespace
}  // namespace canal::forwarder
