#include "server/convert/selected_row.h"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "server/binlog/column_type.h"
#include "server/binlog/column_value.h"

namespace canal::convert {
namespace {

using binlog::ColumnDef;

// "decimal(10,2)" -> {10, 2}; "bit(5)" -> {5, 0}; "datetime(3)" -> {3, 0}; no parentheses: {0, 0}.
std::pair<int, int> typeArguments(const std::string& columnType) {
  const auto open = columnType.find('(');
  if (open == std::string::npos) return {0, 0};
  int a = 0;
  int b = 0;
  const char* p = columnType.data() + open + 1;
  const char* end = columnType.data() + columnType.size();
  p = std::from_chars(p, end, a).ptr;
  if (p < end && *p == ',') std::from_chars(p + 1, end, b);
  return {a, b};
}

void putLe(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void putBe(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The binary DECIMAL(precision, scale) of a decimal text ("-12.50"); false when it is not one.
bool encodeDecimal(std::string_view text, int precision, int scale, std::string& out) {
  static constexpr int kBytes[] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  const auto dot = text.find('.');
  std::string intDigits(text.substr(0, dot));
  std::string fracDigits(dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1));
  for (const char c : intDigits + fracDigits) {
    if (c < '0' || c > '9') return false;
  }
  const int intg = precision - scale;
  while (intDigits.size() > 1 && intDigits[0] == '0') intDigits.erase(0, 1);
  if (intDigits == "0") intDigits.clear();
  if (static_cast<int>(intDigits.size()) > intg || static_cast<int>(fracDigits.size()) > scale || intg < 0) return false;
  intDigits.insert(0, static_cast<std::size_t>(intg) - intDigits.size(), '0');
  fracDigits.append(static_cast<std::size_t>(scale) - fracDigits.size(), '0');
  const std::size_t start = out.size();
  const auto put = [&](const std::string& digits, int nbytes) {
    std::uint32_t v = 0;
    for (const char c : digits) v = v * 10 + static_cast<std::uint32_t>(c - '0');
    putBe(out, v, nbytes);
  };
  const int lead = intg % 9;
  put(intDigits.substr(0, static_cast<std::size_t>(lead)), kBytes[lead]);
  for (int i = lead; i < intg; i += 9) put(intDigits.substr(static_cast<std::size_t>(i), 9), 4);
  for (int i = 0; i + 9 <= scale; i += 9) put(fracDigits.substr(static_cast<std::size_t>(i), 9), 4);
  const int tail = scale % 9;
  put(fracDigits.substr(static_cast<std::size_t>(scale - tail)), kBytes[tail]);
  if (out.size() == start) return false;
  if (negative) {
    for (std::size_t i = start; i < out.size(); ++i) out[i] = static_cast<char>(~out[i]);
  }
  out[start] = static_cast<char>(out[start] ^ 0x80);
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// TIMESTAMP2 bytes of "YYYY-MM-DD hh:mm:ss[.ffffff]" in UTC.
bool encodeTimestamp2(std::string_view text, int fsp, std::string& out) {
  int v[6] = {};
  const char* p = text.data();
  const char* end = p + text.size();
  for (int i = 0; i < 6; ++i) {
    const auto r = std::from_chars(p, end, v[i]);
    if (r.ec != std::errc()) return false;
    p = r.ptr;
    if (i < 5) {
      if (p >= end) return false;
      ++p;  // '-', ' ' or ':'
    }
  }
  std::uint32_t micros = 0;
  if (p < end && *p == '.') {
    int digits = 0;
    for (++p; p < end && digits < 6; ++p, ++digits) micros = micros * 10 + static_cast<std::uint32_t>(*p - '0');
    for (; digits < 6; ++digits) micros *= 10;
  }
  std::int64_t seconds = 0;
  if (v[0] != 0 || v[1] != 0 || v[2] != 0) {
    seconds = daysFromCivil(v[0], static_cast<unsigned>(v[1]), static_cast<unsigned>(v[2])) * 86400 + v[3] * 3600 +
              v[4] * 60 + v[5];
  }
  putBe(out, static_cast<std::uint64_t>(seconds), 4);
  switch ((fsp + 1) / 2) {
    case 1: putBe(out, micros / 10000, 1); break;
    case 2: putBe(out, micros / 100, 2); break;
    case 3: putBe(out, micros, 3); break;
    default: break;
  }
  return true;
}

// The bytes MariaDB's binlog carries for a UUID / INET6 / INET4 printed as `text`.
bool encodeTextForm(const ColumnDef& c, std::string_view text, std::string& out) {
  using binlog::DeclaredType;
  if (c.declared == DeclaredType::kUuid) {
    const auto digit = [](char ch) -> int {
      if (ch >= '0' && ch <= '9') return ch - '0';
      if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
      if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
      return -1;
    };
    int high = -1;
    for (const char ch : text) {
      if (ch == '-') continue;
      const int d = digit(ch);
      if (d < 0) return false;
      if (high < 0) {
        high = d;
      } else {
        out.push_back(static_cast<char>(high << 4 | d));
        high = -1;
      }
    }
    return out.size() == 16 && high < 0;
  }
  unsigned char b[16];
  const std::string z(text);
  if (inet_pton(c.declared == DeclaredType::kInet4 ? AF_INET : AF_INET6, z.c_str(), b) != 1) return false;
  out.assign(reinterpret_cast<const char*>(b), c.declared == DeclaredType::kInet4 ? 4 : 16);
  return true;
}

// Whether the binlog's rendering of an integer column's value is `text` itself: MySQL's own
// printing (no leading zero, which ZEROFILL columns print; no "-0") of a value in the column's
// range (`bits` as parsed, `width` bytes).
bool rendersAsItself(const ColumnDef& c, std::string_view text, std::uint64_t bits, int width) {
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text[0] < '0' || text[0] > '9' || (text[0] == '0' && (text.size() > 1 || negative))) return false;
  const int valueBits = 8 * width;
  if (c.isUnsigned.value_or(false)) return !negative && (valueBits == 64 || bits >> valueBits == 0);
  const std::uint64_t magnitude = negative ? 0 - bits : bits;  // bits hold the two's complement
  return negative ? magnitude <= std::uint64_t{1} << (valueBits - 1) : magnitude < std::uint64_t{1} << (valueBits - 1);
}

template <typename T>
bool parseNumber(std::string_view text, T& out) {
  const auto r = std::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

std::size_t memberIndex(const ColumnDef& c, std::string_view text) {
  for (std::size_t i = 0; i < c.members.size(); ++i) {
    if (c.members[i] == text) return i + 1;
  }
  return 0;
}

}  // namespace

binlog::TableMapEvent tableMapFromSchema(const schema::TableSchema& table, bool mariaDb) {
  using namespace binlog;
  TableMapEvent map;
  map.database = table.database;
  map.table = table.table;
  map.hasNames = true;
  map.hasPrimaryKey = true;
  for (const schema::ColumnSchema& s : table.columns) {
    ColumnDef c;
    const std::string& t = s.dataType;
    const auto [a, b] = typeArguments(s.columnType);
    c.name = s.name;
    c.isPrimaryKey = s.isPrimaryKey;
    c.isUnsigned = s.isUnsigned;
    c.members = s.members;
    if (t == "tinyint" || t == "bool" || t == "boolean") c.type = kTypeTiny;
    else if (t == "smallint") c.type = kTypeShort;
    else if (t == "mediumint") c.type = kTypeInt24;
    else if (t == "int" || t == "integer") c.type = kTypeLong;
    else if (t == "bigint") c.type = kTypeLonglong;
    else if (t == "float") c.type = kTypeFloat;
    else if (t == "double" || t == "real") c.type = kTypeDouble;
    else if (t == "decimal" || t == "numeric") {
      c.type = kTypeNewDecimal;
      c.precision = static_cast<std::uint8_t>(a ? a : 10);
      c.scale = static_cast<std::uint8_t>(b);
    } else if (t == "bit") {
      c.type = kTypeBit;
      c.bits = static_cast<std::uint16_t>(a ? a : 1);
    } else if (t == "date") c.type = kTypeDate;
    else if (t == "datetime") { c.type = kTypeDatetime2; c.fsp = static_cast<std::uint8_t>(a); }
    else if (t == "timestamp") { c.type = kTypeTimestamp2; c.fsp = static_cast<std::uint8_t>(a); }
    else if (t == "time") { c.type = kTypeTime2; c.fsp = static_cast<std::uint8_t>(a); }
    else if (t == "year") c.type = kTypeYear;
    else if (t == "char" || t == "binary") c.type = kTypeString;
    else if (t == "uuid" || t == "inet6" || t == "inet4") {
      // MariaDB's own types: a BINARY of their size in the binlog.
      c.type = kTypeString;
      c.maxLength = t == "inet4" ? 4 : 16;
      c.declared = t == "uuid" ? DeclaredType::kUuid : t == "inet6" ? DeclaredType::kInet6 : DeclaredType::kInet4;
    }
    else if (t == "varchar" || t == "varbinary") c.type = kTypeVarchar;
    else if (t == "enum") { c.type = kTypeString; c.realType = kTypeEnum; }
    else if (t == "set") { c.type = kTypeString; c.realType = kTypeSet; }
    else if (t.find("text") != std::string::npos || t.find("blob") != std::string::npos || (t == "json" && mariaDb)) {
      c.type = kTypeBlob;
      c.lengthBytes = t.rfind("tiny", 0) == 0 ? 1 : t.rfind("medium", 0) == 0 ? 3 : t.rfind("long", 0) == 0 || t == "json" ? 4 : 2;
      if (t == "json") c.declared = DeclaredType::kJson;
    } else if (t == "json") c.type = kTypeJson;
    else if (t == "vector") c.type = kTypeVector;
    else c.type = kTypeGeometry;  // geometry and its subtypes
    if (c.realType == 0) c.realType = c.type;
    if (c.declared != DeclaredType::kNone && c.declared != DeclaredType::kJson) {
      c.collation = kBinaryCollation;
    } else if (isCharacterType(c.realType) || isEnumOrSet(c.realType)) {
      c.collation = schema::collationHint(s);
    }
    if (c.realType == kTypeEnum) c.maxLength = c.members.size() > 255 ? 2 : 1;
    if (c.realType == kTypeSet) {
      // Storage bytes as the TABLE_MAP gives them: 1, 2, 3, 4 or 8.
      const auto bytes = static_cast<std::uint32_t>((c.members.size() + 7) / 8);
      c.maxLength = bytes > 4 ? 8 : bytes;
    }
    map.columns.push_back(std::move(c));
  }
  return map;
}

Status renderSelected(const binlog::TableMapEvent& table, std::size_t index, std::optional<std::string_view> value,
                      const RenderOptions& options, ColumnText& out) {
  using namespace binlog;
  const ColumnDef& c = table.columns[index];
  const auto where = [&] { return "snapshot of " + table.database + "." + table.table; };
  const auto bad = [&] {
    return Status::corruption(where(), "column " + c.name + ": '" + std::string(value->substr(0, 64)) +
                                           "' is not a value of its type");
  };
  Cell cell;
  cell.present = true;
  cell.null = !value;
  std::string bytes;                       // the value encoded as the binlog has it
  std::optional<std::string_view> direct;  // or the SELECT's bytes, when they are the binlog's
  if (value) {
    const std::string_view v = *value;
    switch (c.realType) {
      case kTypeTiny: case kTypeShort: case kTypeInt24: case kTypeLong: case kTypeLonglong: {
        const int width = c.realType == kTypeTiny ? 1 : c.realType == kTypeShort ? 2 : c.realType == kTypeInt24 ? 3
                          : c.realType == kTypeLong ? 4 : 8;
        std::uint64_t bits = 0;
        std::int64_t s = 0;
        if (parseNumber(v, bits)) {
        } else if (parseNumber(v, s)) {
          bits = static_cast<std::uint64_t>(s);
        } else {
          return bad();
        }
        if (rendersAsItself(c, v, bits, width)) {
          out.isNull = false;
          out.jsonDiffOnly = false;
          out.sqlType = integerSqlType(c, sqlTypeOf(c, options), bits, static_cast<std::size_t>(width));
          out.value.assign(v);
          return Status::ok();
        }
        putLe(bytes, bits, width);  // ZEROFILL's leading zeros, say
        break;
      }
      case kTypeFloat: case kTypeDouble: {
        const std::string text(v);
        char* end = nullptr;
        const double d = std::strtod(text.c_str(), &end);
        if (end != text.c_str() + text.size()) return bad();
        if (c.realType == kTypeFloat) {
          const float f = static_cast<float>(d);
          std::uint32_t u;
          std::memcpy(&u, &f, sizeof u);
          putLe(bytes, u, 4);
        } else {
          std::uint64_t u;
          std::memcpy(&u, &d, sizeof u);
          putLe(bytes, u, 8);
        }
        break;
      }
      case kTypeNewDecimal:
        if (!encodeDecimal(v, c.precision, c.scale, bytes)) return bad();
        break;
      case kTypeYear: {
        int y = 0;
        if (!parseNumber(v, y)) return bad();
        bytes.push_back(static_cast<char>(y == 0 ? 0 : y - 1900));
        break;
      }
      case kTypeTimestamp2:
        if (!encodeTimestamp2(v, c.fsp, bytes)) return bad();
        break;
      case kTypeDate: case kTypeDatetime2: case kTypeTime2: case kTypeJson:
        // The primary prints these (and MySQL's JSON documents) as the binlog renderer does.
        out.isNull = false;
        out.jsonDiffOnly = false;
        out.sqlType = sqlTypeOf(c, options);
        out.value.assign(v);
        return Status::ok();
      case kTypeEnum:
        putLe(bytes, memberIndex(c, v), static_cast<int>(c.maxLength));
        break;
      case kTypeSet: {
        std::uint64_t mask = 0;
        std::size_t from = 0;
        while (!v.empty() && from <= v.size()) {
          const auto comma = v.find(',', from);
          const auto member = v.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from);
          if (const std::size_t i = memberIndex(c, member)) mask |= std::uint64_t{1} << (i - 1);
          if (comma == std::string_view::npos) break;
          from = comma + 1;
        }
        putLe(bytes, mask, static_cast<int>(c.maxLength));
        break;
      }
      case kTypeString: {
        if (c.declared != DeclaredType::kNone) {
          if (!encodeTextForm(c, v, bytes)) return bad();
          break;
        }
        // BINARY(n) is padded with zero bytes, which the binlog leaves out (as CHAR's spaces).
        std::string_view text = v;
        if (isBinaryColumn(c)) {
          while (!text.empty() && text.back() == '\0') text.remove_suffix(1);
        }
        direct = text;
        break;
      }
      default:  // VARCHAR, BLOB/TEXT, BIT, GEOMETRY, VECTOR: the SELECT returns the binlog's bytes
        direct = v;
        break;
    }
  }
  cell.data = direct ? *direct : std::string_view(bytes);
  static const std::string kWhere = "a snapshot row";  // renderCell names it only in errors
  return renderCell(table, index, cell, nullptr, options, out, kWhere);
}

}  // namespace canal::convert
