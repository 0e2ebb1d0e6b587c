// Row values of the MySQL and MariaDB fixtures whose .expected.json states them, decoded through
// the same path as canal-binlog and the server (BinlogChangeReader).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/binlog/event_stream.h"
#include "server/binlog/event_type.h"
#include "server/binlog/table_map.h"
#include "server/convert/binlog_changes.h"
#include "tests/support/fixtures.h"

namespace canal::convert {
namespace {

using nlohmann::json;

std::string path(const std::string& relative) { return testing::fixtureDir() + "/" + relative; }

json expectedOf(const std::string& relative) { return json::parse(testing::readFile(path(relative + ".expected.json"))); }

std::vector<ChangeEntry> rowEntries(const std::string& data, const std::string& name) {
  RenderOptions options;
  options.decimal = binlog::DecimalStyle::kExact;
  options.timeZone = TimeZone::utc();
  BinlogChangeReader reader(data, name, options);
  std::vector<ChangeEntry> out;
  ChangeEntry entry;
  for (;;) {
    auto more = reader.next(entry);
    EXPECT_TRUE(more.status().isOk()) << more.status().toString();
    if (!more || !*more) break;
    if (!entry.rows.empty()) out.push_back(entry);
  }
  return out;
}

std::string opName(ChangeType t) {
  return t == ChangeType::kInsert ? "insert" : t == ChangeType::kUpdate ? "update" : "delete";
}

// An image as a JSON array of values in column order (numbers stay text).
json values(const std::vector<ChangeColumn>& image) {
  json out = json::array();
  for (const auto& c : image) {
    if (c.text.isNull) out.push_back(nullptr); else out.push_back(c.text.value);
  }
  return out;
}

json asText(const json& expected) {
  json out = json::array();
  for (const auto& v : expected) out.push_back(v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

// row_events_expected: [{table, op, rows: [{before: [...], after: [...]}]}]
void expectRowEvents(const std::string& binlog, const json& expected) {
  const std::string data = testing::readFile(path(binlog));
  const auto entries = rowEntries(data, binlog);
  ASSERT_EQ(entries.size(), expected.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& want = expected[i];
    EXPECT_EQ(*entries[i].schema + "." + *entries[i].table, want["table"].get<std::string>());
    EXPECT_EQ(opName(entries[i].type), want["op"].get<std::string>());
    ASSERT_EQ(entries[i].rows.size(), want["rows"].size());
    for (std::size_t r = 0; r < entries[i].rows.size(); ++r) {
      const auto& row = want["rows"][r];
      if (row.contains("before")) {
        EXPECT_EQ(values(entries[i].rows[r].before), asText(row["before"])) << i << "/" << r;
      }
      if (row.contains("after")) {
        EXPECT_EQ(values(entries[i].rows[r].after), asText(row["after"])) << i << "/" << r;
      }
    }
  }
}

TEST(FixtureRows, Mysql5123V1Rows) {
  expectRowEvents("mysql-5.1/ver_5_1_23.001", expectedOf("mysql-5.1/ver_5_1_23.001")["row_events_expected"]);
}

TEST(FixtureRows, Mysql564V2Rows) {
  expectRowEvents("mysql-5.6/ver_trunk_row_v2.001", expectedOf("mysql-5.6/ver_trunk_row_v2.001")["row_events_expected"]);
}

// The 5.2 "a_drop6" tree numbered event types differently: its TABLE_MAP is type 16 and its
// pre-GA rows events 17-19. Its row file (_r) holds the rows the generating script wrote; the
// statement file (_s) holds the rest.
TEST(FixtureRows, DropTreePreGaRowsWithPermutedEventTypes) {
  expectRowEvents("mysql-5.1/ver_5_1-wl2325_r.001",
                  expectedOf("mysql-5.1/ver_5_1-wl2325_s.001")["row_events_expected"]);
  const std::string data = testing::readFile(path("mysql-5.1/ver_5_1-wl2325_r.001"));
  binlog::EventStream stream(data, "wl2325_r");
  binlog::RawEvent e;
  std::vector<std::uint8_t> types;
  while (*stream.next(e)) types.push_back(e.header.type);
  EXPECT_EQ(std::count(types.begin(), types.end(), binlog::kTableMapEvent), 3);
  EXPECT_EQ(std::count(types.begin(), types.end(), binlog::kPreGaUpdateRowsEvent), 1);
  EXPECT_EQ(std::count(types.begin(), types.end(), binlog::kXidEvent), 0);
}

TEST(FixtureRows, Mysql57MultiRowInsert) {
  expectRowEvents("mysql-5.7/bug32407.001", expectedOf("mysql-5.7/bug32407.001")["row_events_expected"]);
}

TEST(FixtureRows, Mysql80EnumSetWithFullMetadata) {
  const json expected = expectedOf("mysql-8.0/mysql-enum-string-set.000001");
  const auto entries = rowEntries(testing::readFile(path("mysql-8.0/mysql-enum-string-set.000001")), "m");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(values(entries[0].rows[0].after), asText(expected["write_rows"][0]["after"]));
  EXPECT_EQ(values(entries[1].rows[0].before), asText(expected["update_rows"][0]["before"]));
  EXPECT_EQ(values(entries[1].rows[0].after), asText(expected["update_rows"][0]["after"]));
  EXPECT_EQ(values(entries[2].rows[0].before), asText(expected["delete_rows"][0]["before"]));
  // FULL metadata: names and ENUM/SET members come from the binlog.
  const auto& after = entries[0].rows[0].after;
  EXPECT_EQ(after[0].name(), "f1");
  EXPECT_EQ(after[2].mysqlType().rfind("enum('var1'", 0), 0u) << after[2].mysqlType();
  EXPECT_EQ(after[2].text.sqlType, kSqlInteger);
  EXPECT_EQ(after[3].text.sqlType, kSqlBit);
}

TEST(FixtureRows, Mysql80MinimalMetadataCharsetAndUnsigned) {
  const json expected = expectedOf("mysql-8.0/minimal_row_metadata.000001")["first_row_after"];
  const std::string data = testing::readFile(path("mysql-8.0/minimal_row_metadata.000001"));
  const auto entries = rowEntries(data, "m");
  ASSERT_EQ(entries.size(), 1u);
  const auto& after = entries[0].rows[0].after;
  const auto col4 = std::find_if(after.begin(), after.end(), [](const ChangeColumn& c) { return c.index == 4; });
  ASSERT_NE(col4, after.end());
  EXPECT_EQ(col4->text.value, std::to_string(expected["@4_value"].get<long long>()));
  EXPECT_EQ(col4->text.sqlType, kSqlBigint) << "INT UNSIGNED above 2^31 is promoted as Canal does";
  // The collation of column 2 comes from COLUMN_CHARSET.
  binlog::EventStream stream(data, "m");
  binlog::RawEvent e;
  bool seen = false;
  while (*stream.next(e)) {
    if (e.header.type != binlog::kTableMapEvent) continue;
    auto t = binlog::decodeTableMap(e.body, stream.format(), "m");
    ASSERT_TRUE(t.status().isOk());
    EXPECT_EQ(t->columns[2].collation, expected["@2_collation_id"].get<std::uint32_t>());
    seen = true;
  }
  EXPECT_TRUE(seen);
}

TEST(FixtureRows, MariaDb105NamesPrimaryKeyAndCollations) {
  const json expected = expectedOf("mariadb-10.5/mariadb-bin.000001")["every_rows_event_after_image_columns"];
  const std::string data = testing::readFile(path("mariadb-10.5/mariadb-bin.000001"));
  binlog::EventStream stream(data, "m");
  binlog::RawEvent e;
  int tables = 0;
  while (*stream.next(e)) {
    if (e.header.type != binlog::kTableMapEvent) continue;
    auto t = binlog::decodeTableMap(e.body, stream.format(), "m");
    ASSERT_TRUE(t.status().isOk()) << t.status().toString();
    EXPECT_EQ(t->database, expected["schema"]);
    EXPECT_EQ(t->table, expected["table"]);
    ASSERT_EQ(t->columns.size(), expected["names"].size());
    for (std::size_t i = 0; i < t->columns.size(); ++i) {
      EXPECT_EQ(t->columns[i].name, expected["names"][i]);
      const auto& collation = expected["collation_ids"][i];
      if (collation.is_null()) {
        EXPECT_FALSE(t->columns[i].collation) << i;
      } else {
        EXPECT_EQ(t->columns[i].collation, collation.get<std::uint32_t>()) << i;
      }
      const bool pk = std::find(expected["primary_key"].begin(), expected["primary_key"].end(), expected["names"][i]) !=
                      expected["primary_key"].end();
      EXPECT_EQ(t->columns[i].isPrimaryKey, pk) << i;
    }
    ++tables;
  }
  EXPECT_EQ(tables, 2);
  const auto entries = rowEntries(data, "mariadb-bin.000001");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].rows[0].after[0].name(), "id");
  EXPECT_TRUE(entries[0].rows[0].after[0].isKey());
}

// zalora fixtures: values by column name (names from the live schema, in table order).
TEST(FixtureRows, ZaloraMysql56AndMariaDb100) {
  const std::map<std::string, std::vector<std::string>> columns = {
      {"buildings", {"building_no", "building_name", "address"}},
      {"rooms", {"room_no", "room_name", "building_no"}},
      {"departments", {"dept_no", "dept_name"}},
      {"employees", {"(unknown_0)", "(unknown_1)", "(unknown_2)", "(unknown_3)"}}};
  for (const std::string file : {"mysql-5.6/zalora-mysql-bin.01", "mysql-5.6/zalora-mysql-bin.02",
                                 "mariadb-10.0/zalora-mysql-bin.07"}) {
    SCOPED_TRACE(file);
    const json expected = expectedOf(file)["entries"];
    std::vector<json> wanted;
    for (const auto& e : expected) {
      if (e["type"] != "query") wanted.push_back(e);
    }
    const auto entries = rowEntries(testing::readFile(path(file)), file);
    std::size_t k = 0;
    for (const auto& entry : entries) {
      for (const auto& row : entry.rows) {
        ASSERT_LT(k, wanted.size());
        const json& want = wanted[k++];
        EXPECT_EQ(opName(entry.type), want["type"].get<std::string>());
        EXPECT_EQ(*entry.table, want["table"].get<std::string>());
        for (const char* image : {"before", "after"}) {
          if (!want.contains(image) || want[image].is_null()) continue;
          const auto& cols = columns.at(*entry.table);
          const auto& got = std::string(image) == "before" ? row.before : row.after;
          ASSERT_EQ(got.size(), want[image].size());
          for (const auto& c : got) {
            const json& v = want[image][cols.at(c.index)];
            EXPECT_EQ(c.text.value, v.is_string() ? v.get<std::string>() : v.dump()) << cols.at(c.index);
          }
        }
      }
    }
    EXPECT_EQ(k, wanted.size());
  }
}

// JSON columns of MySQL 8: binary JSON rendered as MySQL prints it, and the PARTIAL_UPDATE_ROWS
// event (MINIMAL before image, so no document to apply the diff to) rendered as the diff.
TEST(FixtureRows, Mysql80JsonAndPartialUpdate) {
  const auto entries = rowEntries(testing::readFile(path("mysql-8.0/json.binlog.000001")), "json.binlog.000001");
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries[0].rows[0].after[1].text.value, R"({"age": 24, "data": "xxxxxxxxxx", "name": "Joe"})");
  EXPECT_EQ(entries[0].rows[0].after[1].text.sqlType, kSqlVarchar);
  const auto& partial = entries.back();
  ASSERT_EQ(partial.type, ChangeType::kUpdate);
  ASSERT_EQ(partial.rows.size(), 6u);
  const auto& doc = partial.rows[0].after[0];
  EXPECT_EQ(doc.index, 1u);
  EXPECT_TRUE(doc.text.jsonDiffOnly);
  EXPECT_EQ(doc.text.value, "JSON_REPLACE(`@2`, '$.age', 26)");
  // The full UPDATE before it: every document rewritten.
  const auto& full = entries[entries.size() - 2];
  EXPECT_EQ(full.rows[0].after[1].text.value, R"({"age": 25, "data": "xxxxxxxxxx", "name": "Joe"})");
}

TEST(FixtureRows, Mysql80TransactionPayloadRows) {
  const auto entries = rowEntries(testing::readFile(path("mysql-8.0/apecloud-mysql-bin.000057")), "m");
  ASSERT_EQ(entries.size(), 3u);
  const auto& row = entries[1].rows[0].after;
  EXPECT_EQ(row[0].text.value, "55555");
  EXPECT_EQ(row[2].text.value, "2022-11-20");
  EXPECT_EQ(row[5].text.value, "2022-11-20 13:40:30");
  EXPECT_EQ(row[9].text.value, R"({"c": 1})");
  const auto compressed = rowEntries(testing::readFile(path("mysql-8.0/transaction_compression.000001")), "m");
  ASSERT_EQ(compressed.size(), 1u);
  EXPECT_EQ(compressed[0].rows.size(), 1u);
}

TEST(FixtureRows, EveryRowsEventOfEveryFixtureConverts) {
  std::size_t rows = 0;
  for (const auto& f : testing::binlogFixtures()) {
    if (f.relative.find("corrupt-relay-bin") != std::string::npos ||
        f.relative.find("binlog_truncated_event") != std::string::npos ||
        f.relative.find("mariadb-bin.000003") != std::string::npos) {
      continue;  // known-bad bytes, and the MariaDB hires temporals (GeneratedRun covers them)
    }
    SCOPED_TRACE(f.relative);
    const std::string data = testing::readFile(f.path);
    BinlogChangeReader reader(data, f.relative, RenderOptions{});
    ChangeEntry entry;
    for (;;) {
      auto more = reader.next(entry);
      ASSERT_TRUE(more.status().isOk()) << more.status().toString();
      if (!*more) break;
    }
    rows += reader.stats().rows;
  }
  EXPECT_GT(rows, 400u);
}

}  // namespace
}  // namespace canal::convert

