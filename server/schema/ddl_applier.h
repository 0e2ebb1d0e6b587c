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

struct DdlEffect {
  bool understood = true;           // false: the statement's effect on `tables` is unknown
  std::vector<TableKey> touched;    // tables whose definitions changed, appeared or went
};

// Applies `sql` (run with default database `database`) to `tables`. Tables it does not hold are
// left alone except when the statement defines them (CREATE TABLE with columns).
DdlEffect applyDdl(TableSet& tables, std::string_view sql, const std::string& database, TypeSpelling spelling = {});

// After a statement applyDdl() did not understand: forgets the tables it touched, or, when it
// cannot say which, every table of `database`, so they are read from the primary again.
void forgetUnknown(TableSet& tables, const DdlEffect& effect, const std::string& database);

// One column definition ("`c` int(10) unsigned NOT NULL") as a ColumnSchema, its columnType
// spelled as the server would; false if it is not one.
bool parseColumnDefinition(std::string_view text, ColumnSchema& out, TypeSpelling spelling = {});

}  // namespace canal::schema
