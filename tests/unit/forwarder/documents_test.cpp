// Documents built from several tables: which documents a change names, what one read of the
// source builds of them, versions, deletes and routing. The source is an in-memory fake that
// answers the same queries the MariaDB source runs.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "forwarder/elasticsearch/documents.h"
#include "forwarder/elasticsearch/elasticsearch_sink.h"  // bulkBody
#include "tests/unit/forwarder/change_builder.h"

namespace canal::forwarder {
namespace {

using test_changes::Col;
using test_changes::change;
using Json = nlohmann::json;
using Row = std::vector<std::optional<std::string>>;

class FakeSource final : public RowSource {
 public:
  struct Table {
    std::vector<std::string> columns;
    std::vector<FieldType> types;
    std::vector<std::string> key;
    std::vector<Row> rows;
  };
  std::map<std::string, Table> tables;
  std::int64_t position = std::int64_t{2} << 32;  // what the source has committed
  std::vector<std::int64_t> readsAsked;
  int selects = 0;
  bool inRead = false;

  client::Result<std::int64_t> beginRead(std::int64_t asked) override {
    readsAsked.push_back(asked);
    EXPECT_FALSE(inRead);
    inRead = true;
    return std::max(position, asked);
  }
  client::Result<SourceRows> select(const RowQuery& q) override {
    EXPECT_TRUE(inRead) << "a select outside a read";
    ++selects;
    const Table& t = tables.at(q.database + "." + q.table);
    const auto index = [&](const std::string& name) {
      return static_cast<std::size_t>(std::find(t.columns.begin(), t.columns.end(), name) - t.columns.begin());
    };
    const std::vector<std::string> columns = q.columns.empty() ? t.columns : q.columns;
    SourceRows out;
    for (const auto& c : columns) {
      out.columns.push_back(c);
      out.types.push_back(t.types[index(c)]);
    }
    std::vector<Row> rows;
    for (const Row& row : t.rows) {
      for (const auto& key : q.keys) {
        bool match = true;
        for (std::size_t i = 0; i < q.where.size(); ++i) match &= row[index(q.where[i])] == key[i];
        if (match) {
          rows.push_back(row);
          break;
        }
      }
    }
    std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
      for (const auto& o : q.orderBy) {
        const auto x = std::stoll(*a[index(o)]), y = std::stoll(*b[index(o)]);
        if (x != y) return x < y;
      }
      return false;
    });
    for (const Row& row : rows) {
      Row picked;
      for (const auto& c : columns) picked.push_back(row[index(c)]);
      out.rows.push_back(std::move(picked));
    }
    return out;
  }
  void endRead() override {
    EXPECT_TRUE(inRead);
    inRead = false;
  }
  client::Result<std::vector<std::string>> primaryKey(const std::string& database, const std::string& table) override {
    return tables.at(database + "." + table).key;
  }

  void remove(const std::string& table, const std::string& id) {
    auto& rows = tables.at(table).rows;
    rows.erase(std::remove_if(rows.begin(), rows.end(), [&](const Row& r) { return r[0] == id; }), rows.end());
  }
  void set(const std::string& table, const std::string& id, const std::string& column, const std::string& value) {
    Table& t = tables.at(table);
    const auto c = static_cast<std::size_t>(std::find(t.columns.begin(), t.columns.end(), column) - t.columns.begin());
    for (Row& r : t.rows) {
      if (r[0] == id) r[c] = value;
    }
  }
};

constexpr FieldType kNum = FieldType::kNumber;
constexpr FieldType kStr = FieldType::kString;

FakeSource shop() {
  FakeSource s;
  s.tables["shop.orders"] = {{"id", "customer_id", "status"}, {kNum, kNum, kStr}, {"id"},
                             {{"1", "10", "new"}, {"2", "11", "paid"}, {"3", "10", "sent"}}};
  s.tables["shop.customers"] = {{"id", "name", "email"}, {kNum, kStr, kStr}, {"id"},
                                {{"10", "ann", "a@x"}, {"11", "bob", std::nullopt}}};
  s.tables["shop.order_items"] = {{"id", "order_id", "sku", "qty"}, {kNum, kNum, kStr, kNum}, {"id"},
                                  {{"101", "1", "b", "1"}, {"100", "1", "a", "2"}, {"102", "2", "c", "5"}}};
  return s;
}

