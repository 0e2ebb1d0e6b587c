#pragma once

// The `v` column of the rows a batch inserted into one table, for tests that read a server
// through the SDK (header-only: it needs the SDK, which the support library does not link).

#include <cstdint>
#include <string>
#include <vector>

#include "canal/client/canal_connector.h"

namespace canal::testing {

inline std::vector<std::int64_t> insertedValues(const client::Message& m, const std::string& table) {
  namespace eb = canal::protocol::entry;
  std::vector<std::int64_t> out;
  for (const auto& e : m.entries()) {
    if (e.entrytype() != eb::ROWDATA || e.header().tablename() != table) continue;
    eb::RowChange rc;
    if (!rc.ParseFromString(e.storevalue()) || rc.eventtype() != eb::INSERT) continue;
    for (const auto& row : rc.rowdatas()) {
      for (const auto& c : row.aftercolumns()) {
        if (c.name() == "v") out.push_back(std::stoll(c.value()));
      }
    }
  }
  return out;
}

}  // namespace canal::testing
