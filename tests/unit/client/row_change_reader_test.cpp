// RowChangeReader against protobuf's own parser: the same values from the same bytes, and the
// same verdict on bytes cut short or damaged.

#include "canal/client/row_change_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

#include "canal/protocol/entry_protocol.pb.h"

namespace canal::client {
namespace {

namespace eb = canal::protocol::entry;

eb::RowChange sample(std::mt19937& random, int rows, int columns) {
  eb::RowChange rc;
  rc.set_tableid(random() % 1000);
  rc.set_eventtype(static_cast<eb::EventType>(1 + random() % 3));
  auto* prop = rc.add_props();
  prop->set_key("rowsCount");
  prop->set_value(std::to_string(rows));
  for (int r = 0; r < rows; ++r) {
    eb::RowData* row = rc.add_rowdatas();
    for (const bool before : {true, false}) {
      if (before && rc.eventtype() == eb::INSERT) continue;
      if (!before && rc.eventtype() == eb::DELETE) continue;
      for (int c = 0; c < columns; ++c) {
        eb::Column* column = before ? row->add_beforecolumns() : row->add_aftercolumns();
        column->set_index(c);
        column->set_sqltype(c % 3 == 0 ? 4 : -5 + c);  // negative sqlTypes exist (BIGINT -5)
        column->set_name(c == 0 ? "id" : "column_" + std::to_string(c));
        column->set_iskey(c == 0);
        column->set_updated(!before && random() % 2);
        const bool null = c > 0 && random() % 5 == 0;
        column->set_isnull(null);
        if (!null) column->set_value(std::to_string(random()) + std::string(random() % 40, 'x'));
        if (c % 4 == 1) column->set_length(static_cast<std::int32_t>(random() % 300));
        column->set_mysqltype(c == 0 ? "int(11)" : "varchar(64)");
        if (c == 2) {
          auto* p = column->add_props();
          p->set_key("k");
          p->set_value("v");
        }
      }
    }
    auto* p = row->add_props();
    p->set_key("r");
    p->set_value("1");
  }
  return rc;
}

void expectSame(const google::protobuf::RepeatedPtrField<eb::Column>& expected, const RowChangeReader::Columns& got) {
  ASSERT_EQ(got.size(), static_cast<std::size_t>(expected.size()));
  for (int i = 0; i < expected.size(); ++i) {
    const eb::Column& e = expected[i];
    const ColumnView& c = got[static_cast<std::size_t>(i)];
    EXPECT_EQ(c.index, e.index());
    EXPECT_EQ(c.sqlType, e.sqltype());
    EXPECT_EQ(c.name, e.name());
    EXPECT_EQ(c.isKey, e.iskey());
    EXPECT_EQ(c.updated, e.updated());
    EXPECT_EQ(c.isNull, e.isnull());
    EXPECT_EQ(c.value, e.value());
    EXPECT_EQ(c.length, e.length());
    EXPECT_EQ(c.mysqlType, e.mysqltype());
  }
}

TEST(RowChangeReader, ReadsWhatProtobufReads) {
  std::mt19937 random(7);
  RowChangeReader reader;  // reused, as a consumer loop reuses it
  for (int round = 0; round < 50; ++round) {
    const eb::RowChange rc = sample(random, 1 + round % 7, 1 + round % 11);
    const std::string bytes = rc.SerializeAsString();
    ASSERT_TRUE(reader.parse(bytes));
    EXPECT_EQ(reader.tableId(), rc.tableid());
    EXPECT_EQ(reader.eventType(), rc.eventtype());
    EXPECT_FALSE(reader.isDdl());
    ASSERT_EQ(reader.rows(), static_cast<std::size_t>(rc.rowdatas_size()));
    for (int r = 0; r < rc.rowdatas_size(); ++r) {
      expectSame(rc.rowdatas(r).beforecolumns(), reader.before(static_cast<std::size_t>(r)));
      expectSame(rc.rowdatas(r).aftercolumns(), reader.after(static_cast<std::size_t>(r)));
    }
    const auto* id = reader.after(0).find("id");
    if (rc.eventtype() != eb::DELETE) {
      ASSERT_NE(id, nullptr);
      EXPECT_EQ(id->value, rc.rowdatas(0).aftercolumns(0).value());
    }
    EXPECT_EQ(reader.before(0).find("no such column"), nullptr);
  }
}

TEST(RowChangeReader, ADdlAndDefaults) {
  eb::RowChange ddl;
  ddl.set_isddl(true);
  ddl.set_sql("ALTER TABLE t ADD COLUMN c INT");
  ddl.set_ddlschemaname("s");
  ddl.set_eventtype(eb::ALTER);
  RowChangeReader reader;
  const std::string bytes = ddl.SerializeAsString();  // the reader's views point into it
  ASSERT_TRUE(reader.parse(bytes));
  EXPECT_TRUE(reader.isDdl());
  EXPECT_EQ(reader.sql(), ddl.sql());
  EXPECT_EQ(reader.ddlSchemaName(), "s");
  EXPECT_EQ(reader.eventType(), eb::ALTER);
  EXPECT_EQ(reader.rows(), 0u);
  ASSERT_TRUE(reader.parse(""));
  EXPECT_EQ(reader.eventType(), eb::UPDATE) << "the proto's default";
  EXPECT_THROW(reader.after(0), std::out_of_range);
}

// Unknown groups (wire types 3 and 4), which Canal never sends: skipped whole where protobuf skips
// them, at the top and inside a row, and refused where protobuf refuses them.
TEST(RowChangeReader, UnknownGroupsAreSkippedOrRefusedAsProtobufDoes) {
  std::mt19937 random(5);
  const eb::RowChange change = sample(random, 1, 2);
  const std::string bytes = change.SerializeAsString();
  const std::string group = "\xcb\x06\x08\x01\xd3\x06\xd4\x06\xcc\x06";  // field 105: {1: 1, 106: {}}
  // A row with the group inside: field 12 (rowDatas) of the row's bytes plus the group.
  const std::string row = change.rowdatas(0).SerializeAsString() + group;
  std::string nested = "\x62";  // field 12, length-delimited
  for (std::size_t n = row.size(); ; n >>= 7) {
    nested.push_back(static_cast<char>((n & 0x7f) | (n >= 0x80 ? 0x80 : 0)));
    if (n < 0x80) break;
  }
  nested += row;
  RowChangeReader reader;
  for (const auto& [what, damaged] : std::vector<std::pair<std::string, std::string>>{
           {"a group at the top", bytes + group},
           {"a group inside a row", nested},
           {"an end without its start", bytes + "\xcc\x06"},
           {"an end of another group", bytes + "\xcb\x06\xd4\x06"},
           {"a group without its end", bytes + "\xcb\x06\x08\x01"}}) {
    eb::RowChange expected;
    const bool parses = expected.ParseFromString(damaged);
    ASSERT_EQ(reader.parse(damaged), parses) << what;
    if (!parses) continue;
    ASSERT_EQ(reader.rows(), static_cast<std::size_t>(expected.rowdatas_size())) << what;
    for (int r = 0; r < expected.rowdatas_size(); ++r) {
      expectSame(expected.rowdatas(r).aftercolumns(), reader.after(static_cast<std::size_t>(r)));
    }
  }
  EXPECT_TRUE(reader.parse(bytes + group)) << "protobuf reads a well-formed group";
}

// Tags and lengths are read within protobuf's limits: a tag of at most 5 bytes whose bits past
// 32 are dropped (found by tests/fuzz/row_change_fuzzer), a length of at most 5 bytes below 2^31.
TEST(RowChangeReader, TagsAndLengthsAreReadWithinProtobufsLimits) {
  RowChangeReader reader;
  for (const auto& [what, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"a 5-byte tag with bits past 32", std::string("\xf8\xc2\xc2\xc2\x2b\x0a", 6)},
           {"a 6-byte tag", std::string("\x88\x80\x80\x80\x80\x00\x01", 7)},
           {"an overlong 5-byte length", std::string("\x5a\x81\x80\x80\x80\x00x", 7)},
           {"an overlong 6-byte length", std::string("\x5a\x81\x80\x80\x80\x80\x00x", 8)},
           {"a length of 2^31", std::string("\x5a\x80\x80\x80\x80\x08", 6)}}) {
    eb::RowChange expected;
    EXPECT_EQ(reader.parse(bytes), expected.ParseFromString(bytes)) << what;
  }
}

// Every prefix and every one-byte change of a RowChange: the reader refuses exactly what
// protobuf refuses, and what both accept reads the same.
TEST(RowChangeReader, RefusesWhatProtobufRefuses) {
  std::mt19937 random(11);
  const std::string bytes = sample(random, 2, 3).SerializeAsString();
  RowChangeReader reader;
  std::size_t refused = 0;
  const auto check = [&](const std::string& damaged, const std::string& what) {
    eb::RowChange expected;
    const bool parses = expected.ParseFromString(damaged);
    ASSERT_EQ(reader.parse(damaged), parses) << what;
    if (!parses) {
      ++refused;
      EXPECT_EQ(reader.rows(), 0u) << what << ": a refused message leaves the reader empty";
      return;
    }
    ASSERT_EQ(reader.rows(), static_cast<std::size_t>(expected.rowdatas_size())) << what;
    for (int r = 0; r < expected.rowdatas_size(); ++r) {
      expectSame(expected.rowdatas(r).beforecolumns(), reader.before(static_cast<std::size_t>(r)));
      expectSame(expected.rowdatas(r).aftercolumns(), reader.after(static_cast<std::size_t>(r)));
    }
  };
  for (std::size_t n = 0; n < bytes.size(); ++n) check(bytes.substr(0, n), "prefix of " + std::to_string(n) + " bytes");
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (const unsigned char value : {0x00, 0x7f, 0x80, 0xff}) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(value);
      check(damaged, "byte " + std::to_string(i) + " set to " + std::to_string(value));
    }
  }
  EXPECT_GT(refused, bytes.size() / 2) << "the damage was refused often enough to test the refusals";
}

}  // namespace
}  // namespace canal::client
