// Canal's MQ routing of a batch: topics, partitions and payloads as Canal 1.1.8's producer builds
// them (MQMessageUtils, CanalMessageSerializerUtil, CanalKafkaProducer).

#include "publish/canal_mq_router.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "canal/client/flat_message.h"
#include "canal/protocol/canal_protocol.pb.h"
#include "change_builder.h"

namespace canal::forwarder {
namespace {

using Json = nlohmann::json;
using test_changes::Col;
namespace cp = canal::protocol::packet;

// A batch of serialized entries built by hand.
class Batch {
 public:
  Batch& begin() { return boundary(eb::TRANSACTIONBEGIN); }
  Batch& end() { return boundary(eb::TRANSACTIONEND); }
  Batch& rows(const std::string& schema, const std::string& table, eb::EventType type,
              const std::vector<std::pair<std::vector<Col>, std::vector<Col>>>& rows) {
    eb::Entry e = header(schema, table, type);
    e.set_entrytype(eb::ROWDATA);
    eb::RowChange rc = test_changes::change(type, rows, 0).rowChange;
    rc.set_tableid(42);
    e.set_storevalue(rc.SerializeAsString());
    return add(e);
  }
  Batch& ddl(const std::string& schema, const std::string& table, const std::string& sql) {
    eb::Entry e = header(schema, table, eb::ALTER);
    e.set_entrytype(eb::ROWDATA);
    eb::RowChange rc;
    rc.set_eventtype(eb::ALTER);
    rc.set_isddl(true);
    rc.set_sql(sql);
    e.set_storevalue(rc.SerializeAsString());
    return add(e);
  }
  std::vector<std::string_view> views() const { return {bytes_.begin(), bytes_.end()}; }
  const std::string& at(std::size_t i) const { return bytes_[i]; }

 private:
  eb::Entry header(const std::string& schema, const std::string& table, eb::EventType type) {
    eb::Entry e;
    auto* h = e.mutable_header();
    h->set_logfilename("mysql-bin.000003");
    h->set_logfileoffset(1000 + 100 * static_cast<std::int64_t>(bytes_.size()));
    h->set_schemaname(schema);
    h->set_tablename(table);
    h->set_eventtype(type);
    h->set_executetime(1700000000000);
    return e;
  }
  Batch& boundary(eb::EntryType type) {
    eb::Entry e = header("", "", eb::QUERY);
    e.set_entrytype(type);
    return add(e);
  }
  Batch& add(const eb::Entry& e) {
    bytes_.push_back(e.SerializeAsString());
    return *this;
  }
  std::vector<std::string> bytes_;
};

Col key(const std::string& v) { return {"id", v, true}; }
Col name(const std::string& v, bool updated = false) { return {"name", v, false, updated}; }

publish::CanalMqRouter router(publish::CanalMqSettings s) {
  auto r = publish::CanalMqRouter::create(std::move(s));
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return std::move(*r);
}

std::vector<publish::MqMessage> route(const publish::CanalMqRouter& r, const Batch& b, std::int64_t batchId = 7) {
  auto out = r.route(batchId, b.views(), 1234);
  EXPECT_TRUE(out.isOk()) << out.status().toString();
  return out.isOk() ? std::move(*out) : std::vector<publish::MqMessage>{};
}

cp::Messages messagesOf(const std::string& payload, cp::Packet* packetOut = nullptr) {
  cp::Packet packet;
  EXPECT_TRUE(packet.ParseFromString(payload));
  EXPECT_EQ(packet.type(), cp::MESSAGES);
  cp::Messages m;
  EXPECT_TRUE(m.ParseFromString(packet.body()));
  if (packetOut) *packetOut = packet;
  return m;
}

int expectedPartition(const std::string& database, const std::vector<std::string>& keyValues, int partitions) {
  std::int32_t h = publish::javaStringHash(database);
  for (const std::string& v : keyValues) h ^= publish::javaStringHash(v);
  return publish::canalPartition(h, partitions);
}

TEST(CanalMqRouterTest, FlatMessagePerRowEntryToTheConfiguredPartitionWithoutTransactionEntries) {
  publish::CanalMqSettings s;
  s.topic = "example";
  s.partition = 2;
  Batch b;
  b.begin().rows("shop", "user", eb::INSERT, {{{}, {key("1"), name("a")}}, {{}, {key("2"), name("b")}}}).end();
  const auto messages = route(router(s), b);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].topic, "example");
  EXPECT_EQ(messages[0].partition, 2);
  EXPECT_TRUE(messages[0].key.empty());  // Canal sends a null key
  const Json j = Json::parse(messages[0].payload);
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["ts"], 1234);
  EXPECT_EQ(j["type"], "INSERT");
  EXPECT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["pkNames"], Json::array({"id"}));
  EXPECT_EQ(messages[0].origin.where(), "shop.user INSERT at mysql-bin.000003:1100");
}

