#include "server/convert/value_text.h"

#include <gtest/gtest.h>

#include <climits>
#include <deque>
#include <string>

#include "server/binlog/column_type.h"
#include "server/common/java_number.h"
#include "server/convert/change.h"
#include "server/convert/flat_message.h"
#include "server/convert/selected_row.h"

namespace canal::convert {
namespace {

using namespace std::string_literals;

using binlog::ColumnDef;

// DECIMAL(p,s) binary form of a plain decimal string, as MySQL writes it.
std::string decimalBytes(std::string text, int precision, int scale) {
  static constexpr int kBytes[] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
  const bool negative = text[0] == '-';
  if (negative) text.erase(0, 1);
  const auto dot = text.find('.');
  std::string intDigits = text.substr(0, dot);
  std::string fracDigits = dot == std::string::npos ? "" : text.substr(dot + 1);
  const int intg = precision - scale;
  intDigits.insert(0, static_cast<std::size_t>(intg) - intDigits.size(), '0');
  fracDigits.append(static_cast<std::size_t>(scale) - fracDigits.size(), '0');
  std::string out;
  auto put = [&](const std::string& digits, int nbytes) {
    std::uint32_t v = digits.empty() ? 0 : static_cast<std::uint32_t>(std::stoul(digits));
    for (int i = nbytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  const int lead = intg % 9;
  put(intDigits.substr(0, lead), kBytes[lead]);
  for (int i = lead; i < intg; i += 9) put(intDigits.substr(i, 9), 4);
  for (int i = 0; i + 9 <= scale; i += 9) put(fracDigits.substr(i, 9), 4);
  const int tail = scale % 9;
  put(fracDigits.substr(scale - tail), kBytes[tail]);
  if (negative) {
    for (auto& c : out) c = static_cast<char>(~c);
  }
  out[0] = static_cast<char>(out[0] ^ 0x80);
  return out;
}

std::string renderDecimal(const std::string& value, int p, int s, binlog::DecimalStyle style) {
  std::string out;
  EXPECT_TRUE(binlog::appendDecimal(out, decimalBytes(value, p, s), p, s, style));
  return out;
}

TEST(ValueText, DecimalExactAndCanalQuirk) {
  using binlog::DecimalStyle;
  EXPECT_EQ(renderDecimal("1.50", 10, 2, DecimalStyle::kCanal), "1.50");
  EXPECT_EQ(renderDecimal("1.05", 10, 2, DecimalStyle::kCanal), "1.05");
  EXPECT_EQ(renderDecimal("1.00", 10, 2, DecimalStyle::kCanal), "1.0");
  EXPECT_EQ(renderDecimal("0.00", 10, 2, DecimalStyle::kCanal), "0.0");
  EXPECT_EQ(renderDecimal("-0.50", 10, 2, DecimalStyle::kCanal), "-0.50");
  EXPECT_EQ(renderDecimal("1.5000000000", 20, 10, DecimalStyle::kCanal), "1.500000000");
  EXPECT_EQ(renderDecimal("123", 10, 0, DecimalStyle::kCanal), "123");
  EXPECT_EQ(renderDecimal("1.00", 10, 2, DecimalStyle::kExact), "1.00");
  EXPECT_EQ(renderDecimal("1.5000000000", 20, 10, DecimalStyle::kExact), "1.5000000000");
  EXPECT_EQ(renderDecimal("-12345678901234567890.123456789012345678901234567890", 65, 30, DecimalStyle::kExact),
            "-12345678901234567890.123456789012345678901234567890");
  std::string bad = decimalBytes("1.00", 10, 2);
  bad[4] = '\x7f';  // fraction group 127 > 99
  std::string out;
  EXPECT_FALSE(binlog::appendDecimal(out, bad, 10, 2, binlog::DecimalStyle::kExact));
  const std::string digits65(65, '9');
  EXPECT_EQ(renderDecimal(digits65, 65, 0, DecimalStyle::kExact), digits65);
  EXPECT_EQ(renderDecimal("-0.000000000000000000000000000001", 31, 30, DecimalStyle::kExact),
            "-0.000000000000000000000000000001");
  // Beyond MySQL's bounds (a USER_VAR event carries its own precision and scale): refused.
  const std::string wide(120, '\x80');
  EXPECT_FALSE(binlog::appendDecimal(out, wide, 200, 0, binlog::DecimalStyle::kExact));
  EXPECT_FALSE(binlog::appendDecimal(out, wide, 10, 20, binlog::DecimalStyle::kExact));
}

TEST(ValueText, JavaFloatAndDoubleLayout) {
  auto d = [](double v) { std::string s; appendJavaDouble(s, v); return s; };
  auto f = [](float v) { std::string s; appendJavaFloat(s, v); return s; };
  EXPECT_EQ(d(0.1), "0.1");
  EXPECT_EQ(d(1.5), "1.5");
  EXPECT_EQ(d(100.0), "100.0");
  EXPECT_EQ(d(1e20), "1.0E20");
  EXPECT_EQ(d(1e7), "1.0E7");
  EXPECT_EQ(d(9999999.0), "9999999.0");
  EXPECT_EQ(d(0.001), "0.001");
  EXPECT_EQ(d(1.0e-4), "1.0E-4");
  EXPECT_EQ(d(1.25e-5), "1.25E-5");
  EXPECT_EQ(d(123456.789), "123456.789");
  EXPECT_EQ(d(-0.0), "-0.0");
  EXPECT_EQ(d(-2.5e-10), "-2.5E-10");
  EXPECT_EQ(f(1.5f), "1.5");
  EXPECT_EQ(f(0.1f), "0.1");
  EXPECT_EQ(f(1.0e10f), "1.0E10");
  EXPECT_EQ(f(3.4028235e38f), "3.4028235E38");
  EXPECT_EQ(d(1.7976931348623157e308), "1.7976931348623157E308");
  EXPECT_EQ(d(-1234567.0), "-1234567.0");
  EXPECT_EQ(d(12345678.0), "1.2345678E7");
}

// Bytes shown as Canal shows a BLOB: each byte as the character of that code, in UTF-8. Runs of
// every length around the converter's 8-byte ASCII words and its 256-byte blocks.
TEST(ValueText, BytesAsLatin1InUtf8) {
  std::string bytes;
  for (int i = 0; i < 700; ++i) bytes.push_back(static_cast<char>(i % 7 == 6 ? 0x80 + i % 128 : 'a' + i % 26));
  for (std::size_t from = 0; from < 20; ++from) {
    for (std::size_t size : {0, 1, 7, 8, 9, 15, 16, 17, 255, 256, 257, 513, 680}) {
      const std::string_view in = std::string_view(bytes).substr(from, size);
      std::string expected;
      for (const char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
          expected.push_back(ch);
        } else {
          expected.push_back(static_cast<char>(0xc0 | (c >> 6)));
          expected.push_back(static_cast<char>(0x80 | (c & 0x3f)));
        }
      }
      std::string out = "prefix";
      appendLatin1AsUtf8(out, in);
      ASSERT_EQ(out, "prefix" + expected) << "from " << from << " size " << size;
    }
  }
}

// One column of `type` rendered from raw cell bytes.
ColumnText render(ColumnDef c, const std::string& data, bool null = false, RenderOptions options = {}) {
  binlog::TableMapEvent t;
  t.database = "db";
  t.table = "t";
  if (c.realType == 0) c.realType = c.type;
  t.columns.push_back(c);
  binlog::Cell cell;
  cell.present = true;
  cell.null = null;
  cell.data = data;
  ColumnText out;
  const Status s = renderCell(t, 0, cell, nullptr, options, out, "f:1");
  EXPECT_TRUE(s.isOk()) << s.toString();
  return out;
}

ColumnDef column(std::uint8_t type, bool isUnsigned = false) {
  ColumnDef c;
  c.type = type;
  c.isUnsigned = isUnsigned;
  return c;
}

// A snapshot's integer (SELECT's text) renders as the binlog's bytes of the same value do: value
// and sqlType, UNSIGNED promotion and ZEROFILL's leading zeros included.
TEST(ValueText, SelectedIntegersRenderAsTheirBinlogBytes) {
  struct Case {
    std::uint8_t type;
    bool isUnsigned;
    int width;
    std::string text;
    std::string rendered;
  };
  const Case cases[] = {
      {binlog::kTypeTiny, false, 1, "0", "0"},          {binlog::kTypeTiny, false, 1, "-128", "-128"},
      {binlog::kTypeTiny, false, 1, "127", "127"},      {binlog::kTypeTiny, true, 1, "200", "200"},
      {binlog::kTypeTiny, true, 1, "007", "7"},         {binlog::kTypeLong, false, 4, "-5", "-5"},
      {binlog::kTypeLong, true, 4, "4294967295", "4294967295"},
      {binlog::kTypeLonglong, false, 8, "-9223372036854775808", "-9223372036854775808"},
      {binlog::kTypeLonglong, true, 8, "18446744073709551615", "18446744073709551615"},
      {binlog::kTypeLonglong, true, 8, "00000000000000000042", "42"},
  };
  for (const Case& k : cases) {
    ColumnDef c = column(k.type, k.isUnsigned);
    c.realType = k.type;
    binlog::TableMapEvent t;
    t.database = "db";
    t.table = "t";
    t.columns.push_back(c);
    ColumnText selected;
    ASSERT_TRUE(renderSelected(t, 0, k.text, RenderOptions{}, selected).isOk()) << k.text;
    EXPECT_EQ(selected.value, k.rendered) << k.text;
    std::string bytes;
    std::uint64_t bits = 0;
    if (k.rendered[0] == '-') bits = static_cast<std::uint64_t>(std::stoll(k.rendered));
    else bits = std::stoull(k.rendered);
    for (int i = 0; i < k.width; ++i) bytes.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
    const ColumnText binlog = render(c, bytes);
    EXPECT_EQ(selected.value, binlog.value) << k.text;
    EXPECT_EQ(selected.sqlType, binlog.sqlType) << k.text;
    EXPECT_FALSE(selected.isNull);
  }
}

// Corrupt temporal bytes at the ends of their ranges decode to some fields, without overflow
// (the suite runs under UBSan too).
TEST(ValueText, ExtremeTemporalBytesDecodeWithoutOverflow) {
  const binlog::Temporal low = binlog::decodeDatetime2(std::string(5, '\0'), 0);
  EXPECT_TRUE(low.negative);
  EXPECT_FALSE(binlog::decodeDatetime2(std::string(5, '\xff'), 0).negative);
  const binlog::Temporal ok = binlog::decodeDatetime2(std::string("\x99\xb2\x84\x30\xc5", 5), 0);
  EXPECT_EQ(ok.year, 2024);
  EXPECT_EQ(ok.month, 2);
  EXPECT_EQ(ok.day, 2);
  EXPECT_EQ(ok.hour, 3);
  EXPECT_EQ(ok.minute, 3);
  EXPECT_EQ(ok.second, 5);
  EXPECT_TRUE(binlog::unpackDatetimePacked(INT64_MIN).negative);
  EXPECT_TRUE(binlog::unpackTimePacked(INT64_MIN).negative);
  EXPECT_EQ(binlog::unpackTimePacked(INT64_MIN).micros, 0u);
}

TEST(ValueText, UnsignedPromotionAsCanal) {
  EXPECT_EQ(render(column(binlog::kTypeTiny, true), "\xc8").value, "200");
  EXPECT_EQ(render(column(binlog::kTypeTiny, true), "\xc8").sqlType, kSqlSmallint);
  EXPECT_EQ(render(column(binlog::kTypeTiny, true), "\x7f").sqlType, kSqlTinyint);
  EXPECT_EQ(render(column(binlog::kTypeTiny), "\xff").value, "-1");
  EXPECT_EQ(render(column(binlog::kTypeShort, true), std::string("\x00\x80", 2)).sqlType, kSqlInteger);
  EXPECT_EQ(render(column(binlog::kTypeInt24, true), "\xff\xff\xff").sqlType, kSqlInteger);
  EXPECT_EQ(render(column(binlog::kTypeLong, true), "\xff\xff\xff\xff").value, "4294967295");
  EXPECT_EQ(render(column(binlog::kTypeLong, true), "\xff\xff\xff\xff").sqlType, kSqlBigint);
  const auto big = render(column(binlog::kTypeLonglong, true), "\xff\xff\xff\xff\xff\xff\xff\xff");
  EXPECT_EQ(big.value, "18446744073709551615");
  EXPECT_EQ(big.sqlType, kSqlDecimal);
  EXPECT_EQ(render(column(binlog::kTypeLonglong, true), "", true).sqlType, kSqlBigint) << "NULL: no promotion";
}

TEST(ValueText, TemporalsZeroDatesAndTimeZones) {
  ColumnDef ts2 = column(binlog::kTypeTimestamp2);
  ts2.fsp = 3;
  // 2023-11-14 22:13:20 UTC = 1700000000, .120
  const std::string bytes = std::string("\x65\x53\xf1\x00", 4) + std::string("\x04\xb0", 2);
  RenderOptions utc;
  utc.timeZone = TimeZone::utc();
  EXPECT_EQ(render(ts2, bytes, false, utc).value, "2023-11-14 22:13:20.120");
  RenderOptions shanghai;
  shanghai.timeZone = *TimeZone::parse("+08:00");
  EXPECT_EQ(render(ts2, bytes, false, shanghai).value, "2023-11-15 06:13:20.120");
  EXPECT_EQ(render(ts2, std::string(6, '\0'), false, shanghai).value, "0000-00-00 00:00:00.000");
  ColumnDef year = column(binlog::kTypeYear);
  EXPECT_EQ(render(year, std::string(1, '\0')).value, "0000");
  EXPECT_EQ(render(year, "\x7c").value, "2024");
  EXPECT_EQ(render(year, "\x7c").sqlType, kSqlVarchar);
  EXPECT_FALSE(TimeZone::parse("Mars/Olympus").status().isOk());
}

TEST(ValueText, StringsBinaryEnumSetAsCanal) {
  ColumnDef text = column(binlog::kTypeBlob);
  text.lengthBytes = 2;
  text.collation = 45;
  EXPECT_EQ(render(text, "h\xc3\xa9").value, "h\xc3\xa9");
  EXPECT_EQ(render(text, "h\xc3\xa9").sqlType, kSqlClob);
  ColumnDef blob = text;
  blob.collation = binlog::kBinaryCollation;
  EXPECT_EQ(render(blob, "\xff").value, "\xc3\xbf") << "ISO-8859-1 characters";
  EXPECT_EQ(render(blob, "\xff").sqlType, kSqlBlob);
  ColumnDef latin1 = column(binlog::kTypeVarchar);
  latin1.collation = 8;
  RenderOptions charsets;
  charsets.convertColumnCharset = true;
  EXPECT_EQ(render(latin1, "\x80").value, "\x80") << "Canal: instance charset for every column";
  EXPECT_EQ(render(latin1, "\x80", false, charsets).value, "\xe2\x82\xac") << "cp1252 euro sign";
  ColumnDef set = column(binlog::kTypeString);
  set.realType = binlog::kTypeSet;
  EXPECT_EQ(render(set, "\x05").value, "5");
  EXPECT_EQ(render(set, "\x05").sqlType, kSqlBit);
  EXPECT_EQ(render(set, "", true).sqlType, kSqlBlob);
  ColumnDef en = column(binlog::kTypeString);
  en.realType = binlog::kTypeEnum;
  EXPECT_EQ(render(en, "\x02").value, "2");
  EXPECT_EQ(render(en, "\x02").sqlType, kSqlInteger);
  EXPECT_EQ(render(column(binlog::kTypeJson), "", true).sqlType, kSqlOther);
}

TEST(ValueText, AMariaDbJsonColumnIsABlobUnlessColumnsRenderByTheirCharset) {
  ColumnDef json = column(binlog::kTypeBlob);
  json.realType = binlog::kTypeBlob;
  json.lengthBytes = 4;
  json.collation = 46;  // utf8mb4_bin
  json.declared = binlog::DeclaredType::kJson;
  EXPECT_EQ(render(json, "\"\xc3\xa9\"").value, "\"\xc3\x83\xc2\xa9\"") << "ISO-8859-1 characters, as Canal";
  EXPECT_EQ(render(json, "\"\xc3\xa9\"").sqlType, kSqlBlob);
  EXPECT_EQ(render(json, "", true).sqlType, kSqlBlob);
  EXPECT_EQ(mysqlTypeFromBinlog(json), "json");
  RenderOptions charsets;
  charsets.convertColumnCharset = true;
  EXPECT_EQ(render(json, "\"\xc3\xa9\"", false, charsets).value, "\"\xc3\xa9\"");
  EXPECT_EQ(render(json, "\"\xc3\xa9\"", false, charsets).sqlType, kSqlClob);
}

TEST(ValueText, VectorAndGeometry) {
  ColumnDef vec = column(binlog::kTypeVector);
  vec.lengthBytes = 4;
  const float values[] = {1.0f, 2.5f};
  const auto vecText = render(vec, std::string(reinterpret_cast<const char*>(values), sizeof values));
  EXPECT_EQ(vecText.value, "[1.0,2.5]");
  EXPECT_EQ(vecText.sqlType, kSqlOther);
  ColumnDef geo = column(binlog::kTypeGeometry);
  geo.lengthBytes = 4;
  const auto g = render(geo, std::string("\xe6\x10\x00\x00\x01", 5));
  EXPECT_EQ(g.value, "\xc3\xa6\x10\x00\x00\x01"s);
  EXPECT_EQ(g.sqlType, kSqlBlob);
  binlog::TableMapEvent t;
  vec.realType = vec.type;
  t.columns.push_back(vec);
  binlog::Cell cell;
  cell.present = true;
  cell.data = "abc";  // not a whole number of floats
  ColumnText out;
  EXPECT_TRUE(renderCell(t, 0, cell, nullptr, RenderOptions{}, out, "f:1").isCorruption());
}

TEST(ValueText, QueryClassificationAsCanal) {
  auto q = [](const char* sql, const char* db = "d") { return classifyQuery(sql, db); };
  EXPECT_EQ(q("CREATE TABLE `x`.`t` (a int)")->type, ChangeType::kCreate);
  EXPECT_EQ(*q("CREATE TABLE `x`.`t` (a int)")->schema, "x");
  EXPECT_EQ(*q("create table if not exists t (a int)")->schema, "d");
  EXPECT_EQ(q("ALTER TABLE t ADD COLUMN c INT, ADD INDEX i(c)")->type, ChangeType::kAlter);
  EXPECT_EQ(q("ALTER TABLE t ADD INDEX i(c)")->type, ChangeType::kCindex);
  EXPECT_EQ(q("ALTER TABLE t DROP INDEX i")->type, ChangeType::kDindex);
  const auto rename = q("ALTER TABLE t RENAME TO u2");
  EXPECT_EQ(rename->type, ChangeType::kRename);
  EXPECT_EQ(*rename->table, "u2");
  EXPECT_EQ(*q("RENAME TABLE a TO b")->table, "b");
  EXPECT_EQ(*q("DROP TABLE IF EXISTS a, b /* generated by server */")->table, "a");
  EXPECT_EQ(q("TRUNCATE t")->type, ChangeType::kTruncate);
  EXPECT_EQ(q("CREATE UNIQUE INDEX i ON t (a)")->type, ChangeType::kCindex);
  EXPECT_EQ(q("DROP INDEX i ON t")->type, ChangeType::kDindex);
  const auto db = q("CREATE DATABASE fx");
  EXPECT_EQ(db->type, ChangeType::kQuery);
  EXPECT_EQ(*db->schema, "fx");
  EXPECT_FALSE(db->table);
  const auto ins = q("INSERT INTO t VALUES (1)");
  EXPECT_EQ(ins->type, ChangeType::kInsert);
  EXPECT_FALSE(ins->isDdl);
  EXPECT_EQ(q("XA COMMIT 'x'")->type, ChangeType::kXaCommit);
  EXPECT_FALSE(q("XA START 'x'"));
  EXPECT_FALSE(q("GRANT ALL ON *.* TO u"));
  EXPECT_FALSE(q("CREATE VIEW v AS SELECT 1"));
  EXPECT_FALSE(q("CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET @a = 1"));
  EXPECT_EQ(q("CALL_UNKNOWN_SYNTAX here")->type, ChangeType::kQuery);
  EXPECT_EQ(*q("/* hint */ DROP TABLE `we``ird`")->table, "we`ird");
}

ChangeColumn col(std::uint32_t index, const char* name, bool key, int sqlType, const char* type, const char* value,
                 bool updated = false) {
  static std::deque<ColumnInfo> infos;
  infos.push_back(ColumnInfo{name, type, key});
  ChangeColumn c;
  c.index = index;
  c.info = &infos.back();
  c.updated = updated;
  c.text.sqlType = sqlType;
  c.text.isNull = value == nullptr;
  if (value) c.text.value = value;
  return c;
}

// The FlatMessage of an UPDATE as Canal writes it (docs/entries.md), byte for byte.
TEST(FlatMessage, SpecExampleUpdate) {
  ChangeEntry e;
  e.schema = "test";
  e.table = "user";
  e.executeTime = 1700000000000;
  e.type = ChangeType::kUpdate;
  ChangeRow row;
  row.before = {col(0, "id", true, 4, "int(11)", "1"), col(1, "name", false, 12, "varchar(32)", "foo"),
                col(2, "balance", false, 3, "decimal(10,2)", "1.50"), col(3, "remark", false, 2005, "text", nullptr)};
  row.after = {col(0, "id", true, 4, "int(11)", "1"), col(1, "name", false, 12, "varchar(32)", "bar", true),
               col(2, "balance", false, 3, "decimal(10,2)", "1.50"), col(3, "remark", false, 2005, "text", nullptr)};
  e.rows.push_back(row);
  std::string out;
  appendFlatMessage(out, e, 1, 1700000000123);
  EXPECT_EQ(out,
            R"J({"data":[{"id":"1","name":"bar","balance":"1.50","remark":null}],"database":"test","es":1700000000000,)J"
            R"J("gtid":"","id":1,"isDdl":false,"mysqlType":{"id":"int(11)","name":"varchar(32)","balance":"decimal(10,2)","remark":"text"},)J"
            R"J("old":[{"name":"foo"}],"pkNames":["id"],"sql":"","sqlType":{"id":4,"name":12,"balance":3,"remark":2005},)J"
            R"J("table":"user","ts":1700000000123,"type":"UPDATE"})J");
}

TEST(FlatMessage, DdlAndInvalidUtf8) {
  ChangeEntry e;
  e.schema = "test";
  e.table = "user";
  e.type = ChangeType::kAlter;
  e.isDdl = true;
  e.sql = "ALTER TABLE user ADD c INT -- \xff\"";
  std::string out;
  appendFlatMessage(out, e, 3, 5);
  const std::string expected = std::string(R"({"data":null,"database":"test","es":0,"gtid":"","id":3,"isDdl":true,)") +
                               R"("mysqlType":null,"old":null,"pkNames":null,"sql":"ALTER TABLE user ADD c INT -- )" +
                               "\xef\xbf\xbd" + R"(\"","sqlType":null,"table":"user","ts":5,"type":"ALTER"})";
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace canal::convert