DocumentMapping orders() {
  DocumentMapping d;
  d.table = "shop.orders";
  d.index = "orders";
  DocumentJoin customer;
  customer.table = "shop.customers";
  customer.on = {{"customer_id", "id"}};
  customer.include = {"name"};
  customer.rename = {{"name", "customer_name"}};
  DocumentJoin items;
  items.table = "shop.order_items";
  items.on = {{"id", "order_id"}};
  items.as = "items";
  items.many = true;
  items.exclude = {"order_id"};
  d.joins = {customer, items};
  return d;
}

std::vector<Col> orderRow(const std::string& id, const std::string& customer, const std::string& status) {
  return {{"id", id, true}, {"customer_id", customer}, {"status", status}};
}
std::vector<Col> itemRow(const std::string& id, const std::string& order, const std::string& sku) {
  return {{"id", id, true}, {"order_id", order}, {"sku", sku}, {"qty", std::string("1")}};
}

std::map<std::string, const BulkAction*> byId(const std::vector<BulkAction>& actions) {
  std::map<std::string, const BulkAction*> out;
  for (const auto& a : actions) out[a.id] = &a;
  return out;
}

TEST(DocumentBuilderTest, AMainRowChangeBuildsTheWholeDocumentFromOneReadVersionedByIt) {
  FakeSource source = shop();
  source.position = (std::int64_t{2} << 32) | 9000;
  DocumentBuilder builder({orders()}, source);
  const Change insert = change(eb::INSERT, {{{}, orderRow("1", "10", "new")}}, 500);
  auto actions = builder.actions({&insert});
  ASSERT_TRUE(actions.isOk()) << actions.status().toString();
  ASSERT_EQ(actions->size(), 1u);
  const BulkAction& a = (*actions)[0];
  EXPECT_EQ(a.kind, BulkAction::Kind::kIndex);
  EXPECT_EQ(a.index, "orders");
  EXPECT_EQ(a.id, "1");
  EXPECT_EQ(a.version, source.position);  // the read's position, not the change's
  EXPECT_EQ(a.change, &insert);
  EXPECT_EQ(Json::parse(a.source), Json::parse(R"({"id":1,"customer_id":10,"status":"new","customer_name":"ann",
      "items":[{"id":100,"sku":"a","qty":2},{"id":101,"sku":"b","qty":1}]})"));
  EXPECT_EQ(source.readsAsked, (std::vector<std::int64_t>{insert.position()}));
  EXPECT_FALSE(source.inRead);
}

TEST(DocumentBuilderTest, AnItemMovedBetweenOrdersRebuildsBothAndTheReadCoversTheWholeBatch) {
  FakeSource source = shop();
  DocumentBuilder builder({orders()}, source);
  source.set("shop.order_items", "100", "order_id", "2");
  const Change moved = change(eb::UPDATE, {{itemRow("100", "1", "a"), itemRow("100", "2", "a")}}, 700, "order_items");
  const Change other = change(eb::INSERT, {{{}, {{"id", std::string("5"), true}}}}, 900, "unrelated");
  auto actions = builder.actions({&moved, &other});
  ASSERT_TRUE(actions.isOk()) << actions.status().toString();
  auto docs = byId(*actions);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(Json::parse(docs["1"]->source)["items"], Json::parse(R"([{"id":101,"sku":"b","qty":1}])"));
  EXPECT_EQ(Json::parse(docs["2"]->source)["items"],
            Json::parse(R"([{"id":100,"sku":"a","qty":2},{"id":102,"sku":"c","qty":5}])"));
  EXPECT_EQ(source.readsAsked, (std::vector<std::int64_t>{moved.position()}));
}

TEST(DocumentBuilderTest, AJoinedRowNotKeyedByTheDocumentFindsItsDocumentsByQuery) {
  FakeSource source = shop();
  DocumentBuilder builder({orders()}, source);
  source.set("shop.customers", "10", "name", "amy");
  const Change renamed = change(
      eb::UPDATE,
      {{{{"id", std::string("10"), true}, {"name", std::string("ann")}}, {{"id", std::string("10"), true}, {"name", std::string("amy")}}}},
      800, "customers");
  auto actions = builder.actions({&renamed});
  ASSERT_TRUE(actions.isOk()) << actions.status().toString();
  auto docs = byId(*actions);
  ASSERT_EQ(docs.size(), 2u);  // orders 1 and 3 have customer 10; order 2 is untouched
  EXPECT_EQ(Json::parse(docs["1"]->source)["customer_name"], "amy");
  EXPECT_EQ(Json::parse(docs["3"]->source)["customer_name"], "amy");
  EXPECT_EQ(Json::parse(docs["3"]->source)["items"], Json::array());

  // An order whose customer is gone keeps the field, null (a LEFT JOIN's NULL).
  source.remove("shop.customers", "10");
  const Change gone = change(eb::DELETE, {{{{"id", std::string("10"), true}, {"name", std::string("amy")}}, {}}}, 900,
                             "customers");
  actions = builder.actions({&gone});
  ASSERT_TRUE(actions.isOk());
  docs = byId(*actions);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_TRUE(Json::parse(docs["1"]->source)["customer_name"].is_null());
}

