// Every row value of the generated MariaDB 10.11 runs (crc32_full, none_minimal, compressed)
// against the expected.json written from SELECTs on the server, through the same decode and
// render path the server and canal-binlog use.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/convert/binlog_changes.h"
#include "tests/support/fixtures.h"

namespace canal::convert {
namespace {

using nlohmann::json;

struct ExpectedRow {
  std::string table;
  std::string op;
  std::vector<std::string> columns;
  json before;
  json after;
};

std::string runDir(const std::string& run) { return testing::fixtureDir() + "/mariadb-10.11-generated/" + run; }

// Bytes from Canal's ISO-8859-1 rendering (each char U+0000-U+00FF, as UTF-8).
std::string latin1Bytes(const std::string& utf8) {
  std::string out;
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      const auto next = static_cast<unsigned char>(utf8[++i]);
      out.push_back(static_cast<char>(((c & 0x1f) << 6) | (next & 0x3f)));
    }
  }
  return out;
}

std::string toHex(const std::string& bytes) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// Compares one rendered column with the expected value, per the fixture README's encoding.
::testing::AssertionResult sameValue(const json& schemaColumn, const ColumnText& got, const json& expected) {
  if (expected.is_null()) {
    return got.isNull ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << "expected NULL, got " << got.value;
  }
  if (got.isNull) return ::testing::AssertionFailure() << "expected " << expected.dump() << ", got NULL";
  const std::string type = schemaColumn.is_null() ? "" : schemaColumn["data_type"].get<std::string>();
  const std::string& v = got.value;
  auto fail = [&] { return ::testing::AssertionFailure() << type << ": expected " << expected.dump() << ", got '" << v << "'"; };
  if (type == "float") {
    return std::strtof(v.c_str(), nullptr) == static_cast<float>(expected.get<double>()) ? ::testing::AssertionSuccess() : fail();
  }
  if (type == "double") {
    return std::strtod(v.c_str(), nullptr) == expected.get<double>() ? ::testing::AssertionSuccess() : fail();
  }
  if (type == "year") {
    return std::stoll(v) == (expected.get<long long>() == 0 ? 0 : expected.get<long long>()) ? ::testing::AssertionSuccess() : fail();
  }
  if (type == "enum") {
    const auto& members = schemaColumn["members"];
    const std::size_t index = std::stoul(v);
    const std::string name = index == 0 ? "" : members.at(index - 1).get<std::string>();
    return name == expected.get<std::string>() ? ::testing::AssertionSuccess() : fail();
  }
  if (type == "set") {
    const auto& members = schemaColumn["members"];
    const unsigned long long mask = std::stoull(v);
    json names = json::array();
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (mask & (1ull << i)) names.push_back(members[i]);
    }
    return names == expected ? ::testing::AssertionSuccess() : fail();
  }
  if (expected.is_object()) {  // {"hex": ...}: binary strings, BLOBs, geometry
    std::string bytes = latin1Bytes(v);
    const std::string columnType = schemaColumn["column_type"].get<std::string>();
    if (columnType.rfind("binary(", 0) == 0) bytes.resize(std::stoul(columnType.substr(7)), '\0');
    return toHex(bytes) == expected["hex"].get<std::string>() ? ::testing::AssertionSuccess() : fail();
  }
  if (expected.is_number_integer() || expected.is_number_unsigned()) {
    return v == expected.dump() ? ::testing::AssertionSuccess() : fail();
  }
  return v == expected.get<std::string>() ? ::testing::AssertionSuccess() : fail();
}

class GeneratedRun : public ::testing::TestWithParam<std::string> {};

