// Entry bytes as Canal's server writes them (a transaction and an UPDATE), byte for byte.

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

// The worked UPDATE: test.user (id int(11) PK, name varchar(32), balance decimal(10,2),
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

namespace canal::convert {
namespace {

namespace pb = canal::protocol::entry;

// The Entry built with protobuf's generated classes, as Canal builds it: the reference the
// encoder's direct writing must match byte for byte.
void referenceColumns(const std::vector<ChangeColumn>& columns, google::protobuf::RepeatedPtrField<pb::Column>& out) {
  for (const ChangeColumn& c : columns) {
    pb::Column* col = out.Add();
    col->set_index(static_cast<std::int32_t>(c.index));
    col->set_sqltype(c.text.sqlType);
    col->set_name(c.name());
    col->set_iskey(c.isKey());
    col->set_updated(c.updated);
    col->set_isnull(c.text.isNull);
    if (!c.text.isNull) col->set_value(c.text.value);
    col->set_mysqltype(c.mysqlType());
  }
}

template <typename Message>
void referenceProps(Message& m, const ChangeEntry& e) {
  for (const auto& [key, value] : e.props) {
    auto* p = m.add_props();
    p->set_key(key);
    p->set_value(value);
  }
}

std::string reference(const ChangeEntry& e) {
  pb::Entry entry;
  pb::Header& h = *entry.mutable_header();
  h.set_version(1);
  h.set_logfilename(e.logfileName);
  h.set_logfileoffset(static_cast<std::int64_t>(e.logfileOffset));
  h.set_serverid(e.serverId);
  h.set_serverencode("UTF-8");
  h.set_executetime(e.executeTime);
  h.set_sourcetype(pb::MYSQL);
  const bool row = e.kind == EntryKind::kRowData;
  if (!row) {
    h.set_schemaname("");
    h.set_tablename("");
  } else {
    if (e.schema) h.set_schemaname(*e.schema);
    if (e.table) h.set_tablename(*e.table);
  }
  h.set_eventlength(e.eventLength);
  if (row) h.set_eventtype(static_cast<pb::EventType>(e.type));
  const auto pair = [&](const std::string& k, const std::string& v) {
    auto* p = h.add_props();
    p->set_key(k);
    p->set_value(v);
  };
  if (!e.currentGtid.empty()) pair("curtGtid", e.currentGtid);
  if (!e.currentGtidSn.empty()) pair("curtGtidSn", e.currentGtidSn);
  if (!e.currentGtidLct.empty()) pair("curtGtidLct", e.currentGtidLct);
  if (row && e.columns && !e.rows.empty()) pair("rowsCount", std::to_string(e.rows.size()));
  if (!e.gtid.empty()) h.set_gtid(e.gtid);
  entry.set_entrytype(static_cast<pb::EntryType>(e.kind));
  std::string value;
  if (e.kind == EntryKind::kTransactionBegin) {
    pb::TransactionBegin b;
    b.set_threadid(static_cast<std::int64_t>(e.threadId));
    referenceProps(b, e);
    b.SerializeToString(&value);
  } else if (e.kind == EntryKind::kTransactionEnd) {
    pb::TransactionEnd t;
    t.set_transactionid(e.transactionId);
    referenceProps(t, e);
    t.SerializeToString(&value);
  } else {
    pb::RowChange rc;
    if (e.columns) rc.set_tableid(static_cast<std::int64_t>(e.tableId));
    rc.set_eventtype(static_cast<pb::EventType>(e.type));
    if (e.isDdlSet) rc.set_isddl(e.isDdl);
    if (!e.columns) {
      rc.set_sql(e.sql);
      if (!e.ddlSchema.empty()) rc.set_ddlschemaname(e.ddlSchema);
    }
    referenceProps(rc, e);
    for (const ChangeRow& r : e.rows) {
      pb::RowData* data = rc.add_rowdatas();
      referenceColumns(r.before, *data->mutable_beforecolumns());
      referenceColumns(r.after, *data->mutable_aftercolumns());
    }
    rc.SerializeToString(&value);
  }
  entry.set_storevalue(value);
  return entry.SerializeAsString();
}

TEST(EntryEncoder, WritesTheBytesOfProtobufsOwnSerializer) {
  auto columns = std::make_shared<ColumnInfos>();
  columns->push_back({"id", "bigint(20)", true});
  columns->push_back({"payload", "blob", false});
  columns->push_back({std::string(200, 'n'), "varchar(300)", false});
  ChangeEntry rows = header(1u << 31, 70000);
  rows.kind = EntryKind::kRowData;
  rows.type = ChangeType::kUpdate;
  rows.schema = "s";
  rows.table = "t";
  rows.tableId = 1ull << 40;
  rows.columns = columns;
  rows.serverId = 4000000000u;
  rows.executeTime = -5;  // a negative int64 is ten bytes on the wire
  rows.gtid = "0-1-77";
  rows.currentGtid = "0-1-77";
  rows.currentGtidSn = "3";
  rows.props = {{"rowsCount", "ignored"}};
  for (int r = 0; r < 3; ++r) {
    ChangeRow row;
    for (std::uint32_t i = 0; i < columns->size(); ++i) {
      ChangeColumn c;
      c.index = i;
      c.info = &(*columns)[i];
      // LONGVARBINARY is negative; one cell's type differs from the rest of its column's.
      c.text.sqlType = i == 1 ? -4 : (r == 2 && i == 0 ? -5 : 12);
      c.text.isNull = r == 1 && i == 1;
      if (!c.text.isNull) c.text.value = std::string(static_cast<std::size_t>(i * 90 + r), 'v');
      row.before.push_back(c);
      c.updated = i != 0;
      row.after.push_back(c);
    }
    rows.rows.push_back(row);
  }
  ChangeEntry ddl = header(4, 100);
  ddl.kind = EntryKind::kRowData;
  ddl.type = ChangeType::kAlter;
  ddl.isDdlSet = true;
  ddl.isDdl = true;
  ddl.sql = "ALTER TABLE t ADD c INT";
  ddl.ddlSchema = "s";
  ddl.schema = "s";
  ddl.table = "t";
  ChangeEntry begin = header(4, 80);
  begin.kind = EntryKind::kTransactionBegin;
  begin.threadId = 1ull << 35;
  begin.props = {{"rowsCount", "0"}};
  ChangeEntry end = header(900, 31);
  end.kind = EntryKind::kTransactionEnd;
  end.transactionId = "18446744073709551615";
  end.gtid = "0-1-77";

  EntryEncoder encoder;
  std::string out;
  ChangeEntry sparse = rows;  // a minimal image: not every column, so not every ordinal
  for (ChangeRow& row : sparse.rows) row.before.erase(row.before.begin() + 1);
  // Lengths of every size on the wire: many rows (a RowChange over 16 KiB), a row over 16 KiB
  // in an entry of few rows, a RowChange over 2 MiB, rows under 128 bytes.
  ChangeEntry many = rows;
  for (int r = 0; r < 100; ++r) many.rows.push_back(rows.rows[static_cast<std::size_t>(r % 3)]);
  ChangeEntry wideRow = rows;
  wideRow.rows.resize(1);
  wideRow.rows[0].after[1].text.value = std::string(20000, 'w');
  ChangeEntry huge = wideRow;
  huge.rows[0].after[1].text.value = std::string(3u << 20, 'h');
  ChangeEntry small = sparse;
  for (ChangeRow& row : small.rows) {
    row.before.resize(1);
    row.after.resize(1);
  }
  for (const ChangeEntry* e : {&rows, &ddl, &begin, &end, &rows, &sparse, &many, &wideRow, &huge, &small, &rows}) {
    encoder.encode(*e, out);
    EXPECT_EQ(toHex(out), toHex(reference(*e)));
  }
}

}  // namespace
}  // namespace canal::convert
