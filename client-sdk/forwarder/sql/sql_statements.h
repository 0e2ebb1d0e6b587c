#pragma once

// The SQL that applies a batch's row changes to a MariaDB/MySQL or PostgreSQL target, in binlog
// order: an INSERT or UPDATE is an upsert of the row (INSERT ... ON DUPLICATE KEY UPDATE, or
// INSERT ... ON CONFLICT (key) DO UPDATE), a DELETE a delete by key, an UPDATE that changes the
// key a delete of the old key then an upsert. Consecutive upserts of one table and column list,
// and consecutive deletes of one table, go in one statement (up to batchRows rows; on
// PostgreSQL, which refuses one statement touching a row twice, a key's second upsert starts the
// next), which keeps the order of each key's changes. Thread contract: functions without state.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canal/client/status.h"
#include "forwarder/change.h"
#include "forwarder/forwarder_config.h"
#include "forwarder/row_condition.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {

// The target connection's escaping of a string's contents between single quotes
// (mysql_real_escape_string, PQescapeStringConn).
using SqlEscape = std::function<std::string(std::string_view)>;

struct SqlDialect {
  bool postgres = false;  // else MariaDB/MySQL
  SqlEscape escape;
  // PostgreSQL: upserts of a statement of at least this many rows go through COPY into a
  // session-local staging table (0: never). Mappings with a `cast` always use literals.
  std::size_t copyRows = 0;
};

// The rows of an upsert statement on PostgreSQL copied in first: `data` (COPY's text format) by
// `copy` into `stage`, a temporary table of the target's columns made by `create` once per
// connection (ON COMMIT DELETE ROWS); the statement then moves them from there into the target
// (WITH ... DELETE FROM stage RETURNING ... INSERT ... ON CONFLICT), which leaves it empty.
struct SqlCopy {
  std::string stage;
  std::string create;
  std::string copy;
  std::string data;
};

struct SqlBatch {
  std::vector<std::string> statements;
  std::vector<std::string> origins;  // per statement: its first row's change (Change::where())
  std::vector<std::optional<SqlCopy>> copies;  // per statement: the rows it copies in first
  std::size_t rows = 0;  // row images the statements carry
};

// One of `count` lanes of a parallel apply: it takes the rows whose key (the target table and
// the key's values, FNV-1a) falls to `index`, so each key's changes stay on one lane, in order.
struct SqlLane {
  std::size_t index = 0;
  std::size_t count = 1;
};

// The mappings made ready once: their table expressions and `where` conditions compiled.
// Thread contract: one thread (the matcher caches its decisions).
class SqlPlan {
 public:
  // kSinkFatal naming a `where` that does not compile, or the expression error.
  static client::Result<SqlPlan> create(const std::vector<SqlMapping>& mappings);
  const std::vector<SqlMapping>& mappings() const { return *mappings_; }
  // The mapping of `qualifiedName` (the first that takes it) and its condition (null: none).
  std::optional<std::size_t> mappingOf(const std::string& qualifiedName) const { return matcher_.of(qualifiedName); }
  const RowCondition* conditionOf(std::size_t mapping) const {
    return conditions_[mapping] ? &*conditions_[mapping] : nullptr;
  }

 private:
  SqlPlan(const std::vector<SqlMapping>& mappings, publish::FirstMatch matcher)
      : mappings_(&mappings), matcher_(std::move(matcher)) {}
  const std::vector<SqlMapping>* mappings_;  // outlives the plan
  publish::FirstMatch matcher_;
  std::vector<std::optional<RowCondition>> conditions_;
};

// kSinkFatal naming the change when a row has no key to delete or move it by. With `lane`, only
// that lane's rows (a key change's delete goes with the old key, its upsert with the new).
client::Result<SqlBatch> sqlStatements(const SqlPlan& plan, const std::vector<const Change*>& changes,
                                       const SqlDialect& dialect, int batchRows, const SqlLane& lane = SqlLane{});
// The same with a plan made for this call.
client::Result<SqlBatch> sqlStatements(const std::vector<SqlMapping>& mappings, const std::vector<const Change*>& changes,
                                       const SqlDialect& dialect, int batchRows, const SqlLane& lane = SqlLane{});

// A column's value as a SQL literal: NULL; BLOB and binary values (Canal sends their bytes as
// ISO-8859-1 characters) as those bytes (X'..', PostgreSQL '\x..'); on MariaDB numbers as they
// are; anything else quoted (PostgreSQL converts a quoted literal to the column's type). With a
// `cast` (a target SQL type): CAST(literal AS cast).
std::string sqlLiteral(const eb::Column& column, const SqlDialect& dialect, const std::string& cast = "");

// CREATE TABLE IF NOT EXISTS of `target` (quoted) from the source's `columns` (those the mapping
// writes, by their target names): PostgreSQL types by postgresType (or the mapping's cast),
// MariaDB's the source's; the key's columns NOT NULL and the primary key. kSinkFatal naming
// `what` and a column without a type.
client::Result<std::string> createTableStatement(const SqlMapping& m, const std::string& target,
                                                 const std::vector<SourceColumn>& columns, bool postgres,
                                                 const std::string& what);
// The same from change `c`'s first row.
client::Result<std::string> createTableStatement(const SqlMapping& m, const Change& c, bool postgres);

// The quoted target table of change `c` (of `database`.`table`) under mapping `m`.
std::string sqlTarget(const SqlMapping& m, const Change& c, bool postgres);
std::string sqlTarget(const SqlMapping& m, const std::string& database, const std::string& table, bool postgres);

// `name` quoted as an identifier; "schema.table" as `schema`.`table` ("schema"."table").
std::string sqlName(std::string_view name, bool postgres = false);

}  // namespace canal::forwarder
