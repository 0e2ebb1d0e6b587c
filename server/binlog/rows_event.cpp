#include "server/binlog/rows_event.h"

#include "server/binlog/column_type.h"
#include "server/binlog/event_type.h"
#include "server/binlog/events.h"

namespace canal::binlog {
namespace {

bool lsbBit(std::string_view bitmap, std::size_t i) {
  return i / 8 < bitmap.size() && (static_cast<std::uint8_t>(bitmap[i / 8]) & (1u << (i % 8)));
}

std::size_t countBits(std::string_view bitmap, std::size_t n) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) count += lsbBit(bitmap, i);
  return count;
}

constexpr int kDigitsPerInt = 9;
constexpr int kBytesForDigits[] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

bool isOldTemporal(std::uint8_t type) {
  return type == kTypeTimestamp || type == kTypeDatetime || type == kTypeTime;
}

}  // namespace

std::size_t decimalBinarySize(int precision, int scale) {
  const int intg = precision - scale;
  return static_cast<std::size_t>((intg / kDigitsPerInt) * 4 + kBytesForDigits[intg % kDigitsPerInt] +
                                  (scale / kDigitsPerInt) * 4 + kBytesForDigits[scale % kDigitsPerInt]);
}

bool isRowsEvent(std::uint8_t type) {
  switch (type) {
    case kPreGaWriteRowsEvent: case kPreGaUpdateRowsEvent: case kPreGaDeleteRowsEvent:
    case kWriteRowsEventV1: case kUpdateRowsEventV1: case kDeleteRowsEventV1:
    case kWriteRowsEventV2: case kUpdateRowsEventV2: case kDeleteRowsEventV2:
    case kPartialUpdateRowsEvent:
    case kMariaWriteRowsCompressedEventV1: case kMariaUpdateRowsCompressedEventV1:
    case kMariaDeleteRowsCompressedEventV1:
    case kMariaWriteRowsCompressedEvent: case kMariaUpdateRowsCompressedEvent: case kMariaDeleteRowsCompressedEvent:
      return true;
    default:
      return false;
  }
}

Result<RowsEvent> RowsEvent::decode(const RawEvent& event, const FormatDescription& format, const std::string& where) {
  RowsEvent e;
  e.eventType = event.header.type;
  switch (e.eventType) {
    case kPreGaWriteRowsEvent: e.kind = RowsKind::kInsert; e.version = 0; break;
    case kPreGaUpdateRowsEvent: e.kind = RowsKind::kUpdate; e.version = 0; break;
    case kPreGaDeleteRowsEvent: e.kind = RowsKind::kDelete; e.version = 0; break;
    case kWriteRowsEventV1: e.kind = RowsKind::kInsert; break;
    case kUpdateRowsEventV1: e.kind = RowsKind::kUpdate; break;
    case kDeleteRowsEventV1: e.kind = RowsKind::kDelete; break;
    case kWriteRowsEventV2: e.kind = RowsKind::kInsert; e.version = 2; break;
    case kUpdateRowsEventV2: e.kind = RowsKind::kUpdate; e.version = 2; break;
    case kDeleteRowsEventV2: e.kind = RowsKind::kDelete; e.version = 2; break;
    case kPartialUpdateRowsEvent: e.kind = RowsKind::kUpdate; e.version = 2; e.partial = true; break;
    case kMariaWriteRowsCompressedEventV1: e.kind = RowsKind::kInsert; e.compressed = true; break;
    case kMariaUpdateRowsCompressedEventV1: e.kind = RowsKind::kUpdate; e.compressed = true; break;
    case kMariaDeleteRowsCompressedEventV1: e.kind = RowsKind::kDelete; e.compressed = true; break;
    case kMariaWriteRowsCompressedEvent: e.kind = RowsKind::kInsert; e.version = 2; e.compressed = true; break;
    case kMariaUpdateRowsCompressedEvent: e.kind = RowsKind::kUpdate; e.version = 2; e.compressed = true; break;
    case kMariaDeleteRowsCompressedEvent: e.kind = RowsKind::kDelete; e.version = 2; e.compressed = true; break;
    default:
      return Status::invalidArgument("not a rows event: " + eventTypeName(e.eventType), where);
  }
  ByteReader r(event.body);
  e.tableId = format.postHeaderLength(e.eventType) == 6 ? r.u32() : r.u48();
  e.flags = r.u16();
  if (e.version == 2) {
    const std::uint16_t extraLength = r.u16();
    if (extraLength < 2) return Status::corruption(where, "rows event extra-data length " + std::to_string(extraLength) + " is below 2");
    e.extraData = r.bytes(extraLength - 2u);
  }
  const std::uint64_t width = r.packedInt();
  if (r.failed() || width > 8 * r.remaining()) return Status::corruption(where, "rows event header is truncated");
  e.columnCount = static_cast<std::uint32_t>(width);
  const std::size_t bitmapBytes = (e.columnCount + 7) / 8;
  e.beforeColumns = std::string(r.bytes(bitmapBytes));
  // Pre-GA update events carry one bitmap for both images.
  if (e.kind == RowsKind::kUpdate) e.afterColumns = e.version == 0 ? e.beforeColumns : std::string(r.bytes(bitmapBytes));
  if (r.failed()) return Status::corruption(where, "rows event column bitmaps are truncated");
  if (e.compressed) {
    auto rows = mariaDbUncompress(r.rest(), where);
    if (!rows) return rows.status().withContext("compressed rows event");
    e.uncompressed_ = std::move(rows).value();
  } else {
    e.rows_ = r.rest();
  }
  return e;
}

