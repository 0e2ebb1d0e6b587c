#include "server/binlog/column_type.h"

#include <array>
#include <string>

namespace canal::binlog {

std::string_view columnTypeName(std::uint8_t type) {
  switch (type) {
    case kTypeDecimal: return "DECIMAL";
    case kTypeTiny: return "TINY";
    case kTypeShort: return "SHORT";
    case kTypeLong: return "LONG";
    case kTypeFloat: return "FLOAT";
    case kTypeDouble: return "DOUBLE";
    case kTypeNull: return "NULL";
    case kTypeTimestamp: return "TIMESTAMP";
    case kTypeLonglong: return "LONGLONG";
    case kTypeInt24: return "INT24";
    case kTypeDate: return "DATE";
    case kTypeTime: return "TIME";
    case kTypeDatetime: return "DATETIME";
    case kTypeYear: return "YEAR";
    case kTypeNewDate: return "NEWDATE";
    case kTypeVarchar: return "VARCHAR";
    case kTypeBit: return "BIT";
    case kTypeTimestamp2: return "TIMESTAMP2";
    case kTypeDatetime2: return "DATETIME2";
    case kTypeTime2: return "TIME2";
    case kTypeTypedArray: return "TYPED_ARRAY";
    case kTypeVector: return "VECTOR";
    case kTypeInvalid: return "INVALID";
    case kTypeBool: return "BOOL";
    case kTypeJson: return "JSON";
    case kTypeNewDecimal: return "NEWDECIMAL";
    case kTypeEnum: return "ENUM";
    case kTypeSet: return "SET";
    case kTypeTinyBlob: return "TINY_BLOB";
    case kTypeMediumBlob: return "MEDIUM_BLOB";
    case kTypeLongBlob: return "LONG_BLOB";
    case kTypeBlob: return "BLOB";
    case kTypeVarString: return "VAR_STRING";
    case kTypeString: return "STRING";
    case kTypeGeometry: return "GEOMETRY";
    default: {
      static const auto names = [] {
        std::array<std::string, 256> n;
        for (int i = 0; i < 256; ++i) n[i] = "TYPE_" + std::to_string(i);
        return n;
      }();
      return names[type];
    }
  }
}

}  // namespace canal::binlog
