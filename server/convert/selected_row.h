#pragma once

// Rows read with SELECT (a snapshot of a table) rendered exactly as a binlog INSERT of the same
// row is: the table's definition gives the TABLE_MAP the binlog would carry, and each value read
// is turned into the binlog's bytes for it where that is cheap, so one renderer (renderCell)
// serves both. The SELECT must run with character_set_results = binary (strings come in their
// column's own bytes) and time_zone = '+00:00' (TIMESTAMP values in UTC). Pure.

#include <optional>
#include <string>
#include <string_view>

#include "server/binlog/table_map.h"
#include "server/common/status.h"
#include "server/convert/value_text.h"
#include "server/schema/schema_cache.h"

namespace canal::convert {

// The TABLE_MAP the primary would log for `table` (with names, keys and members filled in as
// the schema cache fills them). `mariaDb`: a `json` column is MariaDB's LONGTEXT alias.
binlog::TableMapEvent tableMapFromSchema(const schema::TableSchema& table, bool mariaDb);

// Renders the value a SELECT returned for column `index` of `table` (nullopt: NULL) into `out`.
// Corruption naming the column when the text is not a value of its type.
Status renderSelected(const binlog::TableMapEvent& table, std::size_t index, std::optional<std::string_view> value,
                      const RenderOptions& options, ColumnText& out);

}  // namespace canal::convert
