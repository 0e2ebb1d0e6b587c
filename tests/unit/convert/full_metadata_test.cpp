// MariaDB's optional metadata (binlog_row_metadata=FULL) on a binlog of its own making
// (mariadb-10.11-generated/full_metadata_types, workload in the fixture README): values after a
// YEAR or a GEOMETRY column, MariaDB's UUID/INET types read as text once the definition says what
// they are, the same text from a snapshot's SELECT, and a TABLE_MAP that cannot be read stopping
// the stream only where the filter wants its table.

#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "server/binlog/event_stream.h"
#include "server/binlog/event_type.h"
#include "server/binlog/rows_event.h"
#include "server/convert/binlog_changes.h"
#include "server/convert/selected_row.h"
#include "server/convert/table_filter.h"
#include "tests/support/fixtures.h"

namespace canal::convert {
namespace {

const std::string kFile = "mariadb-10.11-generated/full_metadata_types/mariadb-bin.000001";

// table -> its rows' after images, as the assembler renders them (no schema).
using Rendered = std::map<std::string, std::vector<std::vector<ChangeColumn>>>;

// Feeds the fixture to `assembler`; `edit` may replace an event's body. The first error, if any.
Status feed(ChangeAssembler& assembler, Rendered& out,
            const std::function<std::optional<std::string>(const binlog::RawEvent&)>& edit = nullptr) {
  const std::string data = testing::readFile(testing::fixtureDir() + "/" + kFile);
  binlog::EventStream stream(data, kFile);
  ChangeEntry entry;
  binlog::RawEvent event;
  std::vector<std::string> bodies;  // replaced bodies outlive their events' handling
  for (;;) {
    auto more = stream.next(event);
    if (!more.isOk()) return more.status();
    if (!*more) return Status::ok();
    if (edit) {
      if (auto body = edit(event)) {
        bodies.push_back(std::move(*body));
        event.body = bodies.back();
      }
    }
    CANAL_RETURN_IF_ERROR(assembler.handleEach(event, stream.format(), "mariadb-bin.000001",
                                               stream.where(event.offset), entry, [&] {
                                                 if (!entry.rows.empty() && entry.table) {
                                                   for (const ChangeRow& row : entry.rows) out[*entry.table].push_back(row.after);
                                                 }
                                                 return Status::ok();
                                               }));
  }
}

const ChangeColumn& column(const std::vector<ChangeColumn>& row, const std::string& name) {
  for (const ChangeColumn& c : row) {
    if (c.name() == name) return c;
  }
  ADD_FAILURE() << "no column " << name;
  static const ChangeColumn none;
  return none;
}

TEST(FullMetadata, MariaDbCountsYearAsSignedAndGeometryAsACharsetColumn) {
  ChangeAssembler assembler(RenderOptions{});
  Rendered rows;
  ASSERT_TRUE(feed(assembler, rows).isOk());
  ASSERT_EQ(rows["t_year"].size(), 2u);
  const ChangeColumn& n = column(rows["t_year"][0], "n");
  EXPECT_EQ(n.text.value, "-5") << "the bit after YEAR's is n's";
  EXPECT_EQ(n.text.sqlType, kSqlInteger);
  EXPECT_EQ(n.mysqlType(), "int");
  EXPECT_EQ(column(rows["t_year"][0], "y").text.value, "2024");
  EXPECT_TRUE(column(rows["t_year"][1], "y").text.isNull);
  EXPECT_EQ(column(rows["t_year"][1], "n").text.value, "7");

  ASSERT_EQ(rows["t_point"].size(), 1u);
  const ChangeColumn& s = column(rows["t_point"][0], "s");
  EXPECT_EQ(s.text.value, "\xc3\xa9\xf0\x9f\x98\x80") << "text, not its bytes as ISO-8859-1";
  EXPECT_EQ(s.text.sqlType, kSqlVarchar);
  EXPECT_EQ(s.mysqlType(), "varchar");
  EXPECT_EQ(column(rows["t_point"][0], "p").mysqlType(), "point");

  ASSERT_EQ(rows["t_inet"].size(), 1u);
  EXPECT_EQ(column(rows["t_inet"][0], "v").text.value, "ok");
  EXPECT_EQ(column(rows["t_inet"][0], "v").text.sqlType, kSqlVarchar);
  EXPECT_EQ(column(rows["t_inet"][0], "l").text.value, "caf\xe9") << "latin1 bytes as they are, by default";

  RenderOptions charsets;
  charsets.convertColumnCharset = true;
  ChangeAssembler converting(charsets);
  Rendered converted;
  ASSERT_TRUE(feed(converting, converted).isOk());
  EXPECT_EQ(column(converted["t_inet"][0], "l").text.value, "caf\xc3\xa9") << "the latin1 column is known as latin1";
  EXPECT_EQ(column(converted["t_uuid"][0], "s").text.value, "x");
}

// The UUID/INET6 rows of the fixture, with the definition's types applied as the schema cache
// applies them, and the same values as a snapshot's SELECT returns them.
TEST(FullMetadata, MariaDbUuidAndInetAreTextInTheBinlogAndInASnapshotAlike) {
  schema::TableSchema definition;
  definition.database = "fx";
  definition.table = "t_uuid";
  definition.columns = {{"id", "int(11)", "int", false, false, true, {}, ""},
                        {"u", "uuid", "uuid", false, false, false, {}, ""},
                        {"i6", "inet6", "inet6", false, false, false, {}, ""},
                        {"s", "varchar(5)", "varchar", false, false, false, {}, "utf8mb4"}};
  const std::string data = testing::readFile(testing::fixtureDir() + "/" + kFile);
  binlog::EventStream stream(data, kFile);
  binlog::RawEvent event;
  std::optional<binlog::TableMapEvent> map;
  std::vector<std::vector<std::string>> values;
  for (;;) {
    auto more = stream.next(event);
    ASSERT_TRUE(more.isOk());
    if (!*more) break;
    const std::string where = stream.where(event.offset);
    if (event.header.type == binlog::kTableMapEvent) {
      auto decoded = binlog::decodeTableMap(event.body, stream.format(), where);
      ASSERT_TRUE(decoded.isOk()) << decoded.status().toString();
      if (decoded->table != "t_uuid") continue;
      ASSERT_TRUE(schema::applyDeclaredTypes(*decoded, definition));
      map = std::move(*decoded);
    } else if (binlog::isRowsEvent(event.header.type) && map) {
      auto rows = binlog::RowsEvent::decode(event, stream.format(), where);
      ASSERT_TRUE(rows.isOk());
      ChangeEntry entry;
      ASSERT_TRUE(convertRows(*rows, *map, columnInfos(*map, &definition), RenderOptions{}, entry, where).isOk());
      for (const ChangeRow& row : entry.rows) {
        std::vector<std::string> v;
        for (const ChangeColumn& c : row.after) {
          v.push_back(c.text.value);
          if (c.name() == "u" || c.name() == "i6") {
            EXPECT_EQ(c.text.sqlType, kSqlChar) << c.name();
            EXPECT_EQ(c.mysqlType(), c.name() == "u" ? "uuid" : "inet6");
          }
        }
        values.push_back(v);
      }
      map.reset();
    }
  }
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0][1], "6ccd780c-baba-1026-9564-5b8c656024db");
  EXPECT_EQ(values[0][2], "2001:db8::1");
  EXPECT_EQ(values[1][1], "00000000-0000-0000-0000-000000000000") << "the binlog leaves out its zero bytes";
  EXPECT_EQ(values[1][2], "::ffff:192.0.2.1");

