#pragma once

// A table's definition as the primary gives it (information_schema), and where definitions come
// from: the primary through a SchemaCache (schema_cache.h), or fixed ones in tests.

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/common/status.h"

namespace canal::schema {

struct ColumnSchema {
  std::string name;
  std::string columnType;  // "int(11) unsigned", "varchar(32)", "enum('a','b')"
  std::string dataType;    // "int", "varchar", "enum"
  bool isUnsigned = false;
  bool isBinary = false;   // BINARY/VARBINARY/BLOB (no character set)
  bool isPrimaryKey = false;
  std::vector<std::string> members;  // ENUM / SET
  std::string charset;     // character columns, when known ("utf8mb4", "latin1")
};

struct TableSchema {
  std::string database;
  std::string table;
  std::vector<ColumnSchema> columns;
  std::string columnList() const;  // "id int(11), name varchar(32)"
};

using TableKey = std::pair<std::string, std::string>;  // database, table
using TableSet = std::map<TableKey, TableSchema>;

struct SchemaPosition;

// The definitions a binlog's rows are decoded with, at the stream's position.
// Thread contract: one thread.
class TableDefinitions {
 public:
  virtual ~TableDefinitions() = default;
  // The definition of `database`.`table` at `at` (the position it is needed at; null: now).
  // NotFound when there is no such table.
  virtual Result<std::shared_ptr<const TableSchema>> table(const std::string& database, const std::string& table,
                                                           const SchemaPosition* at = nullptr) = 0;
  // A DDL statement seen in the stream (ending at `at`): rows after it decode with its result.
  virtual Status applyDdl(const std::string& sql, const std::string& database, const SchemaPosition* at = nullptr) = 0;
};

}  // namespace canal::schema
