#include "server/convert/value_text.h"

#include <arpa/inet.h>

#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "server/binlog/column_type.h"
#include "server/binlog/json_binary.h"
#include "server/common/java_number.h"

namespace canal::convert {
namespace {

using binlog::ColumnDef;

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

bool isLatin1Collation(std::uint32_t id) {
  switch (id) {
    case 5: case 8: case 15: case 31: case 47: case 48: case 49: case 94: return true;
    default: return false;
  }
}

// MySQL's latin1 is Windows-1252.
void appendCp1252AsUtf8(std::string& out, std::string_view bytes) {
  static constexpr std::uint16_t kHigh[32] = {
      0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
      0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178};
  for (const char ch : bytes) {
    const auto c = static_cast<std::uint8_t>(ch);
    appendUtf8(out, c >= 0x80 && c < 0xa0 ? kHigh[c - 0x80] : c);
  }
}

void appendInt(std::string& out, std::int64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

void appendUint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// MariaDB's UUID, INET6 and INET4 travel as a BINARY of their size (trailing zero bytes left
// out); they are rendered as the server prints them, which is what SELECT returns too.
bool hasTextForm(const ColumnDef& c) {
  using binlog::DeclaredType;
  return c.declared == DeclaredType::kUuid || c.declared == DeclaredType::kInet6 || c.declared == DeclaredType::kInet4;
}

// Canal tells a BLOB-family column's text from its bytes by the declared type's name: only
// TINYTEXT/TEXT/MEDIUMTEXT/LONGTEXT are text, so a MariaDB JSON column (a LONGTEXT alias) is
// rendered as a BLOB unless columns are rendered by their own charset.
bool blobFamilyAsBytes(const ColumnDef& c, const RenderOptions& options) {
  return isBinaryColumn(c) || (c.declared == binlog::DeclaredType::kJson && !options.convertColumnCharset);
}

// sqlType of a column, before unsigned promotion (also the NULL sqlType except for SET/JSON).
int baseSqlType(const ColumnDef& c, const RenderOptions& options) {
  using namespace binlog;
  switch (c.realType) {
    case kTypeTiny: return kSqlTinyint;
    case kTypeShort: return kSqlSmallint;
    case kTypeInt24: case kTypeLong: return kSqlInteger;
    case kTypeLonglong: return kSqlBigint;
    case kTypeNewDecimal: case kTypeDecimal: return kSqlDecimal;
    case kTypeFloat: return kSqlReal;
    case kTypeDouble: return kSqlDouble;
    case kTypeBit: return kSqlBit;
    case kTypeDate: case kTypeNewDate: return kSqlDate;
    case kTypeTime: case kTypeTime2: return kSqlTime;
    case kTypeDatetime: case kTypeDatetime2: case kTypeTimestamp: case kTypeTimestamp2: return kSqlTimestamp;
    case kTypeYear: return kSqlVarchar;
    case kTypeString: return isBinaryColumn(c) && !hasTextForm(c) ? kSqlBlob : kSqlChar;
    case kTypeVarchar: case kTypeVarString: return isBinaryColumn(c) ? kSqlBlob : kSqlVarchar;
    case kTypeBlob: case kTypeTinyBlob: case kTypeMediumBlob: case kTypeLongBlob:
      return blobFamilyAsBytes(c, options) ? kSqlBlob : kSqlClob;
    case kTypeEnum: return kSqlInteger;
    case kTypeSet: return kSqlBit;
    case kTypeJson: return kSqlVarchar;
    case kTypeGeometry: return kSqlBlob;
    default: return kSqlOther;
  }
}

void appendTextForm(std::string& out, const ColumnDef& c, std::string_view bytes) {
  using binlog::DeclaredType;
  unsigned char b[16] = {};
  const std::size_t size = c.declared == DeclaredType::kInet4 ? 4 : 16;
  std::memcpy(b, bytes.data(), bytes.size() < size ? bytes.size() : size);
  char text[INET6_ADDRSTRLEN] = {};
  if (c.declared == DeclaredType::kUuid) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
      out.push_back(kHex[b[i] >> 4]);
      out.push_back(kHex[b[i] & 15]);
    }
  } else if (inet_ntop(c.declared == DeclaredType::kInet4 ? AF_INET : AF_INET6, b, text, sizeof text)) {
    out.append(text);
  }
}

void appendText(std::string& out, const ColumnDef& c, std::string_view bytes, const RenderOptions& options) {
  if (options.convertColumnCharset && c.collation && isLatin1Collation(*c.collation)) {
    appendCp1252AsUtf8(out, bytes);
  } else {
    out.append(bytes);
  }
}

Status badValue(const std::string& where, const binlog::TableMapEvent& t, std::size_t index, const char* what) {
  return Status::corruption(where, "column " + t.columnName(index) + " of " + t.database + "." + t.table + ": " + what);
}

}  // namespace

