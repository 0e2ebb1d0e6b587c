#pragma once

// Changes built by hand for the forwarder's unit tests: columns and rows as a batch's parsed
// ROWDATA entries carry them.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "forwarder/change.h"

namespace canal::forwarder::test_changes {

struct Col {
  std::string name;
  std::optional<std::string> value;
  bool key = false;
  bool updated = false;
  int sqlType = 12;
  std::string mysqlType = "varchar(32)";
};

inline eb::Column column(const Col& c) {
  eb::Column out;
  out.set_name(c.name);
  out.set_iskey(c.key);
  out.set_updated(c.updated);
  out.set_sqltype(c.sqlType);
  out.set_mysqltype(c.mysqlType);
  if (c.value) out.set_value(*c.value);
  else out.set_isnull(true);
  return out;
}

inline Change change(eb::EventType type, const std::vector<std::pair<std::vector<Col>, std::vector<Col>>>& rows,
                     std::int64_t offset, const std::string& table = "orders") {
  Change c;
  c.database = "shop";
  c.table = table;
  c.type = type;
  c.logfileName = "mysql-bin.000002";
  c.logfileOffset = offset;
  c.rowChange.set_eventtype(type);
  for (const auto& [before, after] : rows) {
    auto* r = c.rowChange.add_rowdatas();
    for (const Col& b : before) *r->add_beforecolumns() = column(b);
    for (const Col& a : after) *r->add_aftercolumns() = column(a);
  }
  return c;
}

}  // namespace canal::forwarder::test_changes
