#include "server/binlog/table_map.h"

#include "server/binlog/column_type.h"
#include "server/binlog/event_type.h"
#include "server/binlog/rows_event.h"
#include "server/common/byte_reader.h"

namespace canal::binlog {
namespace {

enum OptionalMetadata : std::uint8_t {
  kSignedness = 1,
  kDefaultCharset = 2,
  kColumnCharset = 3,
  kColumnName = 4,
  kSetStrValue = 5,
  kEnumStrValue = 6,
  kGeometryType = 7,
  kSimplePrimaryKey = 8,
  kPrimaryKeyWithPrefix = 9,
  kEnumAndSetDefaultCharset = 10,
  kEnumAndSetColumnCharset = 11,
  kColumnVisibility = 12,
  kVectorDimensionality = 13,
};

// Reads the per-type metadata of one column from the metadata block.
void readTypeMetadata(ByteReader& r, ColumnDef& c) {
  c.realType = c.type;
  switch (c.type) {
    case kTypeFloat:
    case kTypeDouble:
      c.meta = r.u8();  // pack length
      break;
    case kTypeBlob: case kTypeTinyBlob: case kTypeMediumBlob: case kTypeLongBlob:
    case kTypeGeometry: case kTypeJson: case kTypeVector:
      c.meta = r.u8();
      c.lengthBytes = static_cast<std::uint8_t>(c.meta);
      break;
    case kTypeTimestamp2: case kTypeDatetime2: case kTypeTime2:
      c.meta = r.u8();
      c.fsp = static_cast<std::uint8_t>(c.meta);
      break;
    case kTypeVarchar:
    case kTypeVarString:
      c.meta = r.u16();
      c.maxLength = c.meta;
      break;
    case kTypeNewDecimal:
      c.precision = r.u8();
      c.scale = r.u8();
      c.meta = static_cast<std::uint16_t>(c.precision << 8 | c.scale);
      break;
    case kTypeBit: {
      const std::uint8_t bitsInLastByte = r.u8();
      const std::uint8_t wholeBytes = r.u8();
      c.meta = static_cast<std::uint16_t>(bitsInLastByte << 8 | wholeBytes);
      c.bits = static_cast<std::uint16_t>(wholeBytes * 8 + bitsInLastByte);
      break;
    }
    case kTypeString: case kTypeEnum: case kTypeSet: {
      const std::uint8_t b0 = r.u8();
      const std::uint8_t b1 = r.u8();
      c.meta = static_cast<std::uint16_t>(b0 << 8 | b1);
      if (c.type == kTypeString && (b0 & 0x30) != 0x30) {
        // CHAR longer than 255 bytes: two high length bits are folded into the type byte.
        c.maxLength = b1 | (((b0 & 0x30) ^ 0x30) << 4);
        c.realType = b0 | 0x30;
      } else {
        c.realType = c.type == kTypeString ? b0 : c.type;
        c.maxLength = b1;
      }
      break;
    }
    default:
      break;
  }
}

std::int32_t fixedSizeOf(const ColumnDef& c) {
  switch (c.realType) {
    case kTypeTiny: case kTypeYear: return 1;
    case kTypeShort: return 2;
    case kTypeInt24: case kTypeDate: case kTypeNewDate: case kTypeTime: return 3;
    case kTypeLong: case kTypeTimestamp: case kTypeFloat: return 4;
    case kTypeLonglong: case kTypeDouble: case kTypeDatetime: return 8;
    case kTypeNull: return 0;
    case kTypeTimestamp2: return static_cast<std::int32_t>(4 + (c.fsp + 1u) / 2);
    case kTypeDatetime2: return static_cast<std::int32_t>(5 + (c.fsp + 1u) / 2);
    case kTypeTime2: return static_cast<std::int32_t>(3 + (c.fsp + 1u) / 2);
    case kTypeNewDecimal:
      if (c.precision == 0 || c.scale > c.precision || c.precision > 65 || c.scale > 30) return -2;
      return static_cast<std::int32_t>(decimalBinarySize(c.precision, c.scale));
    case kTypeBit: return static_cast<std::int32_t>((c.bits + 7u) / 8);
    case kTypeEnum: case kTypeSet: return static_cast<std::int32_t>(c.maxLength);
    case kTypeVarchar: case kTypeVarString: case kTypeString: return -1;
    case kTypeBlob: case kTypeTinyBlob: case kTypeMediumBlob: case kTypeLongBlob:
    case kTypeGeometry: case kTypeJson: case kTypeVector:
      return c.lengthBytes >= 1 && c.lengthBytes <= 4 ? -1 : -2;
    default: return -2;
  }
}

// Bit `i` of an MSB-first bitmap.
bool msbBit(std::string_view bitmap, std::size_t i) {
  return i / 8 < bitmap.size() && (static_cast<std::uint8_t>(bitmap[i / 8]) & (0x80 >> (i % 8)));
}

template <typename Pred>
std::vector<ColumnDef*> columnsWhere(std::vector<ColumnDef>& columns, Pred pred) {
  std::vector<ColumnDef*> out;
  for (auto& c : columns) {
    if (pred(c)) out.push_back(&c);
  }
  return out;
}

// DEFAULT_CHARSET-style field: a default collation, then (index, collation) exceptions.
void readDefaultCharset(ByteReader& f, const std::vector<ColumnDef*>& targets) {
  const auto def = static_cast<std::uint32_t>(f.packedInt());
  for (auto* c : targets) c->collation = def;
  while (!f.atEnd() && !f.failed()) {
    const std::uint64_t index = f.packedInt();
    const auto collation = static_cast<std::uint32_t>(f.packedInt());
    if (index >= targets.size()) {
      f.fail();
      return;
    }
    targets[index]->collation = collation;
  }
}

void readColumnCharsets(ByteReader& f, const std::vector<ColumnDef*>& targets) {
  for (auto* c : targets) c->collation = static_cast<std::uint32_t>(f.packedInt());
}

void readStrValues(ByteReader& f, const std::vector<ColumnDef*>& targets) {
  for (auto* c : targets) {
    const std::uint64_t count = f.packedInt();
    if (count > f.remaining()) {  // every member takes at least one byte
      f.fail();
      return;
    }
    c->members.clear();
    c->members.reserve(count);
    for (std::uint64_t i = 0; i < count && !f.failed(); ++i) c->members.emplace_back(f.packedString());
  }
}

// Which columns a field lists, as each server counts them when it writes the TABLE_MAP. MySQL
// picks columns by type; MariaDB by what each field type reports: YEAR has a signedness (it is
// an unsigned TINYINT there) and GEOMETRY a character set (binary, as the BLOB it is).
bool listsSignedness(const ColumnDef& c, bool mariaDb) {
  return isNumericType(c.type) || (mariaDb && c.type == kTypeYear);
}
bool listsCharset(const ColumnDef& c, bool mariaDb) {
  return isCharacterType(c.realType) || (mariaDb && c.type == kTypeGeometry);
}

Status readOptionalMetadata(ByteReader& r, TableMapEvent& t, bool mariaDb, const std::string& where) {
  auto& cols = t.columns;
  while (!r.atEnd()) {
    const std::uint8_t type = r.u8();
    const std::uint64_t length = r.packedInt();
    if (r.failed() || length > r.remaining()) {
      return Status::corruption(where, "TABLE_MAP optional metadata field " + std::to_string(type) + " is truncated");
    }
    ByteReader f(r.bytes(static_cast<std::size_t>(length)));
    switch (type) {
      case kSignedness: {
        const std::string_view bitmap = f.rest();
        std::size_t i = 0;
        for (auto& c : cols) {
          if (listsSignedness(c, mariaDb)) c.isUnsigned = msbBit(bitmap, i++);
        }
        t.hasSignedness = true;
        break;
      }
      case kDefaultCharset:
        readDefaultCharset(f, columnsWhere(cols, [&](const ColumnDef& c) { return listsCharset(c, mariaDb); }));
        t.hasCollations = true;
        break;
      case kColumnCharset:
        readColumnCharsets(f, columnsWhere(cols, [&](const ColumnDef& c) { return listsCharset(c, mariaDb); }));
        t.hasCollations = true;
        break;
      case kEnumAndSetDefaultCharset:
        readDefaultCharset(f, columnsWhere(cols, [](const ColumnDef& c) { return isEnumOrSet(c.realType); }));
        break;
      case kEnumAndSetColumnCharset:
        readColumnCharsets(f, columnsWhere(cols, [](const ColumnDef& c) { return isEnumOrSet(c.realType); }));
        break;
      case kColumnName:
        for (auto& c : cols) c.name = std::string(f.packedString());
        t.hasNames = true;
        break;
      case kSetStrValue:
        readStrValues(f, columnsWhere(cols, [](const ColumnDef& c) { return c.realType == kTypeSet; }));
        break;
      case kEnumStrValue:
        readStrValues(f, columnsWhere(cols, [](const ColumnDef& c) { return c.realType == kTypeEnum; }));
        break;
      case kGeometryType:
        for (auto& c : cols) {
          if (c.type == kTypeGeometry) c.geometryType = static_cast<std::uint32_t>(f.packedInt());
        }
        break;
      case kSimplePrimaryKey:
        while (!f.atEnd() && !f.failed()) {
          const std::uint64_t index = f.packedInt();
          if (index >= cols.size()) f.fail(); else cols[index].isPrimaryKey = true;
        }
        t.hasPrimaryKey = true;
        break;
      case kPrimaryKeyWithPrefix:
        while (!f.atEnd() && !f.failed()) {
          const std::uint64_t index = f.packedInt();
          const auto prefix = static_cast<std::uint32_t>(f.packedInt());
          if (index >= cols.size()) {
            f.fail();
          } else {
            cols[index].isPrimaryKey = true;
            cols[index].primaryKeyPrefix = prefix;
          }
        }
        t.hasPrimaryKey = true;
        break;
      case kColumnVisibility: {
        const std::string_view bitmap = f.rest();
        for (std::size_t i = 0; i < cols.size(); ++i) cols[i].visible = msbBit(bitmap, i);
        t.hasVisibility = true;
        break;
      }
      case kVectorDimensionality:
        for (auto& c : cols) {
          if (c.type == kTypeVector) c.vectorDimension = static_cast<std::uint32_t>(f.packedInt());
        }
        break;
      default:
        break;  // a field a newer server added: its length lets us step over it
    }
    if (f.failed()) {
      return Status::corruption(where, "TABLE_MAP optional metadata field " + std::to_string(type) +
                                           " does not match the table's columns");
    }
  }
  return Status::ok();
}

}  // namespace

std::size_t TableMapEvent::jsonColumnCount() const {
  std::size_t n = 0;
  for (const auto& c : columns) n += c.type == kTypeJson;
  return n;
}

std::string TableMapEvent::columnName(std::size_t index) const {
  if (index < columns.size() && !columns[index].name.empty()) return columns[index].name;
  return "@" + std::to_string(index + 1);
}

namespace {

// Reads the table id, flags and names into `t`, leaving `r` at the column count.
Status readHeader(ByteReader& r, const FormatDescription& format, TableMapEvent& t, const std::string& where) {
  t.tableId = format.postHeaderLength(kTableMapEvent) == 6 ? r.u32() : r.u48();
  t.flags = r.u16();
  t.database = std::string(r.bytes(r.u8()));
  r.skip(1);
  t.table = std::string(r.bytes(r.u8()));
  r.skip(1);
  if (r.failed()) return Status::corruption(where, "TABLE_MAP header is truncated");
  return Status::ok();
}

}  // namespace

Result<TableMapEvent> decodeTableMapHeader(std::string_view body, const FormatDescription& format,
                                           const std::string& where) {
  ByteReader r(body);
  TableMapEvent t;
  CANAL_RETURN_IF_ERROR(readHeader(r, format, t, where));
  return t;
}

Result<TableMapEvent> decodeTableMap(std::string_view body, const FormatDescription& format,
                                     const std::string& where) {
  ByteReader r(body);
  TableMapEvent t;
  CANAL_RETURN_IF_ERROR(readHeader(r, format, t, where));
  const std::uint64_t count = r.packedInt();
  if (r.failed() || count > r.remaining()) return Status::corruption(where, "TABLE_MAP header is truncated");
  t.columns.resize(static_cast<std::size_t>(count));
  const std::string_view types = r.bytes(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    t.columns[i].type = static_cast<std::uint8_t>(types[i]);
    t.columns[i].realType = t.columns[i].type;
  }

  if (r.atEnd()) {  // 5.1 development trees wrote neither type metadata nor null bitmap
    for (auto& c : t.columns) c.fixedSize = fixedSizeOf(c);
    return t;
  }
  const std::uint64_t metaLength = r.packedInt();
  if (r.failed() || metaLength > r.remaining()) return Status::corruption(where, "TABLE_MAP type metadata is truncated");
  ByteReader meta(r.bytes(static_cast<std::size_t>(metaLength)));
  for (auto& c : t.columns) {
    readTypeMetadata(meta, c);
    c.fixedSize = fixedSizeOf(c);
  }
  if (meta.failed()) {
    return Status::corruption(where, "TABLE_MAP type metadata for " + t.database + "." + t.table +
                                         " is shorter than its column types need");
  }
  const std::string_view nullBits = r.bytes((t.columns.size() + 7) / 8);
  if (r.failed()) return Status::corruption(where, "TABLE_MAP null bitmap is truncated");
  for (std::size_t i = 0; i < t.columns.size(); ++i) {
    t.columns[i].nullable = static_cast<std::uint8_t>(nullBits[i / 8]) & (1u << (i % 8));
  }
  CANAL_RETURN_IF_ERROR(readOptionalMetadata(r, t, format.mariaDb, where));
  return t;
}

}  // namespace canal::binlog