TEST(CanalMqRouterTest, FlatMessageRowsRegroupedByPrimaryKeyHashOneMessagePerPartition) {
  publish::CanalMqSettings s;
  s.topic = "example";
  s.partitionsNum = 3;
  s.partitionHash = "shop\\..*:$pk$";
  std::vector<std::pair<std::vector<Col>, std::vector<Col>>> rows;
  for (int i = 1; i <= 12; ++i) {
    rows.push_back({{key(std::to_string(i)), name("old" + std::to_string(i))},
                    {key(std::to_string(i)), name("new" + std::to_string(i), true)}});
  }
  Batch b;
  b.rows("shop", "user", eb::UPDATE, rows);
  const auto messages = route(router(s), b);
  std::map<int, std::vector<std::string>> expected;  // partition -> ids in order
  for (int i = 1; i <= 12; ++i) expected[expectedPartition("shop", {std::to_string(i)}, 3)].push_back(std::to_string(i));
  ASSERT_EQ(messages.size(), expected.size());
  int previous = -1;
  for (const publish::MqMessage& m : messages) {
    EXPECT_GT(m.partition, previous) << "one message per partition, in partition order";
    previous = m.partition;
    const Json j = Json::parse(m.payload);
    std::vector<std::string> ids;
    for (const auto& row : j["data"]) ids.push_back(row["id"]);
    EXPECT_EQ(ids, expected[m.partition]);
    ASSERT_EQ(j["old"].size(), j["data"].size());
    for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(j["old"][i]["name"], "old" + ids[i]);
    EXPECT_EQ(j["mysqlType"].size(), 2u);
    EXPECT_EQ(j["pkNames"], Json::array({"id"}));
  }
}

// The bytes of a split, as Canal's fastjson2 writes them (alphabetical properties, nulls
// written): an UPDATE of two rows whose keys hash to different partitions, "old" as the whole
// entry accumulates the updated names (the second row's old carries "name" too).
TEST(CanalMqRouterTest, PartitionedFlatMessageBytes) {
  publish::CanalMqSettings s;
  s.topic = "t";
  s.partitionsNum = 2;
  s.partitionHash = "shop.user:$pk$";
  s.databaseHash = false;
  // "1" and "2" hash to 49 and 50: partitions 1 and 0.
  ASSERT_EQ(publish::canalPartition(publish::javaStringHash("1"), 2), 1);
  ASSERT_EQ(publish::canalPartition(publish::javaStringHash("2"), 2), 0);
  Batch b;
  b.rows("shop", "user", eb::UPDATE,
         {{{key("1"), name("a"), {"v", "1", false}}, {key("1"), name("b", true), {"v", "1", false}}},
          {{key("2"), name("c"), {"v", "5", false}}, {key("2"), name("c"), {"v", "6", false, true}}}});
  const auto messages = route(router(s), b, 3);
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].partition, 0);
  EXPECT_EQ(messages[0].payload,
            R"j({"data":[{"id":"2","name":"c","v":"6"}],"database":"shop","es":1700000000000,"gtid":"","id":3,)j"
            R"j("isDdl":false,"mysqlType":{"id":"varchar(32)","name":"varchar(32)","v":"varchar(32)"},)j"
            R"j("old":[{"name":"c","v":"5"}],"pkNames":["id"],"sql":"","sqlType":{"id":12,"name":12,"v":12},)j"
            R"j("table":"user","ts":1234,"type":"UPDATE"})j");
  EXPECT_EQ(messages[1].partition, 1);
  EXPECT_EQ(messages[1].payload,
            R"j({"data":[{"id":"1","name":"b","v":"1"}],"database":"shop","es":1700000000000,"gtid":"","id":3,)j"
            R"j("isDdl":false,"mysqlType":{"id":"varchar(32)","name":"varchar(32)","v":"varchar(32)"},)j"
            R"j("old":[{"name":"a"}],"pkNames":["id"],"sql":"","sqlType":{"id":12,"name":12,"v":12},)j"
            R"j("table":"user","ts":1234,"type":"UPDATE"})j");
}

