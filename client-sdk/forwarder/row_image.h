#pragma once

// What the sinks that keep one record per row (Elasticsearch documents, Redis keys) take from a
// row's image: its id from the key (or chosen) columns, and the columns written under their
// field names.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "forwarder/change.h"

namespace canal::forwarder {

using Image = google::protobuf::RepeatedPtrField<eb::Column>;

// The image a change of `type` describes the row by: before for DELETE, else after.
const Image& imageOf(const eb::RowData& row, eb::EventType type);

// The column named `name` in `image`; null when it has none.
const eb::Column* columnOf(const Image& image, const std::string& name);

// The values of `columns` (empty: the image's key columns) joined by `separator`, NULL as "";
// nullopt when a named column is missing or the image has no key column.
std::optional<std::string> idOf(const Image& image, const std::vector<std::string>& columns, std::string_view separator);

// True for a change whose rows a per-row sink writes: rows of an INSERT, UPDATE or DELETE.
bool carriesRows(const Change& c);

// The id of a changed row (idOf its image); for an UPDATE whose after image is partial
// (binlog_row_image=MINIMAL) and lacks the key, the before image's.
std::optional<std::string> rowIdOf(const eb::RowData& row, eb::EventType type, const std::vector<std::string>& columns,
                                   std::string_view separator);

// Which columns are written, and under which name.
struct FieldSelection {
  const std::vector<std::string>& include;  // empty: all
  const std::vector<std::string>& exclude;
  const std::map<std::string, std::string>& rename;
  bool selected(const std::string& column) const;
  const std::string& fieldOf(const std::string& column) const;
};

// True when both images hold the same columns (a full row image; binlog_row_image=MINIMAL
// logs the key before and the changed columns after).
bool sameColumns(const Image& before, const Image& after);

}  // namespace canal::forwarder