namespace canal::convert {
namespace {

Status drain(const std::string& data, const std::string& name) {
  binlog::EventStreamOptions noChecksum;
  noChecksum.verifyChecksum = false;
  BinlogChangeReader reader(data, name, RenderOptions{}, noChecksum);
  ChangeEntry entry;
  for (;;) {
    auto more = reader.next(entry);
    if (!more) return more.status();
    if (!*more) return Status::ok();
  }
}

// Truncated and bit-flipped copies (checksums not verified, so the decoders see the damage) end
// in a Status, never a crash, a hang or a sanitizer report.
TEST(FixtureRows, DamagedCopiesGiveCorruptionNotCrashes) {
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int damaged = 0;
  for (const auto& f : testing::binlogFixtures()) {
    const std::string data = testing::readFile(f.path);
    if (data.size() > 200000) continue;
    SCOPED_TRACE(f.relative);
    for (std::size_t cut = 5; cut < data.size(); cut += 1 + data.size() / 40) {
      const Status s = drain(data.substr(0, cut), f.relative);
      EXPECT_TRUE(s.isOk() || s.isCorruption() || s.code() == StatusCode::kNotSupported) << s.toString();
    }
    for (int i = 0; i < 40; ++i) {
      std::string copy = data;
      copy[4 + next() % (copy.size() - 4)] ^= static_cast<char>(1 + next() % 255);
      const Status s = drain(copy, f.relative);
      EXPECT_TRUE(s.isOk() || s.isCorruption() || s.code() == StatusCode::kNotSupported) << s.toString();
      damaged += !s.isOk();
    }
  }
  EXPECT_GT(damaged, 100);
}

// A rows event whose image lists no columns would otherwise yield endless empty rows.
TEST(FixtureRows, RowsWithoutColumnsAreCorruption) {
  std::string data = testing::readFile(path("mysql-5.1/ver_5_1_23.001"));
  binlog::EventStream stream(data, "v");
  binlog::RawEvent e;
  std::size_t bitmap = 0;
  while (*stream.next(e)) {
    if (e.header.type == binlog::kWriteRowsEventV1) {
      bitmap = e.offset + 19 + 8 + 1;  // header, table id + flags, column count
      break;
    }
  }
  ASSERT_NE(bitmap, 0u);
  data[bitmap] = 0;
  const Status s = drain(data, "v");
  ASSERT_TRUE(s.isCorruption()) << s.toString();
  EXPECT_NE(s.message().find("no columns"), std::string::npos) << s.toString();
}

}  // namespace
}  // namespace canal::convert