TEST(CanalMqRouterTest, DatabaseHashOffHashesTheKeyAlone) {
  publish::CanalMqSettings s;
  s.topic = "t";
  s.partitionsNum = 7;
  s.partitionHash = "shop.user:name";
  s.databaseHash = false;
  Batch b;
  b.rows("shop", "user", eb::DELETE, {{{key("1"), name("zed")}, {}}});
  const auto messages = route(router(s), b);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].partition, publish::canalPartition(publish::javaStringHash("zed"), 7));
}

TEST(CanalMqRouterTest, TableHashDdlAndUnmatchedTables) {
  publish::CanalMqSettings s;
  s.topic = "t";
  s.partition = 5;  // not used when hashing: unmatched entries go to partition 0
  s.partitionsNum = 4;
  s.partitionHash = "shop.orders";
  Batch b;
  b.rows("shop", "orders", eb::INSERT, {{{}, {key("1")}}, {{}, {key("2")}}})
      .rows("shop", "user", eb::INSERT, {{{}, {key("1")}}})
      .ddl("shop", "orders", "ALTER TABLE orders ADD c INT");
  const auto messages = route(router(s), b);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].partition, publish::canalPartition(publish::javaStringHash("orders"), 4));
  EXPECT_EQ(Json::parse(messages[0].payload)["data"].size(), 2u) << "a table hash keeps the entry whole";
  EXPECT_EQ(messages[1].partition, 0);
  EXPECT_EQ(messages[2].partition, 0);
  EXPECT_TRUE(Json::parse(messages[2].payload)["isDdl"].get<bool>());
}

TEST(CanalMqRouterTest, DynamicTopicsAsCanalMatchesThem) {
  publish::CanalMqSettings s;
  s.topic = "fallback";
  s.dynamicTopic = "mytest1.user,topic2:mytest2\\..*,other_.*";
  s.dynamicTopicPartitionNum = "topic2:3";
  s.partitionHash = ".*\\..*:$pk$";
  Batch b;
  b.begin()
      .rows("mytest1", "user", eb::INSERT, {{{}, {key("1")}}})
      .rows("mytest2", "a", eb::INSERT, {{{}, {key("5")}}})
      .rows("other_db", "x", eb::INSERT, {{{}, {key("1")}}})
      .rows("mytest1", "group", eb::INSERT, {{{}, {key("1")}}})
      .end();
  const auto messages = route(router(s), b);
  ASSERT_EQ(messages.size(), 4u);
  // An exact schema.table item: the topic is the name, lower-cased, '.' -> '_'.
  EXPECT_EQ(messages[0].topic, "mytest1_user");
  EXPECT_EQ(messages[0].partition, 0) << "no partition count for this topic: one partition";
  // topic:regex over schema.table; its partition count from dynamicTopicPartitionNum.
  EXPECT_EQ(messages[1].topic, "topic2");
  EXPECT_EQ(messages[1].partition, expectedPartition("mytest2", {"5"}, 3));
  // A regex without "\." matches the schema alone.
  EXPECT_EQ(messages[2].topic, "other_db");
  EXPECT_EQ(messages[3].topic, "fallback");
}

