#pragma once

// A table's columns as one line, for the schema tests: "id int(11) PK; k varbinary(4) BIN; ".

#include <string>

#include "server/schema/schema_cache.h"

namespace canal::schema {

inline std::string columns(const TableSet& tables, const std::string& db, const std::string& table) {
  const auto it = tables.find({db, table});
  if (it == tables.end()) return "<none>";
  std::string out;
  for (const auto& c : it->second.columns) {
    out += c.name + " " + c.columnType + (c.isPrimaryKey ? " PK" : "") + (c.isBinary ? " BIN" : "") + "; ";
  }
  return out;
}

}  // namespace canal::schema
