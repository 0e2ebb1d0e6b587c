// The SDK renders FlatMessage JSON from the Entry protos a client receives; the server renders
// it from its own entries (canal-binlog). For every entry of every binlog fixture, the
// two must give the same JSON document.

#include "canal/client/flat_message.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "server/convert/binlog_changes.h"
#include "server/convert/entry_encoder.h"
#include "server/convert/flat_message.h"
#include "tests/support/fixtures.h"

namespace canal::client {
namespace {

using Json = nlohmann::ordered_json;

TEST(ClientFlatMessage, SameDocumentAsTheServerForEveryFixtureEntry) {
  convert::RenderOptions options;
  options.timeZone = convert::TimeZone::utc();
  convert::EntryEncoder encoder;
  int compared = 0, updates = 0, ddl = 0;
  for (const auto& fixture : testing::binlogFixtures()) {
    SCOPED_TRACE(fixture.relative);
    const std::string data = testing::readFile(fixture.path);
    convert::BinlogChangeReader reader(data, fixture.path, options);
    convert::ChangeEntry entry;
    for (;;) {
      auto more = reader.next(entry);
      if (!more || !*more) break;  // decoding errors are the decoder tests' business
      std::string server;
      convert::appendFlatMessage(server, entry, 7, 1234);
      std::string bytes;
      encoder.encode(entry, bytes);
      canal::protocol::entry::Entry proto;
      ASSERT_TRUE(proto.ParseFromString(bytes));
      auto client = toFlatMessage(proto, 7, 1234);
      ASSERT_TRUE(client.isOk()) << client.status().toString();
      ASSERT_TRUE(client->has_value());
      const Json want = Json::parse(server, nullptr, false);
      const Json got = Json::parse(**client, nullptr, false);
      ASSERT_FALSE(want.is_discarded()) << server;
      ASSERT_EQ(got, want) << "at " << entry.logfileName << ":" << entry.logfileOffset;
      EXPECT_EQ(**client, server) << "at " << entry.logfileName << ":" << entry.logfileOffset;
      ++compared;
      updates += entry.type == convert::ChangeType::kUpdate;
      ddl += entry.isDdl;
    }
  }
  EXPECT_GT(compared, 500);
  EXPECT_GT(updates, 10);
  EXPECT_GT(ddl, 10);
}

TEST(ClientFlatMessage, TransactionEntriesHaveNoneAndABrokenRowChangeIsAnError) {
  canal::protocol::entry::Entry e;
  e.set_entrytype(canal::protocol::entry::TRANSACTIONEND);
  auto none = toFlatMessage(e, 1, 1);
  ASSERT_TRUE(none.isOk());
  EXPECT_FALSE(none->has_value());
  e.set_entrytype(canal::protocol::entry::ROWDATA);
  e.set_storevalue("\xff\xff\xff");
  e.mutable_header()->set_logfilename("mysql-bin.000009");
  e.mutable_header()->set_logfileoffset(120);
  auto broken = toFlatMessage(e, 1, 1);
  ASSERT_FALSE(broken.isOk());
  EXPECT_NE(broken.status().message().find("mysql-bin.000009:120"), std::string::npos) << broken.status().toString();
}

// The FlatMessage as a JSON document model builds it (nlohmann's ordered_json, dumped with
// invalid UTF-8 replaced): the reference the writer is compared with, byte for byte.
namespace eb = canal::protocol::entry;

const google::protobuf::RepeatedPtrField<eb::Column>& imageOf(const eb::RowData& row, eb::EventType type) {
  return type == eb::DELETE ? row.beforecolumns() : row.aftercolumns();
}

Json referenceDocument(const eb::Entry& entry, const eb::RowChange& rc, const std::vector<const eb::RowData*>& rows,
                       std::int64_t id, std::int64_t ts) {
  const auto valueOf = [](const eb::Column& c) { return c.isnull() ? Json(nullptr) : Json(c.value()); };
  const eb::EventType type = rc.eventtype();
  Json data = nullptr, mysqlType = nullptr, sqlType = nullptr, old = nullptr, pkNames = nullptr;
  if (!rows.empty()) {
    data = Json::array();
    mysqlType = Json::object();
    sqlType = Json::object();
    for (const eb::RowData* row : rows) {
      Json object = Json::object();
      for (const auto& c : imageOf(*row, type)) {
        object[c.name()] = valueOf(c);
        mysqlType[c.name()] = c.mysqltype();
        sqlType[c.name()] = c.sqltype();
      }
      data.push_back(std::move(object));
    }
    if (type == eb::UPDATE) {
      std::vector<std::string> updated;
      old = Json::array();
      for (const eb::RowData* row : rows) {
        for (const auto& a : row->aftercolumns()) {
          if (a.updated() && std::find(updated.begin(), updated.end(), a.name()) == updated.end()) updated.push_back(a.name());
        }
        Json before = Json::object();
        for (const auto& b : row->beforecolumns()) {
          if (std::find(updated.begin(), updated.end(), b.name()) != updated.end()) before[b.name()] = valueOf(b);
        }
        old.push_back(std::move(before));
      }
    }
    for (const auto& c : imageOf(*rows.front(), type)) {
      if (!c.iskey()) continue;
      if (pkNames.is_null()) pkNames = Json::array();
      pkNames.push_back(c.name());
    }
  }
  Json j;
  j["data"] = std::move(data);
  j["database"] = entry.header().schemaname();
  j["es"] = entry.header().executetime();
  j["gtid"] = entry.header().gtid();
  j["id"] = id;
  j["isDdl"] = rc.isddl();
  j["mysqlType"] = std::move(mysqlType);
  j["old"] = std::move(old);
  j["pkNames"] = std::move(pkNames);
  j["sql"] = rc.sql();
  j["sqlType"] = std::move(sqlType);
  j["table"] = entry.header().tablename();
  j["ts"] = ts;
  j["type"] = eb::EventType_Name(type);
  return j;
}

std::string dumped(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Random text: ASCII, quotes and backslashes, control bytes, multi-byte UTF-8 and bytes that
// are not UTF-8 (lone continuation bytes, overlong forms, surrogates, truncated sequences).
std::string randomText(std::mt19937& random) {
  static const std::vector<std::string> pieces = {
      "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\r", "\b", "\f", std::string(1, '\0'), "\x01", "\x1f", "\x7f",
      "é", "中", "😀", "\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xf0\x9f\x98", "\xff"};
  std::string out;
  // Mostly short; now and then long enough for the writer's sixteen-byte steps.
  const int n = static_cast<int>(random() % 4 == 0 ? random() % 60 : random() % 8);
  for (int i = 0; i < n; ++i) out += pieces[random() % pieces.size()];
  return out;
}

TEST(ClientFlatMessage, TheWriterGivesTheDocumentModelsBytesForRandomEntries) {
  std::mt19937 random(20261207);
  const eb::EventType types[] = {eb::INSERT, eb::UPDATE, eb::DELETE, eb::QUERY};
  int compared = 0;
  for (int round = 0; round < 3000; ++round) {
    eb::Entry entry;
    entry.set_entrytype(eb::ROWDATA);
    entry.mutable_header()->set_schemaname(randomText(random));
    entry.mutable_header()->set_tablename(randomText(random));
    entry.mutable_header()->set_executetime(static_cast<std::int64_t>(random()) * 1000);
    entry.mutable_header()->set_gtid(random() % 2 ? "0-1-" + std::to_string(random()) : "");
    eb::RowChange rc;
    rc.set_eventtype(types[random() % 4]);
    rc.set_isddl(random() % 10 == 0);
    rc.set_sql(random() % 3 ? "" : randomText(random));
    const int columns = 1 + static_cast<int>(random() % 4);
    const int rows = static_cast<int>(random() % 5);
    for (int r = 0; r < rows; ++r) {
      eb::RowData* row = rc.add_rowdatas();
      // Now and then a row with other columns (a partial image): names merge in first-seen order.
      const int own = random() % 6 == 0 ? 1 + static_cast<int>(random() % 4) : columns;
      for (auto* image : {row->mutable_beforecolumns(), row->mutable_aftercolumns()}) {
        for (int c = 0; c < own; ++c) {
          eb::Column* col = image->Add();
          // Names are unique in a row, as a table's columns are.
          col->set_name((random() % 8 == 0 ? randomText(random) : "c") + std::to_string(c));
          col->set_iskey(c == 0);
          col->set_isnull(random() % 5 == 0);
          if (!col->isnull()) col->set_value(randomText(random));
          col->set_mysqltype(c == 0 ? "int(11)" : "varchar(" + std::to_string(random() % 300) + ")");
          col->set_sqltype(c == 0 ? 4 : 12);
          col->set_updated(random() % 2 == 0);
        }
      }
    }
    std::vector<const eb::RowData*> all;
    for (const auto& row : rc.rowdatas()) all.push_back(&row);
    entry.set_storevalue(rc.SerializeAsString());
    auto whole = toFlatMessage(entry, 42, 1700000000000);
    ASSERT_TRUE(whole.isOk() && whole->has_value());
    ASSERT_EQ(**whole, dumped(referenceDocument(entry, rc, all, 42, 1700000000000))) << "round " << round;
    // The same from the RowChange read in place.
    RowChangeReader reader;
    ASSERT_TRUE(reader.parse(entry.storevalue()));
    std::string fromViews = "x";
    appendFlatMessage(fromViews, entry, reader, 42, 1700000000000);
    ASSERT_EQ(fromViews, "x" + **whole) << "round " << round;
    // One row alone (the Kafka sink's per-row message).
    if (rows > 1) {
      const std::vector<int> one{rows - 1};
      ASSERT_EQ(toFlatMessage(entry, rc, &one, 42, 5),
                dumped(referenceDocument(entry, rc, {all.back()}, 42, 5))) << "round " << round;
    }
    // Split over partitions: each part is the whole document with its rows' data and old.
    std::vector<int> partitionOf;
    for (int r = 0; r < rows; ++r) partitionOf.push_back(static_cast<int>(random() % 3));
    const Json document = referenceDocument(entry, rc, all, 42, 9);
    std::map<int, Json> parts;
    for (int r = 0; r < rows; ++r) {
      auto [it, added] = parts.try_emplace(partitionOf[static_cast<std::size_t>(r)], document);
      if (added) {
        it->second["data"] = Json::array();
        if (!document["old"].is_null()) it->second["old"] = Json::array();
      }
      it->second["data"].push_back(document["data"][static_cast<std::size_t>(r)]);
      if (!document["old"].is_null()) it->second["old"].push_back(document["old"][static_cast<std::size_t>(r)]);
    }
    const auto split = toPartitionedFlatMessages(entry, rc, partitionOf, 42, 9);
    ASSERT_EQ(split.size(), parts.size());
    std::size_t i = 0;
    for (const auto& [partition, part] : parts) {
      EXPECT_EQ(split[i].first, partition);
      ASSERT_EQ(split[i].second, dumped(part)) << "round " << round << ", partition " << partition;
      ++i;
    }
    ++compared;
  }
  EXPECT_EQ(compared, 3000);
}

TEST(ClientRowView, ColumnsByNameBeforeAndAfter) {
  canal::protocol::entry::RowData row;
  auto add = [](auto* list, const char* name, const char* value, bool key, bool updated) {
    auto* c = list->Add();
    c->set_name(name);
    if (value) c->set_value(value);
    c->set_isnull(value == nullptr);
    c->set_iskey(key);
    c->set_updated(updated);
  };
  add(row.mutable_beforecolumns(), "id", "1", true, false);
  add(row.mutable_beforecolumns(), "name", "foo", false, false);
  add(row.mutable_aftercolumns(), "id", "1", true, false);
  add(row.mutable_aftercolumns(), "name", nullptr, false, true);
  RowView update(row, canal::protocol::entry::UPDATE);
  EXPECT_EQ(update.value("id"), "1");
  EXPECT_EQ(update.value("name"), std::nullopt);
  EXPECT_EQ(update.beforeColumn("name")->value(), "foo");
  EXPECT_EQ(update.keyNames(), std::vector<std::string>{"id"});
  EXPECT_EQ(update.updatedNames(), std::vector<std::string>{"name"});
  RowView del(row, canal::protocol::entry::DELETE);
  EXPECT_EQ(del.value("name"), "foo");
  EXPECT_EQ(del.column("missing"), nullptr);
}

}  // namespace
}  // namespace canal::client