TEST(DocumentBuilderTest, AGoneMainRowIsADeleteAndRoutingFollowsTheRow) {
  FakeSource source = shop();
  DocumentMapping d = orders();
  d.routing = "customer_id";
  DocumentBuilder builder({d}, source);
  source.remove("shop.orders", "1");
  source.set("shop.orders", "2", "customer_id", "10");
  const Change del = change(eb::DELETE, {{orderRow("1", "10", "new"), {}}}, 100);
  const Change moved = change(eb::UPDATE, {{orderRow("2", "11", "paid"), orderRow("2", "10", "paid")}}, 200);
  // An item of order 3, whose row this batch did not change: no routing known for a delete, and
  // none needed (the row is there).
  const Change item = change(eb::INSERT, {{{}, itemRow("103", "3", "d")}}, 300, "order_items");
  auto actions = builder.actions({&del, &moved, &item});
  ASSERT_TRUE(actions.isOk()) << actions.status().toString();
  ASSERT_EQ(actions->size(), 4u);
  const auto& a = *actions;
  EXPECT_EQ(a[0].kind, BulkAction::Kind::kDelete);
  EXPECT_EQ(a[0].id, "1");
  EXPECT_EQ(a[0].routing, "10");
  EXPECT_EQ(a[1].kind, BulkAction::Kind::kDelete);  // order 2 moved shards: gone from the old
  EXPECT_EQ(a[1].id, "2");
  EXPECT_EQ(a[1].routing, "11");
  EXPECT_EQ(a[2].kind, BulkAction::Kind::kIndex);
  EXPECT_EQ(a[2].routing, "10");
  EXPECT_EQ(a[3].id, "3");
  EXPECT_EQ(a[3].routing, "10");
  const std::string body = bulkBody(a, 0, a.size());
  EXPECT_NE(body.find(R"({"delete":{"_index":"orders","_id":"2","routing":"11")"), std::string::npos) << body;

  // An item whose order is gone (and was deleted in an earlier batch): nothing to write, since
  // the delete needs the routing the order's own change carried.
  const Change orphan = change(eb::INSERT, {{{}, itemRow("104", "1", "e")}}, 400, "order_items");
  actions = builder.actions({&orphan});
  ASSERT_TRUE(actions.isOk());
  EXPECT_TRUE(actions->empty());
}

TEST(DocumentBuilderTest, ChangesOfOtherTablesReadNothingAndAJoinOnTheDocumentsKeyNeedsNoLookup) {
  FakeSource source = shop();
  DocumentBuilder builder({orders()}, source);
  const Change other = change(eb::INSERT, {{{}, {{"id", std::string("5"), true}}}}, 900, "unrelated");
  auto actions = builder.actions({&other});
  ASSERT_TRUE(actions.isOk());
  EXPECT_TRUE(actions->empty());
  EXPECT_TRUE(source.readsAsked.empty());

  // An item's order_id is the order's key: its document is named without a query of orders.
  const Change item = change(eb::INSERT, {{{}, itemRow("105", "2", "f")}}, 950, "order_items");
  actions = builder.actions({&item});
  ASSERT_TRUE(actions.isOk());
  ASSERT_EQ(actions->size(), 1u);
  EXPECT_EQ((*actions)[0].id, "2");
  EXPECT_EQ(source.selects, 3);  // orders, customers, order_items: no lookup of orders by key
}