  // A snapshot reads the same text from SELECT and renders it through the same path.
  const binlog::TableMapEvent fromSchema = tableMapFromSchema(definition, true);
  for (const auto& row : values) {
    for (std::size_t i = 1; i <= 2; ++i) {
      ColumnText text;
      ASSERT_TRUE(renderSelected(fromSchema, i, row[i], RenderOptions{}, text).isOk());
      EXPECT_EQ(text.value, row[i]);
      EXPECT_EQ(text.sqlType, kSqlChar);
    }
  }
  ColumnText inet4;
  binlog::TableMapEvent withInet4 = fromSchema;
  withInet4.columns[2].declared = binlog::DeclaredType::kInet4;
  withInet4.columns[2].maxLength = 4;
  ASSERT_TRUE(renderSelected(withInet4, 2, "10.0.0.1", RenderOptions{}, inet4).isOk());
  EXPECT_EQ(inet4.value, "10.0.0.1");
  EXPECT_FALSE(renderSelected(withInet4, 2, "10.0.0", RenderOptions{}, inet4).isOk()) << "not an address";
}

// t_year's TABLE_MAP with a DEFAULT_CHARSET field appended that names a column it does not have.
std::optional<std::string> breakYearTableMap(const binlog::RawEvent& event) {
  if (event.header.type != binlog::kTableMapEvent || event.body.find("t_year") == std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(event.body) + std::string("\x02\x03\x21\x63\x08", 5);
}

TEST(FullMetadata, AnUnreadableTableMapStopsTheStreamOnlyWhereTheFilterWantsItsTable) {
  {
    ChangeAssembler assembler(RenderOptions{});
    Rendered rows;
    const Status s = feed(assembler, rows, breakYearTableMap);
    ASSERT_FALSE(s.isOk());
    EXPECT_NE(s.toString().find("fx.t_year"), std::string::npos) << s.toString();
    EXPECT_NE(s.toString().find("mariadb-bin.000001:"), std::string::npos) << "the position: " << s.toString();
    EXPECT_NE(s.toString().find("canal.instance.filter.table.error"), std::string::npos) << "what to do: " << s.toString();
  }
  {
    ChangeAssembler assembler(RenderOptions{});
    auto others = TableFilter::create(TableFilterSpec{"fx\\..*", "fx\\.t_year", "", ""});
    ASSERT_TRUE(others.isOk());
    assembler.setTableFilter(*others);
    Rendered rows;
    ASSERT_TRUE(feed(assembler, rows, breakYearTableMap).isOk()) << "a table no one wants is not even read";
    EXPECT_EQ(rows.count("t_year"), 0u);
    EXPECT_EQ(rows["t_uuid"].size(), 2u);
  }
  {
    ChangeAssembler assembler(RenderOptions{});
    assembler.setSkipUnknownTables(true);  // canal.instance.filter.table.error = true
    Rendered rows;
    ASSERT_TRUE(feed(assembler, rows, breakYearTableMap).isOk());
    EXPECT_EQ(rows.count("t_year"), 0u);
    EXPECT_EQ(rows["t_point"].size(), 1u);
    EXPECT_EQ(assembler.stats().undecodableTables, 1u);
  }
}

}  // namespace
}  // namespace canal::convert