Result<TimeZone> TimeZone::parse(const std::string& text) {
  if (text.empty() || text == "SYSTEM" || text == "system") return system();
  if (text == "UTC" || text == "Z" || text == "GMT") return utc();
  std::string_view s = text;
  if (s.substr(0, 3) == "GMT" || s.substr(0, 3) == "UTC") s.remove_prefix(3);
  if (s.size() >= 2 && (s[0] == '+' || s[0] == '-')) {
    const int sign = s[0] == '-' ? -1 : 1;
    s.remove_prefix(1);
    int hours = 0;
    int minutes = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), hours);
    if (ec == std::errc() && (p == s.data() + s.size() ||
                              (*p == ':' && std::from_chars(p + 1, s.data() + s.size(), minutes).ec == std::errc()))) {
      if (hours <= 14 && minutes < 60) return fixed(sign * (hours * 3600 + minutes * 60));
    }
  }
  return Status::invalidArgument("time zone '" + text +
                                 "' is not SYSTEM, UTC or an offset like +08:00 (set TZ for a named zone)");
}

std::int64_t TimeZone::offsetAt(std::int64_t epochSeconds) const {
  if (!system_) return offset_;
  // Zone offsets change at most on quarter hours: remember the last quarter asked for.
  thread_local std::int64_t cachedQuarter = INT64_MIN;
  thread_local std::int64_t cachedOffset = 0;
  const std::int64_t quarter = epochSeconds >= 0 ? epochSeconds / 900 : (epochSeconds - 899) / 900;
  if (quarter != cachedQuarter) {
    const std::time_t t = static_cast<std::time_t>(epochSeconds);
    std::tm local{};
    cachedOffset = localtime_r(&t, &local) ? local.tm_gmtoff : 0;
    cachedQuarter = quarter;
  }
  return cachedOffset;
}

int sqlTypeOf(const ColumnDef& column, const RenderOptions& options) { return baseSqlType(column, options); }

int integerSqlType(const ColumnDef& c, int base, std::uint64_t bits, std::size_t width) {
  using namespace binlog;
  if (!c.isUnsigned.value_or(false) || width == 0 || ((bits >> (width * 8 - 1)) & 1) == 0) return base;
  switch (c.realType) {
    case kTypeTiny: return kSqlSmallint;
    case kTypeShort: return kSqlInteger;
    case kTypeLong: return kSqlBigint;
    case kTypeLonglong: return kSqlDecimal;
    default: return base;
  }
}

bool isBinaryColumn(const ColumnDef& column) { return column.collation && *column.collation == binlog::kBinaryCollation; }

namespace {

// One byte as UTF-8 at `p`, without a branch (binary data has no predictable pattern); returns
// the end.
char* putLatin1(char* p, std::uint8_t c) {
  const unsigned high = c >> 7;
  p[0] = static_cast<char>(high ? 0xc0u | (c >> 6) : c);
  p[1] = static_cast<char>(0x80u | (c & 0x3fu));
  return p + 1 + high;
}

}  // namespace

void appendLatin1AsUtf8(std::string& out, std::string_view bytes) {
  constexpr std::uint64_t kHighBits = 0x8080808080808080ull;
  char buf[512];
  while (!bytes.empty()) {
    const std::size_t n = bytes.size() < sizeof buf / 2 ? bytes.size() : sizeof buf / 2;
    char* p = buf;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {  // eight ASCII bytes (JSON, text kept as bytes) are copied whole
      std::uint64_t word;
      std::memcpy(&word, bytes.data() + i, sizeof word);
      if ((word & kHighBits) == 0) {
        std::memcpy(p, &word, sizeof word);
        p += sizeof word;
      } else {
        for (std::size_t k = 0; k < 8; ++k) p = putLatin1(p, static_cast<std::uint8_t>(bytes[i + k]));
      }
    }
    for (; i < n; ++i) p = putLatin1(p, static_cast<std::uint8_t>(bytes[i]));
    out.append(buf, static_cast<std::size_t>(p - buf));
    bytes.remove_prefix(n);
  }
}

