#pragma once

// Canal's rendering of one column value: the `value` text, `sqlType` (java.sql.Types) and
// `isNull` of a Column, per docs/entries.md ("Values"), from the decoded TABLE_MAP
// column and the raw cell bytes. Where Canal's rendering is wrong for users, the right one is an
// option (RenderOptions); the defaults are Canal's. Pure; thread-compatible.

#include <cstdint>
#include <string>

#include "server/binlog/column_value.h"
#include "server/binlog/rows_event.h"
#include "server/binlog/table_map.h"
#include "server/common/status.h"

namespace canal::convert {

// java.sql.Types codes Canal emits.
enum SqlType : int {
  kSqlChar = 1,
  kSqlDecimal = 3,
  kSqlInteger = 4,
  kSqlSmallint = 5,
  kSqlReal = 7,
  kSqlDouble = 8,
  kSqlVarchar = 12,
  kSqlDate = 91,
  kSqlTime = 92,
  kSqlTimestamp = 93,
  kSqlBit = -7,
  kSqlTinyint = -6,
  kSqlBigint = -5,
  kSqlBlob = 2004,
  kSqlClob = 2005,
  kSqlOther = 1111,
};

// The zone TIMESTAMP values are rendered in (Canal: the JVM's default zone).
class TimeZone {
 public:
  static TimeZone utc() { return TimeZone(false, 0); }
  static TimeZone system() { return TimeZone(true, 0); }
  static TimeZone fixed(int offsetSeconds) { return TimeZone(false, offsetSeconds); }
  // "SYSTEM" (or empty), "UTC", "Z", "+08:00", "-05:30", "GMT+8".
  static Result<TimeZone> parse(const std::string& text);

  // Seconds to add to a UTC epoch time to get local civil time at that instant.
  std::int64_t offsetAt(std::int64_t epochSeconds) const;

 private:
  TimeZone(bool system, int offset) : system_(system), offset_(offset) {}
  bool system_;
  int offset_;
};

struct RenderOptions {
  binlog::DecimalStyle decimal = binlog::DecimalStyle::kCanal;
  TimeZone timeZone = TimeZone::system();
  // Canal decodes every text column with the instance charset (UTF-8). When true, latin1
  // columns are converted from their own charset (cp1252, as MySQL's latin1) to UTF-8.
  bool convertColumnCharset = false;
};

struct ColumnText {
  bool isNull = false;
  int sqlType = kSqlOther;
  std::string value;  // UTF-8; unset for NULL
  // PARTIAL_UPDATE_ROWS JSON without a before image: `value` is the diff expression, not the document.
  bool jsonDiffOnly = false;
};

// Renders `cell` of column `column` (`index` in the table). `before` is the same column's cell in
// the before image (PARTIAL_UPDATE_ROWS diffs apply to it), or null. Corruption for bytes that
// are not a value of the column's type.
Status renderCell(const binlog::TableMapEvent& table, std::size_t index, const binlog::Cell& cell,
                  const binlog::Cell* before, const RenderOptions& options, ColumnText& out, const std::string& where);

// The sqlType of a non-NULL value of `column`, before unsigned promotion.
int sqlTypeOf(const binlog::ColumnDef& column, const RenderOptions& options);
// The sqlType of an integer column's value, `bits` in `width` bytes as the binlog has it: `base`
// (sqlTypeOf the column), or, for an UNSIGNED value with its top bit set, the next wider type, as
// Canal promotes it.
int integerSqlType(const binlog::ColumnDef& column, int base, std::uint64_t bits, std::size_t width);

// Whether a BLOB/TEXT-family or CHAR/VARCHAR column holds binary strings (BLOB, BINARY,
// VARBINARY): known from its collation; when the binlog does not say, false.
bool isBinaryColumn(const binlog::ColumnDef& column);

// Appends bytes as ISO-8859-1 characters in UTF-8 (Canal's rendering of binary values).
void appendLatin1AsUtf8(std::string& out, std::string_view bytes);

}  // namespace canal::convert
