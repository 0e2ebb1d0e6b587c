#pragma once

// TABLE_MAP_EVENT: the table a following rows event refers to, its column types and type
// metadata, and (MySQL 8.0.1+ / MariaDB 10.5+ with binlog_row_metadata) optional metadata:
// names, signedness, collations, ENUM/SET members, primary key, visibility, geometry types and
// vector dimensions. Pure decoding; shared read-only once built (rows decoding keeps a pointer).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/binlog/format_description.h"
#include "server/common/status.h"

namespace canal::binlog {

enum class DeclaredType : std::uint8_t { kNone, kJson, kUuid, kInet4, kInet6 };

struct ColumnDef {
  std::uint8_t type = 0;      // as the TABLE_MAP lists it (ColumnType)
  std::uint8_t realType = 0;  // STRING columns resolved to ENUM / SET / STRING
  std::uint16_t meta = 0;     // raw type metadata (0 when the type has none)
  bool nullable = true;

  // Derived from `meta`, per type.
  std::uint32_t maxLength = 0;   // VARCHAR/STRING: byte length; ENUM/SET: storage bytes
  std::uint8_t lengthBytes = 0;  // BLOB/TEXT/JSON/GEOMETRY/VECTOR: size of the length prefix
  std::uint8_t precision = 0;    // NEWDECIMAL
  std::uint8_t scale = 0;        // NEWDECIMAL
  std::uint8_t fsp = 0;          // TIME2/DATETIME2/TIMESTAMP2 fractional digits
  std::uint16_t bits = 0;        // BIT(n)
  // Bytes of a value in a row image when the type's values all have one size, else -1 (a
  // length prefix says); -2 for types rows events cannot carry.
  std::int32_t fixedSize = -2;

  // Optional metadata (unset when the binlog does not carry it).
  std::optional<bool> isUnsigned;          // numeric columns
  std::optional<std::uint32_t> collation;  // character, ENUM and SET columns
  std::string name;                        // empty when unknown
  bool isPrimaryKey = false;
  std::uint32_t primaryKeyPrefix = 0;      // 0 = the whole column
  bool visible = true;
  std::optional<std::uint32_t> geometryType;
  std::optional<std::uint32_t> vectorDimension;
  std::vector<std::string> members;        // ENUM / SET strings when listed
  // What only the table's definition tells (never the binlog): a BLOB-family column declared as
  // JSON (MariaDB's JSON is a LONGTEXT alias), a BINARY(16)/(4) that is MariaDB's UUID, INET6
  // or INET4.
  DeclaredType declared = DeclaredType::kNone;

  bool isBinary() const { return collation && *collation == 63; }
};

struct TableMapEvent {
  std::uint64_t tableId = 0;
  std::uint16_t flags = 0;
  std::string database;
  std::string table;
  std::vector<ColumnDef> columns;

  // Which optional metadata fields were present.
  bool hasSignedness = false;
  bool hasCollations = false;
  bool hasNames = false;
  bool hasPrimaryKey = false;
  bool hasVisibility = false;

  // Number of JSON columns (PARTIAL_UPDATE_ROWS keeps one bit per JSON column).
  std::size_t jsonColumnCount() const;
  // Column name, or "@<1-based index>" as mysqlbinlog prints unknown names.
  std::string columnName(std::size_t index) const;
};

Result<TableMapEvent> decodeTableMap(std::string_view body, const FormatDescription& format,
                                     const std::string& where);
// Only the table id, flags and names (no columns): enough to filter on before the columns are
// read, so a table no destination wants never stops a stream whatever its columns hold.
Result<TableMapEvent> decodeTableMapHeader(std::string_view body, const FormatDescription& format,
                                           const std::string& where);

}  // namespace canal::binlog