RowReader::RowReader(const RowsEvent& event, const TableMapEvent& table, std::string where)
    : event_(event),
      table_(table),
      where_(std::move(where)),
      reader_(event.rows()),
      beforePresent_(countBits(event.beforeColumns, event.columnCount)),
      afterPresent_(countBits(event.afterColumns, event.columnCount)) {}

Result<bool> RowReader::next(Row& row) {
  if (reader_.atEnd()) return false;
  if (event_.columnCount > table_.columns.size()) {
    return Status::corruption(where_, "rows event has " + std::to_string(event_.columnCount) + " columns but TABLE_MAP of " +
                                          table_.database + "." + table_.table + " has " +
                                          std::to_string(table_.columns.size()));
  }
  row.before.cells.clear();
  row.after.cells.clear();
  ++row_;
  const std::size_t start = reader_.position();
  switch (event_.kind) {
    case RowsKind::kInsert:
      CANAL_RETURN_IF_ERROR(readImage(event_.beforeColumns, beforePresent_, false, row.after));
      break;
    case RowsKind::kDelete:
      CANAL_RETURN_IF_ERROR(readImage(event_.beforeColumns, beforePresent_, false, row.before));
      break;
    case RowsKind::kUpdate:
      CANAL_RETURN_IF_ERROR(readImage(event_.beforeColumns, beforePresent_, false, row.before));
      CANAL_RETURN_IF_ERROR(readImage(event_.afterColumns, afterPresent_, event_.partial, row.after));
      break;
  }
  if (reader_.position() == start) {
    return Status::corruption(where_, "row " + std::to_string(row_) + " of " + table_.database + "." + table_.table +
                                          " has no columns and no bytes");
  }
  return true;
}

Status RowReader::readImage(const std::string& columns, std::size_t present, bool afterOfPartial, RowImage& image) {
  ByteReader& r = reader_;
  const std::size_t n = event_.columnCount;
  std::string_view partialBits;
  if (afterOfPartial) {
    const std::uint64_t options = r.packedInt();
    if (options & 1) partialBits = r.bytes((table_.jsonColumnCount() + 7) / 8);
  }
  // Pre-GA rows keep the table's record null bytes, whose bit 0 is the record's reserved bit.
  const std::size_t firstNullBit = event_.version == 0 ? 1 : 0;
  const std::string_view nullBits = r.bytes((present + firstNullBit + 7) / 8);
  if (r.failed()) return Status::corruption(where_, "row " + std::to_string(row_) + " is truncated before its null bitmap");

  image.cells.assign(table_.columns.size(), Cell{});
  std::size_t imageIndex = 0;
  std::size_t jsonIndex = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const ColumnDef& c = table_.columns[i];
    if (!lsbBit(columns, i)) {
      if (c.type == kTypeJson) ++jsonIndex;
      continue;
    }
    Cell& cell = image.cells[i];
    cell.present = true;
    if (c.type == kTypeJson) cell.partialJson = lsbBit(partialBits, jsonIndex++);
    if (lsbBit(nullBits, firstNullBit + imageIndex++)) {
      cell.null = true;
      continue;
    }
    std::size_t size = 0;
    if (c.fixedSize >= 0) {
      size = static_cast<std::size_t>(c.fixedSize);
    } else if (c.fixedSize == -1) {
      if (c.lengthBytes != 0) size = static_cast<std::size_t>(r.uintLe(c.lengthBytes));  // BLOB family
      else size = c.maxLength < 256 ? r.u8() : r.u16();                                  // CHAR/VARCHAR
    } else if (c.realType == kTypeNewDecimal) {
      return Status::corruption(where_, "column " + table_.columnName(i) + " has impossible DECIMAL(" +
                                            std::to_string(c.precision) + "," + std::to_string(c.scale) + ")");
    } else if (c.lengthBytes != 0 || c.realType == kTypeBlob || c.realType == kTypeJson || c.realType == kTypeGeometry) {
      return Status::corruption(where_, "column " + table_.columnName(i) + " has a " + std::to_string(c.lengthBytes) +
                                            "-byte length prefix");
    } else {
      return Status::corruption(where_, "column " + table_.columnName(i) + " of " + table_.database + "." + table_.table +
                                            " has type " + std::string(columnTypeName(c.realType)) +
                                            ", which rows events cannot carry");
    }
    cell.data = r.bytes(size);
    if (r.failed()) {
      std::string msg = "row " + std::to_string(row_) + " of " + table_.database + "." + table_.table +
                        " ends inside column " + table_.columnName(i) + " (" +
                        std::string(columnTypeName(c.realType)) + ")";
      for (const auto& col : table_.columns) {
        if (isOldTemporal(col.type)) {
          msg += "; the table has old-format temporal columns: if they are MariaDB 5.3 fractional-second "
                 "(\"hires\") DATETIME/TIMESTAMP/TIME columns, their size is not in the binlog and the rows "
                 "cannot be decoded from it";
          break;
        }
      }
      return Status::corruption(where_, msg);
    }
  }
  return Status::ok();
}

}  // namespace canal::binlog
