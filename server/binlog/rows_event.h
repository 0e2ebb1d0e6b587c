#pragma once

// WRITE/UPDATE/DELETE rows events in all their forms: pre-GA (5.1 betas, types 20-22), v1
// (23-25), v2 (30-32, with extra data), MySQL PARTIAL_UPDATE_ROWS (39, JSON diffs in the after
// image) and MariaDB's compressed v1/v2 (166-171). A RowsEvent holds the framing; RowReader walks
// its rows against the TABLE_MAP the event names and yields, per row, the raw bytes of each
// present column (typed interpretation is in column_value.h). Pure; one thread per reader.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/binlog/event_stream.h"
#include "server/binlog/table_map.h"
#include "server/common/byte_reader.h"
#include "server/common/status.h"

namespace canal::binlog {

enum class RowsKind : std::uint8_t { kInsert, kUpdate, kDelete };

// True for the event types this header handles.
bool isRowsEvent(std::uint8_t type);

class RowsEvent {
 public:
  std::uint8_t eventType = 0;
  RowsKind kind = RowsKind::kInsert;
  int version = 1;  // 0 pre-GA, 1, 2
  bool partial = false;
  bool compressed = false;
  std::uint64_t tableId = 0;
  std::uint16_t flags = 0;  // 1 = statement end
  std::string_view extraData;
  std::uint32_t columnCount = 0;
  std::string beforeColumns;  // LSB-first presence bitmap of the before image (or the only image)
  std::string afterColumns;   // UPDATE only: presence bitmap of the after image

  std::string_view rows() const { return compressed ? std::string_view(uncompressed_) : rows_; }

  // `event` must outlive the RowsEvent (views into it are kept).
  static Result<RowsEvent> decode(const RawEvent& event, const FormatDescription& format, const std::string& where);

 private:
  std::string_view rows_;
  std::string uncompressed_;
};

struct Cell {
  bool present = false;  // the column is in this image
  bool null = false;
  bool partialJson = false;  // PARTIAL_UPDATE_ROWS: `data` is a JSON diff list, not a document
  std::string_view data;     // the value bytes; for length-prefixed types, without the prefix
};

struct RowImage {
  std::vector<Cell> cells;  // one per table column, absent ones marked
  bool empty() const { return cells.empty(); }
};

struct Row {
  RowImage before;  // DELETE and UPDATE
  RowImage after;   // INSERT and UPDATE
};

class RowReader {
 public:
  // `event` and `table` must outlive the reader.
  RowReader(const RowsEvent& event, const TableMapEvent& table, std::string where);

  // Reads the next row into `row`; false at the end of the event, or a Corruption naming the
  // event and the column whose bytes do not fit.
  Result<bool> next(Row& row);

 private:
  Status readImage(const std::string& columns, std::size_t present, bool afterOfPartial, RowImage& image);

  const RowsEvent& event_;
  const TableMapEvent& table_;
  std::string where_;
  ByteReader reader_;
  std::size_t row_ = 0;
  std::size_t beforePresent_;  // columns in each image
  std::size_t afterPresent_;
};

// Storage size of DECIMAL(precision, scale) in the binary format rows events use.
std::size_t decimalBinarySize(int precision, int scale);

}  // namespace canal::binlog
