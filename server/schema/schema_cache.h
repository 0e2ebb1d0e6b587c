#pragma once

// Table definitions read from the primary (information_schema), for binlogs whose TABLE_MAPs
// carry no optional metadata (MariaDB's default binlog_row_metadata=NO_LOG, MySQL's MINIMAL):
// column names, the type text Canal reports as mysqlType, signedness, binary-ness and the
// primary key. A TABLE_MAP is checked against the definition before any value is mapped onto
// it: a different column count stops with an error naming both lists, never a shifted row.
//
// Definitions read from the primary are its current ones; DDL passing in the stream is replayed
// on them (what the replay cannot follow is read again). With a SchemaHistory attached, every
// definition read and every DDL is recorded at its binlog position, so a restart restores the
// definitions of the position it resumes from. Thread contract: one thread.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/binlog/table_map.h"
#include "server/common/status.h"
#include "server/mysql/mysql_connection.h"
#include "server/schema/table_schema.h"

namespace canal::schema {

// How the server spells types in SHOW CREATE TABLE / information_schema: MariaDB and MySQL
// before 8.0.19 give integers their display width ("int(11)", "int(10) unsigned").
struct TypeSpelling {
  bool integerDisplayWidths = true;
};

class SchemaHistory;

class SchemaCache final : public TableDefinitions {
 public:
  explicit SchemaCache(mysql::ConnectOptions connect) : connect_(std::move(connect)) {}

  // Records definitions and DDL in `history` from now on; it must outlive the cache.
  void setHistory(SchemaHistory* history) { history_ = history; }
  // Starts from the definitions `history` holds at `at` (cutting it back there); when it holds
  // none, from a snapshot of every table on the primary, recorded at `at` (Canal's first
  // snapshot: exact when `at` is the primary's current end).
  Status start(SchemaHistory& history, const SchemaPosition& at);
  // Without a history: starts from a snapshot of every table on the primary, so a table first
  // used after a DDL that the stream has not reached yet still decodes with its old columns
  // (exact when the stream starts at the primary's current end).
  Status start();

  // The definition of `database`.`table`, read once and kept until DDL changes it; `at` is the
  // position it is needed at, for the history.
  Result<std::shared_ptr<const TableSchema>> table(const std::string& database, const std::string& table,
                                                   const SchemaPosition* at = nullptr) override;
  // Replays a DDL statement seen in the stream (ending at `at`) on the definitions held, so rows
  // after it decode with the new columns and rows before it were decoded with the old ones.
  // What the replay cannot follow is forgotten and read from the primary when next needed.
  // An error only when the history cannot be written.
  Status applyDdl(const std::string& sql, const std::string& database, const SchemaPosition* at = nullptr) override;

  // Reads every table of the primary's user databases.
  Result<TableSet> readAll();
  // Reads the primary's current definition of one table (not kept).
  Result<std::shared_ptr<const TableSchema>> current(const std::string& database, const std::string& table) {
    return load(database, table);
  }
  std::size_t size() const { return tables_.size(); }

 private:
  Status ensureConnected();
  TypeSpelling spelling() const;
  // The tables whose information_schema.COLUMNS rows match `condition`.
  Result<TableSet> readTables(const std::string& condition);
  void hold(TableSet tables);  // replaces the definitions held
  Result<std::shared_ptr<const TableSchema>> load(const std::string& database, const std::string& table);
  void markJsonColumns(TableSet& tables);  // MariaDB: LONGTEXT columns declared as JSON

  mysql::ConnectOptions connect_;
  std::unique_ptr<mysql::MysqlConnection> connection_;
  SchemaHistory* history_ = nullptr;
  std::map<TableKey, std::shared_ptr<const TableSchema>> tables_;
};

// The members of "enum('a','b''c')" / "set(...)" as written in a column type.
std::vector<std::string> enumMembers(std::string_view columnType);

// Fills what the TABLE_MAP lacks (names, signedness, binary collation, key, members) from
// `schema`. Corruption naming the table, `where` and both column lists when they cannot be the
// same table (different column count).
Status applySchema(binlog::TableMapEvent& map, const TableSchema& schema, const std::string& where);

// A TABLE_MAP with full metadata still lacks what only the declared type says: whether a text
// column is a MariaDB JSON, a BINARY(16) a UUID. Marks them in `map` and returns true when `map`
// and `schema` name the same columns in the same order (otherwise `schema` is another version
// of the table: nothing is marked, false).
bool applyDeclaredTypes(binlog::TableMapEvent& map, const TableSchema& schema);

// The collation the binlog would give a column of `column`'s definition, as far as rendering
// tells them apart: binary (63), latin1 (8) or another character set (0).
std::uint32_t collationHint(const ColumnSchema& column);

}  // namespace canal::schema
