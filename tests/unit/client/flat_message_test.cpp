// The SDK renders FlatMessage JSON from the Entry protos a client receives; the server renders
// it from its own entries (canal-binlog, MQ mode). For every entry of every binlog fixture, the
// two must give the same JSON document.

#include "canal/client/flat_message.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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