TEST(DocumentBuilderTest, ATableWithoutPrimaryKeyOrColumnsThatAreNotThereAreErrors) {
  FakeSource source = shop();
  source.tables["shop.orders"].key.clear();
  DocumentBuilder noKey({orders()}, source);
  const Change insert = change(eb::INSERT, {{{}, orderRow("1", "10", "new")}}, 500);
  auto actions = noKey.actions({&insert});
  ASSERT_FALSE(actions.isOk());
  EXPECT_EQ(actions.status().code(), kSinkFatal);
  EXPECT_NE(actions.status().message().find("shop.orders has no primary key; set id"), std::string::npos);

  source = shop();
  DocumentMapping d = orders();
  d.joins[0].on = {{"buyer_id", "id"}};
  DocumentBuilder badJoin({d}, source);
  actions = badJoin.actions({&insert});
  ASSERT_FALSE(actions.isOk());
  EXPECT_NE(actions.status().message().find("shop.orders has no column 'buyer_id'"), std::string::npos)
      << actions.status().message();
  EXPECT_FALSE(source.inRead);  // the read was ended
}

}  // namespace
}  // namespace canal::forwarder

namespace canal::forwarder {
namespace {

TEST(DocumentConfigTest, ReadsDocumentsWithJoinsAndNamesTheKeyAtFault) {
  const std::string head = "source: {address: 'h:1'}\nsinks:\n- type: elasticsearch\n  elasticsearch:\n";
  auto c = parseForwarderConfig(head + R"(
    database: {host: db, port: 3307, user: reader, password: pw}
    documents:
    - table: shop.orders
      index: orders
      routing: customer_id
      types: {status: string}
      joins:
      - {table: shop.customers, on: {customer_id: id}, include: [name], rename: {name: customer_name}}
      - {table: shop.order_items, on: {id: order_id}, as: items, many: true, order_by: [sku, id], types: {qty: number}}
)", "f.yml");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  const ElasticsearchSinkConfig& es = c->sinks[0].elasticsearch;
  EXPECT_TRUE(es.mappings.empty());
  ASSERT_EQ(es.documents.size(), 1u);
  const DocumentMapping& d = es.documents[0];
  EXPECT_EQ(d.routing, "customer_id");
  EXPECT_EQ(d.types.at("status"), FieldType::kString);
  ASSERT_EQ(d.joins.size(), 2u);
  EXPECT_EQ(d.joins[0].on.at("customer_id"), "id");
  EXPECT_FALSE(d.joins[0].many);
  EXPECT_TRUE(d.joins[1].many);
  EXPECT_EQ(d.joins[1].as, "items");
  EXPECT_EQ(d.joins[1].orderBy, (std::vector<std::string>{"sku", "id"}));
  EXPECT_EQ(es.database.port, 3307);
  EXPECT_EQ(es.database.user, "reader");

  const auto error = [&](const std::string& body) {
    auto r = parseForwarderConfig(head + body, "f.yml");
    return r.isOk() ? std::string("accepted") : r.status().message();
  };
  const std::string db = "    database: {user: u}\n";
  EXPECT_NE(error("    documents: [{table: shop.orders, index: o}]\n").find("sinks[0].elasticsearch.database is required"),
            std::string::npos);
  EXPECT_NE(error(db + "    documents: [{table: 'shop\\..*', index: o}]\n").find("documents[0].table must name one table"),
            std::string::npos);
  EXPECT_NE(error(db + "    documents: [{table: shop.o, index: o, joins: [{table: shop.i}]}]\n")
                .find("documents[0].joins[0].on is required"),
            std::string::npos);
  EXPECT_NE(error(db + "    documents: [{table: shop.o, index: o, joins: [{table: shop.i, on: {id: o}, many: true}]}]\n")
                .find("documents[0].joins[0].as is required with many"),
            std::string::npos);
  EXPECT_NE(error(db + "    documents: [{table: shop.o, index: o, joins: [{table: shop.i, on: {id: o}, joined: x}]}]\n")
                .find("documents[0].joins[0].joined is not a known key"),
            std::string::npos);
  EXPECT_NE(parseForwarderConfig("source: {address: 'h:1'}\nsinks:\n- type: elasticsearch\n  tables: [shop.o]\n"
                                 "  elasticsearch:\n" + db + "    documents: [{table: shop.o, index: o, joins: [{table: shop.i, on: {id: o}}]}]\n",
                                 "f.yml")
                .status()
                .message()
                .find("sinks[0].tables leaves out shop.i, which elasticsearch.documents[0] is built from"),
            std::string::npos);
  EXPECT_NE(error(db + "    mappings: [{table: 'shop\\..*', index: o}]\n    documents: [{table: shop.o, index: o}]\n")
                .find("documents[0].index 'o' is written by a table mapping too"),
            std::string::npos);
}

}  // namespace
}  // namespace canal::forwarder