TEST(CanalMqRouterTest, BinaryWholeBatchIsCanalsRawPacketWithTheBatchId) {
  publish::CanalMqSettings s;
  s.topic = "t";
  s.flatMessage = false;
  s.partition = 1;
  Batch b;
  b.begin().rows("shop", "user", eb::INSERT, {{{}, {key("1")}}}).end();
  const auto messages = route(router(s), b, 99);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].partition, 1);
  const std::string& p = messages[0].payload;
  // Canal's raw form: type=MESSAGES then the body, no version field.
  ASSERT_GE(p.size(), 3u);
  EXPECT_EQ(static_cast<unsigned char>(p[0]), 0x18);
  EXPECT_EQ(static_cast<unsigned char>(p[1]), 0x07);
  EXPECT_EQ(static_cast<unsigned char>(p[2]), 0x2a);
  cp::Packet packet;
  const cp::Messages m = messagesOf(p, &packet);
  EXPECT_FALSE(packet.has_version());
  EXPECT_EQ(m.batch_id(), 99);
  ASSERT_EQ(m.messages_size(), 3) << "the transaction entries stay in the raw form";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(m.messages(i), b.at(static_cast<std::size_t>(i)));
}

TEST(CanalMqRouterTest, BinaryWithoutRawEntriesIsTheBuilderFormWithoutBatchId) {
  publish::CanalMqSettings s;
  s.topic = "t";
  s.flatMessage = false;
  s.rawEntry = false;
  s.filterTransactionEntry = true;
  Batch b;
  b.begin().rows("shop", "user", eb::INSERT, {{{}, {key("1")}}}).end();
  const auto messages = route(router(s), b, 99);
  ASSERT_EQ(messages.size(), 1u);
  cp::Packet packet;
  const cp::Messages m = messagesOf(messages[0].payload, &packet);
  EXPECT_TRUE(packet.has_version());
  EXPECT_EQ(packet.version(), 1);
  EXPECT_EQ(m.batch_id(), 0) << "Canal's builder form leaves the batch id out";
  ASSERT_EQ(m.messages_size(), 1);
  EXPECT_EQ(m.messages(0), b.at(1));
}

TEST(CanalMqRouterTest, BinaryKeyHashSplitsEntriesIntoOneEntryPerRow) {
  publish::CanalMqSettings s;
  s.topic = "t";
  s.flatMessage = false;
  s.partitionsNum = 3;
  s.partitionHash = "shop.user:ID";  // binary mode compares column names case-insensitively
  std::vector<std::pair<std::vector<Col>, std::vector<Col>>> rows;
  for (int i = 1; i <= 9; ++i) rows.push_back({{}, {key(std::to_string(i)), name("n")}});
  Batch b;
  b.begin().rows("shop", "user", eb::INSERT, rows).end();
  const auto messages = route(router(s), b);
  std::map<int, std::vector<std::string>> expected;
  for (int i = 1; i <= 9; ++i) expected[expectedPartition("shop", {std::to_string(i)}, 3)].push_back(std::to_string(i));
  ASSERT_EQ(messages.size(), expected.size());
  for (const publish::MqMessage& m : messages) {
    const cp::Messages packet = messagesOf(m.payload);
    std::vector<std::string> ids;
    for (const std::string& bytes : packet.messages()) {
      eb::Entry e;
      ASSERT_TRUE(e.ParseFromString(bytes));
      EXPECT_EQ(e.entrytype(), eb::ROWDATA) << "BEGIN/END are dropped when partitioning";
      eb::RowChange rc;
      ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
      ASSERT_EQ(rc.rowdatas_size(), 1);
      EXPECT_EQ(rc.tableid(), 42) << "the rest of the RowChange is kept";
      ids.push_back(rc.rowdatas(0).aftercolumns(0).value());
    }
    EXPECT_EQ(ids, expected[m.partition]);
  }
}

TEST(CanalMqRouterTest, BadExpressionsAndBadEntriesAreNamed) {
  publish::CanalMqSettings s;
  s.topic = "t";
  s.dynamicTopic = "topic:(unclosed";
  auto r = publish::CanalMqRouter::create(s);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("canal.mq.dynamicTopic"), std::string::npos) << r.status().message();

  publish::CanalMqSettings ok;
  ok.topic = "t";
  const std::vector<std::string_view> garbage{std::string_view("\xff\xff\xff", 3)};
  auto routed = router(ok).route(3, garbage, 0);
  ASSERT_FALSE(routed.isOk());
  EXPECT_NE(routed.status().message().find("batch 3"), std::string::npos) << routed.status().message();
}

}  // namespace
}  // namespace canal::forwarder
