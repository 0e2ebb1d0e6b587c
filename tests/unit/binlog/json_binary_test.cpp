#include "server/binlog/json_binary.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace canal::binlog {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) out.push_back(static_cast<char>(v));
  return out;
}

// {"a": 1, "b": [true, "x"]} as MySQL stores it (small object holding a small array).
const std::string kDoc = bytes({0x00, 2, 0, 32, 0,           // type, count, size
                                18, 0, 1, 0, 19, 0, 1, 0,    // key entries
                                0x05, 1, 0, 0x02, 20, 0,     // value entries: int16 1 inline, array at 20
                                'a', 'b',                    // keys
                                2, 0, 12, 0,                 // array: count, size
                                0x04, 1, 0, 0x0c, 10, 0,     // true inline, string at 10
                                1, 'x'});

std::string text(const std::string& binary) {
  std::string out;
  const Status s = appendJsonText(out, binary, "test");
  EXPECT_TRUE(s.isOk()) << s.toString();
  return out;
}

std::string diff(int op, const std::string& path, const std::string& value = {}) {
  std::string d;
  d.push_back(static_cast<char>(op));
  d.push_back(static_cast<char>(path.size()));
  d += path;
  if (op != 2) {
    d.push_back(static_cast<char>(value.size()));
    d += value;
  }
  return d;
}

TEST(JsonBinary, ObjectsArraysAndScalarsInMysqlLayout) {
  EXPECT_EQ(text(kDoc), R"({"a": 1, "b": [true, "x"]})");
  EXPECT_EQ(text(bytes({0x04, 0})), "null");
  EXPECT_EQ(text(bytes({0x05, 0xff, 0xff})), "-1");
  EXPECT_EQ(text(bytes({0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})), "18446744073709551615");
  EXPECT_EQ(text(bytes({0x02, 0, 0, 4, 0})), "[]");
  EXPECT_EQ(text(""), "\"\"");
}

TEST(JsonBinary, DoublesAsJavaAndStringsEscapedAsCanal) {
  double d = 1e20;
  std::string binary = bytes({0x0b});
  binary.append(reinterpret_cast<const char*>(&d), 8);
  EXPECT_EQ(text(binary), "1.0E20");
  EXPECT_EQ(text(bytes({0x0c, 6, 'a', '"', '\\', '\n', 0x01, 0x7f})), R"("a\"\\\n\u0001\u007f")");
  EXPECT_EQ(text(bytes({0x0c, 2, 0xc2, 0xa0})), R"("\u00a0")");
}

TEST(JsonBinary, OpaqueDecimalAndTemporals) {
  // DECIMAL(4,2) 12.34
  EXPECT_EQ(text(bytes({0x0f, 246, 4, 4, 2, 0x8c, 0x22})), "12.34");
  const std::int64_t ymd = ((2024LL * 13 + 1) << 5) | 2;
  const std::int64_t hms = (3 << 12) | (4 << 6) | 5;
  const std::int64_t packed = (((ymd << 17) | hms) << 24) + 6;
  std::string datetime = bytes({0x0f, 12, 8});
  datetime.append(reinterpret_cast<const char*>(&packed), 8);
  EXPECT_EQ(text(datetime), R"("2024-01-02 03:04:05.000006")");
  std::string date = bytes({0x0f, 10, 8});
  const std::int64_t datePacked = (ymd << 17) << 24;
  date.append(reinterpret_cast<const char*>(&datePacked), 8);
  EXPECT_EQ(text(date), R"("2024-01-02")");
  std::string time = bytes({0x0f, 11, 8});
  const std::int64_t timePacked = -((hms << 24) + 500000);
  time.append(reinterpret_cast<const char*>(&timePacked), 8);
  EXPECT_EQ(text(time), R"("-03:04:05.500000")");
  EXPECT_EQ(text(bytes({0x0f, 15, 3, 'a', 'b', 'c'})), R"("base64:type15:YWJj")");
}

TEST(JsonBinary, PartialUpdateDiffsApplyToTheBeforeImage) {
  const std::string diffs = diff(0, "$.a", bytes({0x05, 5, 0})) + diff(1, "$.c", bytes({0x0c, 1, 'y'})) +
                            diff(1, "$.aa", bytes({0x04, 2})) + diff(2, "$.b[0]") +
                            diff(1, "$.b[5]", bytes({0x04, 0}));
  std::string out;
  const Status s = appendJsonAfterDiff(out, kDoc, diffs, "test");
  ASSERT_TRUE(s.isOk()) << s.toString();
  // Keys stay in MySQL's order (length, then bytes): "c" before "aa".
  EXPECT_EQ(out, R"({"a": 5, "b": ["x", null], "c": "y", "aa": false})");

  out.clear();
  ASSERT_TRUE(appendJsonDiffExpression(out, "doc", diffs, "test").isOk());
  EXPECT_EQ(out.rfind("JSON_ARRAY_INSERT(JSON_REMOVE(JSON_INSERT(JSON_INSERT(JSON_REPLACE(`doc`, '$.a', 5)", 0), 0u) << out;
}

TEST(JsonBinary, DiffsThatDoNotFitTheDocumentAreCorruption) {
  std::string out;
  EXPECT_TRUE(appendJsonAfterDiff(out, kDoc, diff(0, "$.zz", bytes({0x04, 0})), "f:1").isCorruption());
  EXPECT_TRUE(appendJsonAfterDiff(out, kDoc, diff(2, "$.b[7]"), "f:1").isCorruption());
  EXPECT_TRUE(appendJsonAfterDiff(out, kDoc, diff(0, "a.b", bytes({0x04, 0})), "f:1").isCorruption());
  EXPECT_TRUE(appendJsonAfterDiff(out, kDoc, bytes({9, 1, '$'}), "f:1").isCorruption());
  EXPECT_TRUE(appendJsonAfterDiff(out, kDoc, bytes({0, 3, '$'}), "f:1").isCorruption());
}

TEST(JsonBinary, TruncatedAndMalformedDocumentsAreCorruptionNotCrashes) {
  for (std::size_t n = 1; n < kDoc.size(); ++n) {
    std::string out;
    EXPECT_TRUE(appendJsonText(out, kDoc.substr(0, n), "f:9").isCorruption()) << n;
  }
  std::string out;
  const Status bad = appendJsonText(out, bytes({0x0e}), "f:9");
  EXPECT_TRUE(bad.isCorruption());
  EXPECT_EQ(bad.where(), "f:9");
  // A deeply nested document ends with an error, not a stack overflow.
  std::string data = bytes({0, 0, 4, 0});  // []
  for (int i = 0; i < 1000; ++i) {
    const std::size_t size = 7 + data.size();
    data = bytes({1, 0, static_cast<int>(size & 0xff), static_cast<int>(size >> 8), 0x02, 7, 0}) + data;
  }
  const Status deep = appendJsonText(out, "\x02" + data, "f:9");
  EXPECT_TRUE(deep.isCorruption());
  EXPECT_NE(deep.message().find("nesting"), std::string::npos) << deep.toString();
  out.clear();
  EXPECT_TRUE(appendJsonText(out, "\x02" + data.substr(data.size() - 7 * 3 - 4), "f:9").isOk());
  EXPECT_EQ(out, "[[[[]]]]");
}

}  // namespace
}  // namespace canal::binlog
