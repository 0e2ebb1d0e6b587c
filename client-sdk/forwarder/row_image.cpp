#include "forwarder/row_image.h"

#include <algorithm>

namespace canal::forwarder {

const Image& imageOf(const eb::RowData& row, eb::EventType type) {
  return type == eb::DELETE ? row.beforecolumns() : row.aftercolumns();
}

const eb::Column* columnOf(const Image& image, const std::string& name) {
  for (const auto& c : image) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

std::optional<std::string> idOf(const Image& image, const std::vector<std::string>& columns, std::string_view separator) {
  std::string id;
  bool any = false;
  const auto append = [&](const eb::Column& c) {
    if (any) id += separator;
    if (!c.isnull()) id += c.value();
    any = true;
  };
  if (!columns.empty()) {
    for (const std::string& name : columns) {
      const eb::Column* column = columnOf(image, name);
      if (!column) return std::nullopt;
      append(*column);
    }
  } else {
    for (const auto& c : image) {
      if (c.iskey()) append(c);
    }
  }
  if (!any) return std::nullopt;
  return id;
}

bool carriesRows(const Change& c) {
  if (c.isDdl || c.rowChange.rowdatas_size() == 0) return false;
  return c.type == eb::INSERT || c.type == eb::UPDATE || c.type == eb::DELETE;
}

std::optional<std::string> rowIdOf(const eb::RowData& row, eb::EventType type, const std::vector<std::string>& columns,
                                   std::string_view separator) {
  auto id = idOf(imageOf(row, type), columns, separator);
  if (!id && type == eb::UPDATE) id = idOf(row.beforecolumns(), columns, separator);
  return id;
}

bool FieldSelection::selected(const std::string& column) const {
  if (!include.empty() && std::find(include.begin(), include.end(), column) == include.end()) return false;
  return std::find(exclude.begin(), exclude.end(), column) == exclude.end();
}

const std::string& FieldSelection::fieldOf(const std::string& column) const {
  const auto it = rename.find(column);
  return it == rename.end() ? column : it->second;
}

bool sameColumns(const Image& before, const Image& after) {
  if (before.size() != after.size()) return false;
  for (int i = 0; i < before.size(); ++i) {
    if (before[i].name() != after[i].name()) return false;
  }
  return true;
}

}  // namespace canal::forwarder
