#pragma once

// Column type codes as TABLE_MAP events carry them (enum_field_types of MySQL and MariaDB).

#include <cstdint>
#include <string_view>

namespace canal::binlog {

enum ColumnType : std::uint8_t {
  kTypeDecimal = 0,  // pre-5.0 DECIMAL, never in row events of servers that write them
  kTypeTiny = 1,
  kTypeShort = 2,
  kTypeLong = 3,
  kTypeFloat = 4,
  kTypeDouble = 5,
  kTypeNull = 6,
  kTypeTimestamp = 7,
  kTypeLonglong = 8,
  kTypeInt24 = 9,
  kTypeDate = 10,
  kTypeTime = 11,
  kTypeDatetime = 12,
  kTypeYear = 13,
  kTypeNewDate = 14,
  kTypeVarchar = 15,
  kTypeBit = 16,
  kTypeTimestamp2 = 17,
  kTypeDatetime2 = 18,
  kTypeTime2 = 19,
  kTypeTypedArray = 20,
  kTypeVector = 242,
  kTypeInvalid = 243,
  kTypeBool = 244,
  kTypeJson = 245,
  kTypeNewDecimal = 246,
  kTypeEnum = 247,
  kTypeSet = 248,
  kTypeTinyBlob = 249,
  kTypeMediumBlob = 250,
  kTypeLongBlob = 251,
  kTypeBlob = 252,
  kTypeVarString = 253,
  kTypeString = 254,
  kTypeGeometry = 255,
};

// "LONG", "VARCHAR", "NEWDECIMAL", ...; "TYPE_<n>" for unknown codes.
std::string_view columnTypeName(std::uint8_t type);

// Types whose signedness the SIGNEDNESS optional metadata lists (one bit each, in column order).
constexpr bool isNumericType(std::uint8_t type) {
  switch (type) {
    case kTypeTiny: case kTypeShort: case kTypeInt24: case kTypeLong: case kTypeLonglong:
    case kTypeNewDecimal: case kTypeFloat: case kTypeDouble: case kTypeDecimal:
      return true;
    default:
      return false;
  }
}

// Types whose collation the DEFAULT_CHARSET / COLUMN_CHARSET metadata lists (by real type, so
// ENUM and SET, which have their own lists, are not among them).
constexpr bool isCharacterType(std::uint8_t realType) {
  switch (realType) {
    case kTypeString: case kTypeVarString: case kTypeVarchar: case kTypeBlob:
    case kTypeTinyBlob: case kTypeMediumBlob: case kTypeLongBlob:
      return true;
    default:
      return false;
  }
}

// The BLOB/TEXT family (one binlog type for both; the collation tells them apart).
constexpr bool isBlobFamily(std::uint8_t realType) {
  return realType == kTypeBlob || realType == kTypeTinyBlob || realType == kTypeMediumBlob ||
         realType == kTypeLongBlob;
}

constexpr bool isEnumOrSet(std::uint8_t realType) { return realType == kTypeEnum || realType == kTypeSet; }

// The collation id of binary strings (BLOB, BINARY, VARBINARY).
inline constexpr std::uint32_t kBinaryCollation = 63;

}  // namespace canal::binlog