TEST_P(GeneratedRun, EveryValueMatchesTheServer) {
  const json expected = json::parse(testing::readFile(runDir(GetParam()) + "/expected.json"));
  std::map<std::string, std::map<int, ExpectedRow>> byFile;  // file -> binlog_row_seq -> row
  for (const auto& st : expected["statements"]) {
    if (!st.contains("row_changes") || st["binlog_file"].is_null()) continue;
    for (const auto& change : st["row_changes"]) {
      for (const auto& row : change["rows"]) {
        if (!row["binlog_row_seq"].is_number()) continue;  // t_time_hires: not decodable from the binlog
        ExpectedRow r{change["table"], change["op"], change["columns"].get<std::vector<std::string>>(),
                      row.value("before", json()), row.value("after", json())};
        byFile[st["binlog_file"]][row["binlog_row_seq"].get<int>()] = std::move(r);
      }
    }
  }
  const auto& schemas = expected["schemas_final"];
  RenderOptions options;
  options.decimal = binlog::DecimalStyle::kExact;
  options.timeZone = TimeZone::utc();
  options.convertColumnCharset = true;

  int valuesChecked = 0;
  for (const auto& [file, rows] : byFile) {
    SCOPED_TRACE(file);
    const std::string data = testing::readFile(runDir(GetParam()) + "/" + file);
    BinlogChangeReader reader(data, file, options);
    ChangeEntry entry;
    int seq = 0;
    Status stoppedBy;
    for (;;) {
      auto more = reader.next(entry);
      if (!more) {
        stoppedBy = more.status();
        break;
      }
      if (!*more) break;
      if (entry.rows.empty()) continue;
      const std::string table = *entry.schema + "." + *entry.table;
      const std::string op = entry.type == ChangeType::kInsert ? "insert" : entry.type == ChangeType::kUpdate ? "update" : "delete";
      for (const auto& row : entry.rows) {
        ++seq;
        SCOPED_TRACE("binlog_row_seq " + std::to_string(seq) + " " + table);
        const auto it = rows.find(seq);
        ASSERT_NE(it, rows.end()) << "a row the server did not write";
        const ExpectedRow& want = it->second;
        EXPECT_EQ(table, want.table);
        EXPECT_EQ(op, want.op);
        const json* schema = schemas.contains(want.table) ? &schemas[want.table] : nullptr;
        auto check = [&](const std::vector<ChangeColumn>& got, const json& image) {
          if (image.is_null()) {
            EXPECT_TRUE(got.empty());
            return;
          }
          EXPECT_EQ(got.size(), image.size()) << "columns in the image";
          for (const auto& [name, value] : image.items()) {
            const auto pos = std::find(want.columns.begin(), want.columns.end(), name);
            ASSERT_NE(pos, want.columns.end()) << name;
            const auto index = static_cast<std::uint32_t>(pos - want.columns.begin());
            const auto col = std::find_if(got.begin(), got.end(), [&](const ChangeColumn& c) { return c.index == index; });
            ASSERT_NE(col, got.end()) << "column " << name << " missing from the image";
            json schemaColumn;
            if (schema) {
              for (const auto& c : *schema) {
                if (c["name"] == name) schemaColumn = c;
              }
            }
            EXPECT_TRUE(sameValue(schemaColumn, col->text, value)) << "column " << name;
            if (!col->name().starts_with("@")) {
              EXPECT_EQ(col->name(), name);
            }
            ++valuesChecked;
          }
        };
        check(row.before, want.before);
        check(row.after, want.after);
      }
    }
    if (file == "mariadb-bin.000003") {
      // fx.t_time_hires: MariaDB 5.3 fractional temporals, whose size the binlog does not record.
      ASSERT_FALSE(stoppedBy.isOk()) << "hires temporal columns decoded as if the binlog described them";
      EXPECT_NE(stoppedBy.message().find("hires"), std::string::npos) << stoppedBy.toString();
      EXPECT_EQ(static_cast<std::size_t>(seq), rows.size()) << "every row before t_time_hires";
    } else {
      ASSERT_TRUE(stoppedBy.isOk()) << stoppedBy.toString();
      EXPECT_EQ(static_cast<std::size_t>(seq), rows.size());
    }
  }
  EXPECT_GT(valuesChecked, 900);
}

INSTANTIATE_TEST_SUITE_P(MariaDb1011, GeneratedRun, ::testing::Values("crc32_full", "none_minimal", "compressed"));

}  // namespace
}  // namespace canal::convert
