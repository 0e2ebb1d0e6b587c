// The Entry bytes of canal-entries.md sections 3 and 7, byte for byte.

#include "server/convert/entry_encoder.h"

#include <gtest/gtest.h>

#include "canal/protocol/entry_protocol.pb.h"
#include "tests/support/hex.h"

namespace canal::convert {
namespace {

using testing::toHex;

std::string hexOf(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto part : parts) {
    if (!out.empty()) out += ' ';
    out += part;
  }
  return out;
}

std::string ascii(std::string_view text) { return toHex(text); }

ChangeEntry header(std::uint64_t offset, std::uint32_t length) {
  ChangeEntry e;
  e.logfileName = "mysql-bin.000003";
  e.logfileOffset = offset;
  e.serverId = 1;
  e.executeTime = 1700000000000;
  e.eventLength = length;
  return e;
}

TEST(EntryEncoder, TransactionBeginAsCanalSendsIt) {
  ChangeEntry e = header(1279, 80);
  e.kind = EntryKind::kTransactionBegin;
  e.threadId = 42;
  std::string out;
  EntryEncoder().encode(e, out);
  EXPECT_EQ(toHex(out), hexOf({"0a 2f 08 01 12 10", ascii("mysql-bin.000003"), "18 ff 09 20 01 2a 05", ascii("UTF-8"),
                             "30 80 d0 95 ff bc 31 38 02 42 00 4a 00 50 50", "10 01", "1a 02 20 2a"}));
}

TEST(EntryEncoder, TransactionEndCarriesTheXid) {
  ChangeEntry e = header(1530, 31);
  e.kind = EntryKind::kTransactionEnd;
  e.transactionId = "77";
  std::string out;
  EntryEncoder().encode(e, out);
  protocol::entry::Entry parsed;
  ASSERT_TRUE(parsed.ParseFromString(out));
  EXPECT_EQ(parsed.entrytype(), protocol::entry::TRANSACTIONEND);
  EXPECT_FALSE(parsed.header().has_eventtype());
  EXPECT_TRUE(parsed.header().has_schemaname());
  EXPECT_EQ(toHex(parsed.storevalue()), "12 02 37 37");
}

// The UPDATE of section 7: test.user (id int(11) PK, name varchar(32), balance decimal(10,2),
// remark text), name 'foo' -> 'bar'.
TEST(EntryEncoder, RowChangeOfTheWorkedExample) {
  ChangeEntry e = header(1455, 75);
  e.schema = "test";
  e.table = "user";
  e.type = ChangeType::kUpdate;
  e.tableId = 108;
  auto infos = std::make_shared<ColumnInfos>(ColumnInfos{
      {"id", "int(11)", true}, {"name", "varchar(32)", false}, {"balance", "decimal(10,2)", false},
      {"remark", "text", false}});
  e.columns = infos;
  auto column = [&](std::uint32_t i, int sqlType, std::optional<std::string> value, bool updated) {
    ChangeColumn c;
    c.index = i;
    c.info = &(*infos)[i];
    c.updated = updated;
    c.text.sqlType = sqlType;
    c.text.isNull = !value;
    if (value) c.text.value = *value;
    return c;
  };
  ChangeRow row;
  row.before = {column(0, 4, "1", false), column(1, 12, "foo", false), column(2, 3, "1.50", false),
                column(3, 2005, std::nullopt, false)};
  row.after = {column(0, 4, "1", false), column(1, 12, "bar", true), column(2, 3, "1.50", false),
               column(3, 2005, std::nullopt, false)};
  e.rows.push_back(row);
  std::string out;
  EntryEncoder().encode(e, out);
  protocol::entry::Entry parsed;
  ASSERT_TRUE(parsed.ParseFromString(out));
  EXPECT_EQ(toHex(parsed.header().SerializeAsString()),
            hexOf({"08 01 12 10", ascii("mysql-bin.000003"), "18 af 0b 20 01 2a 05", ascii("UTF-8"),
                   "30 80 d0 95 ff bc 31 38 02 42 04", ascii("test"), "4a 04", ascii("user"), "50 4b 58 02",
                   "62 0e 0a 09", ascii("rowsCount"), "12 01 31"}));
  EXPECT_EQ(parsed.entrytype(), protocol::entry::ROWDATA);
  EXPECT_TRUE(parsed.has_entrytype()) << "entryType is set explicitly";
  const std::string rowChange = parsed.storevalue();
  EXPECT_EQ(toHex(rowChange.substr(0, 37)),
            hexOf({"08 6c 10 02 50 00 62 8a 02 0a 1a 08 00 10 04 1a 02", ascii("id"), "20 01 28 00 30 00 42 01",
                   ascii("1"), "52 07", ascii("int(11)")}));
  EXPECT_EQ(rowChange.size(), 9u + 266u) << "tableId, eventType, isDdl, then one RowData of 266 bytes";
  const std::string nameAfter = hexOf({"08 01 10 0c 1a 04", ascii("name"), "20 00 28 01 30 00 42 03", ascii("bar"),
                                       "52 0b", ascii("varchar(32)")});
  EXPECT_NE(toHex(rowChange).find(nameAfter), std::string::npos);
  const std::string nullRemark =
      hexOf({"08 03 10 d5 0f 1a 06", ascii("remark"), "20 00 28 00 30 01 52 04", ascii("text")});
  EXPECT_NE(toHex(rowChange).find(nullRemark), std::string::npos);
}

TEST(EntryEncoder, DdlHasSqlAndDefaultDatabaseButNoRows) {
  ChangeEntry e = header(2000, 120);
  e.schema = "test";
  e.table = "user";
  e.type = ChangeType::kAlter;
  e.isDdl = true;
  e.sql = "ALTER TABLE user ADD c INT";
  e.ddlSchema = "test";
  std::string out;
  EntryEncoder().encode(e, out);
  protocol::entry::Entry parsed;
  ASSERT_TRUE(parsed.ParseFromString(out));
  EXPECT_EQ(parsed.header().props_size(), 0);
  protocol::entry::RowChange rc;
  ASSERT_TRUE(rc.ParseFromString(parsed.storevalue()));
  EXPECT_FALSE(rc.has_tableid());
  EXPECT_EQ(rc.eventtype(), protocol::entry::ALTER);
  EXPECT_TRUE(rc.has_isddl() && rc.isddl());
  EXPECT_EQ(rc.sql(), e.sql);
  EXPECT_EQ(rc.ddlschemaname(), "test");
  EXPECT_EQ(rc.rowdatas_size(), 0);
}

}  // namespace
}  // namespace canal::convert
