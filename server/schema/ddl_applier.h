#pragma once

// Replays table DDL on known table definitions, so rows logged between two DDL statements are
// decoded with the columns they were written with: CREATE TABLE (column list or LIKE), ALTER
// TABLE ADD/DROP/MODIFY/CHANGE/RENAME COLUMN (FIRST/AFTER), ADD/DROP PRIMARY KEY, RENAME TO,
// RENAME TABLE, DROP TABLE, DROP DATABASE. What it cannot follow (CREATE ... SELECT, syntax it
// does not know) it reports, so the caller reads the definition from the primary instead.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/schema/schema_cache.h"

namespace canal::schema {

using TableKey = std::pair<std::string, std::string>;  // database, table
using TableSet = std::map<TableKey, TableSchema>;

struct DdlEffect {
  bool understood = true;           // false: the statement's effect on `tables` is unknown
  std::vector<TableKey> touched;    // tables whose definitions changed, appeared or went
};

// How the server spells types in SHOW CREATE TABLE / information_schema: MariaDB and MySQL
// before 8.0.19 give integers their display width ("int(11)", "int(10) unsigned").
struct TypeSpelling {
  bool integerDisplayWidths = true;
};

// Applies `sql` (run with default database `database`) to `tables`. Tables it does not hold are
// left alone except when the statement defines them (CREATE TABLE with columns).
DdlEffect applyDdl(TableSet& tables, std::string_view sql, const std::string& database, TypeSpelling spelling = {});

// One column definition ("`c` int(10) unsigned NOT NULL") as a ColumnSchema, its columnType
// spelled as the server would; false if it is not one.
bool parseColumnDefinition(std::string_view text, ColumnSchema& out, TypeSpelling spelling = {});

}  // namespace canal::schema
