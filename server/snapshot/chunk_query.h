#pragma once

// The SELECT that reads one chunk of a table: every column of its definition, the rows after the
// last key read and (reading key ranges in parallel) up to the range's last key (row comparisons
// spelled out so the key's index serves them), the request's `where`, in key order, at most a
// chunk's rows. And the SELECT that finds where a range of a chunk's rows ends.
// Thread contract: functions without state.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/convert/table_filter.h"
#include "server/mysql/mysql_connection.h"
#include "server/schema/table_schema.h"

namespace canal::snapshot {

// The chunking key's columns in a table definition, in key order.
struct KeyColumns {
  std::vector<std::uint32_t> indexes;
  std::vector<const schema::ColumnSchema*> columns;
};

// `key`'s columns in `table`; Unavailable when one is no longer there (the key changed).
Result<KeyColumns> keyColumns(const schema::TableSchema& table, const std::vector<std::string>& key);

struct ChunkQuery {
  std::string database;
  std::string table;
  const schema::TableSchema* definition = nullptr;
  const KeyColumns* key = nullptr;
  // The last key read (the values as the SELECT returned them); nullopt: from the first row.
  const std::optional<std::vector<std::string>>* after = nullptr;
  std::string where;  // a boolean expression; empty: every row
  std::size_t limit = 0;  // 0: no limit
  // The last key of the range (inclusive); nullptr or nullopt: to the table's end.
  const std::optional<std::vector<std::string>>* upTo = nullptr;
};

// FLOAT, and FLOAT(M,D) / DOUBLE(M,D), which print only D decimals of what they hold, are read as
// DOUBLE: enough digits to name the stored value exactly, as the binlog holds it.
std::string chunkSelect(const ChunkQuery& query);
// The key columns of the query's last row when it has `limit` rows (none: fewer): where a range
// of that many rows after `after` ends. Read on the key's index alone.
std::string boundarySelect(const ChunkQuery& query);

// `name` quoted as an identifier.
std::string quoteName(const std::string& name);
// A SQL literal equal to a key value as the SELECT returned it (character_set_results = binary):
// integers as numbers, binary columns byte for byte, character columns in their own charset.
std::string keyLiteral(const schema::ColumnSchema& column, const std::string& value);

// The base tables of the primary's user databases that `filter` accepts.
Result<std::vector<std::pair<std::string, std::string>>> matchingTables(mysql::MysqlConnection& connection,
                                                                        const convert::TableFilter& filter);

// The key a table is chunked by: its primary key, else a unique key on NOT NULL columns (column
// names in key order); InvalidArgument naming the table when it has neither.
Result<std::vector<std::string>> chunkKey(mysql::MysqlConnection& connection, const std::string& database,
                                          const std::string& table);

}  // namespace canal::snapshot