Status renderCell(const binlog::TableMapEvent& table, std::size_t index, const binlog::Cell& cell,
                  const binlog::Cell* before, const RenderOptions& options, ColumnText& out, const std::string& where) {
  using namespace binlog;
  const ColumnDef& c = table.columns[index];
  out.value.clear();
  out.jsonDiffOnly = false;
  out.sqlType = baseSqlType(c, options);
  out.isNull = cell.null;
  if (cell.null) {
    if (c.realType == kTypeSet) out.sqlType = kSqlBlob;
    if (c.realType == kTypeJson) out.sqlType = kSqlOther;
    return Status::ok();
  }
  const std::string_view d = cell.data;
  std::string& v = out.value;
  const bool isUnsigned = c.isUnsigned.value_or(false);
  switch (c.realType) {
    case kTypeTiny: case kTypeShort: case kTypeInt24: case kTypeLong: case kTypeLonglong: {
      if (isUnsigned) {
        const std::uint64_t u = readUnsignedLe(d);
        appendUint(v, u);
        out.sqlType = integerSqlType(c, out.sqlType, u, d.size());
      } else {
        appendInt(v, readSignedLe(d));
      }
      break;
    }
    case kTypeFloat: {
      float f;
      const std::uint32_t bits = static_cast<std::uint32_t>(readUnsignedLe(d));
      std::memcpy(&f, &bits, sizeof f);
      appendJavaFloat(v, f);
      break;
    }
    case kTypeDouble: {
      double x;
      const std::uint64_t bits = readUnsignedLe(d);
      std::memcpy(&x, &bits, sizeof x);
      appendJavaDouble(v, x);
      break;
    }
    case kTypeNewDecimal:
      if (!appendDecimal(v, d, c.precision, c.scale, options.decimal)) return badValue(where, table, index, "DECIMAL digits out of range");
      break;
    case kTypeBit:
      appendUint(v, readUnsignedBe(d));
      break;
    case kTypeYear: {
      const auto y = static_cast<std::uint8_t>(d[0]);
      if (y == 0) v = "0000"; else appendInt(v, 1900 + y);
      break;
    }
    case kTypeDate: case kTypeNewDate:
      appendDate(v, decodeDate(d));
      break;
    case kTypeDatetime: {
      const Temporal t = decodeDatetime(d);
      if (!isPlausibleDatetime(t)) {
        return badValue(where, table, index,
                        "old-format DATETIME holds an impossible date; if the column is a MariaDB 5.3 fractional-second "
                        "(\"hires\") DATETIME, its size is not in the binlog and it cannot be decoded from it");
      }
      appendDatetime(v, t, 0);
      break;
    }
    case kTypeDatetime2: appendDatetime(v, decodeDatetime2(d, c.fsp), c.fsp); break;
    case kTypeTime: appendTime(v, decodeTime(d), 0); break;
    case kTypeTime2: appendTime(v, decodeTime2(d, c.fsp), c.fsp); break;
    case kTypeTimestamp: case kTypeTimestamp2: {
      const EpochTime e = c.realType == kTypeTimestamp ? decodeTimestamp(d) : decodeTimestamp2(d, c.fsp);
      const int fsp = c.realType == kTypeTimestamp ? 0 : c.fsp;
      if (e.seconds == 0 && e.micros == 0) {
        appendDatetime(v, Temporal{}, fsp);
      } else {
        appendDatetime(v, civilFromEpoch(e.seconds + options.timeZone.offsetAt(e.seconds), e.micros), fsp);
      }
      break;
    }
    case kTypeEnum: case kTypeSet:
      appendUint(v, readUnsignedLe(d));
      break;
    case kTypeString: case kTypeVarchar: case kTypeVarString:
      if (hasTextForm(c)) appendTextForm(v, c, d);
      else if (isBinaryColumn(c)) appendLatin1AsUtf8(v, d);
      else appendText(v, c, d, options);
      break;
    case kTypeBlob: case kTypeTinyBlob: case kTypeMediumBlob: case kTypeLongBlob:
      if (blobFamilyAsBytes(c, options)) appendLatin1AsUtf8(v, d); else appendText(v, c, d, options);
      break;
    case kTypeGeometry:
      appendLatin1AsUtf8(v, d);
      break;
    case kTypeJson:
      if (!cell.partialJson) {
        CANAL_RETURN_IF_ERROR(appendJsonText(v, d, where).withContext("column " + table.columnName(index)));
      } else if (before && before->present && !before->null) {
        CANAL_RETURN_IF_ERROR(appendJsonAfterDiff(v, before->data, d, where).withContext("column " + table.columnName(index)));
      } else {
        CANAL_RETURN_IF_ERROR(appendJsonDiffExpression(v, table.columnName(index), d, where));
        out.jsonDiffOnly = true;
      }
      break;
    case kTypeVector: {
      if (d.size() % 4 != 0) return badValue(where, table, index, "VECTOR size is not a multiple of 4");
      v.push_back('[');
      for (std::size_t i = 0; i < d.size(); i += 4) {
        if (i) v.push_back(',');
        float f;
        const std::uint32_t bits = static_cast<std::uint32_t>(readUnsignedLe(d.substr(i, 4)));
        std::memcpy(&f, &bits, sizeof f);
        appendJavaFloat(v, f);
      }
      v.push_back(']');
      break;
    }
    default:
      out.sqlType = kSqlOther;
      out.isNull = false;
      break;
  }
  return Status::ok();
}

}  // namespace canal::convert
