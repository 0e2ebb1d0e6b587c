#pragma once

// The SQL that applies a batch's row changes to a MariaDB/MySQL target, in binlog order: an
// INSERT or UPDATE is an upsert of the row (INSERT ... ON DUPLICATE KEY UPDATE), a DELETE a
// delete by key, an UPDATE that changes the key a delete of the old key then an upsert.
// Consecutive upserts of one table and column list, and consecutive deletes of one table, go in
// one statement (up to batchRows rows), which keeps the order of each key's changes.
// Thread contract: functions without state.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "canal/client/status.h"
#include "forwarder/change.h"
#include "forwarder/forwarder_config.h"

namespace canal::forwarder {

// The target connection's escaping of a string's contents (mysql_real_escape_string).
using SqlEscape = std::function<std::string(std::string_view)>;

struct SqlBatch {
  std::vector<std::string> statements;
  std::size_t rows = 0;  // row images the statements carry
};

// kSinkFatal naming the change when a row has no key to delete or move it by.
client::Result<SqlBatch> sqlStatements(const std::vector<SqlMapping>& mappings, const std::vector<const Change*>& changes,
                                       const SqlEscape& escape, int batchRows);

// A column's value as a SQL literal: NULL; numbers as they are; BLOB and binary values (Canal
// sends their bytes as ISO-8859-1 characters) as X'..' of those bytes; anything else quoted.
std::string sqlLiteral(const eb::Column& column, const SqlEscape& escape);

// `name` quoted as an identifier; "schema.table" as `schema`.`table`.
std::string sqlName(std::string_view name);

}  // namespace canal::forwarder
