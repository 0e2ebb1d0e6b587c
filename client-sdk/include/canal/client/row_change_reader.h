#pragma once

// A RowChange read in place from its serialized bytes (an Entry's storevalue()), without a
// protobuf object per row and column: every name and value is a view into the bytes, valid as
// long as they are. Message::rowChangeViews() (canal_connector.h) reads each ROWDATA entry of a
// batch into one reused reader; rowChanges() gives the full protobuf objects instead.
//
//   for (const auto& [entry, change] : message->rowChangeViews()) {
//     for (std::size_t r = 0; r < change.rows(); ++r) {
//       for (const auto& column : change.after(r)) { ... column.name, column.value ... }
//     }
//   }
//
// A reader of its own: `RowChangeReader reader; if (!reader.parse(entry.storevalue())) ...`.
//
// Thread contract: one reader per thread.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace canal::client {

// One Column of a RowData, as the bytes carry it.
struct ColumnView {
  std::int32_t index = 0;
  std::int32_t sqlType = 0;
  std::string_view name;
  bool isKey = false;
  bool updated = false;
  bool isNull = false;
  std::string_view value;
  std::int32_t length = 0;
  std::string_view mysqlType;
};

class RowChangeReader {
 public:
  // The columns of one row image, in order.
  class Columns {
   public:
    Columns(const ColumnView* begin, const ColumnView* end) : begin_(begin), end_(end) {}
    const ColumnView* begin() const { return begin_; }
    const ColumnView* end() const { return end_; }
    std::size_t size() const { return static_cast<std::size_t>(end_ - begin_); }
    bool empty() const { return begin_ == end_; }
    const ColumnView& operator[](std::size_t i) const { return begin_[i]; }
    // The column named `name`; null when there is none.
    const ColumnView* find(std::string_view name) const;

   private:
    const ColumnView* begin_;
    const ColumnView* end_;
  };

  // Reads `bytes` (a serialized RowChange). False when they are not one; the reader is then
  // empty. Unknown fields are skipped, as protobuf skips them.
  bool parse(std::string_view bytes);

  std::int64_t tableId() const { return tableId_; }
  // canal::protocol::entry::EventType's number (UPDATE when absent, as in the proto).
  int eventType() const { return eventType_; }
  bool isDdl() const { return isDdl_; }
  std::string_view sql() const { return sql_; }
  std::string_view ddlSchemaName() const { return ddlSchemaName_; }
  std::size_t rows() const { return rows_.size(); }
  Columns before(std::size_t row) const;
  Columns after(std::size_t row) const;

 private:
  struct Row {
    std::size_t before = 0, beforeCount = 0, after = 0, afterCount = 0;  // into columns_
  };
  bool parseRow(std::string_view bytes);
  void clear();

  std::int64_t tableId_ = 0;
  int eventType_ = 0;
  bool isDdl_ = false;
  std::string_view sql_;
  std::string_view ddlSchemaName_;
  std::vector<Row> rows_;
  std::vector<ColumnView> before_;
  std::vector<ColumnView> after_;
};

}  // namespace canal::client
