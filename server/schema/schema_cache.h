#pragma once

// Table definitions read from the primary (information_schema), for binlogs whose TABLE_MAPs
// carry no optional metadata (MariaDB's default binlog_row_metadata=NO_LOG, MySQL's MINIMAL):
// column names, the type text Canal reports as mysqlType, signedness, binary-ness and the
// primary key. A TABLE_MAP is checked against the definition before any value is mapped onto
// it: a different column count stops with an error naming both lists, never a shifted row.
//
// The definitions are the primary's current ones; a table changed by DDL is read again when
// the DDL passes in the stream (invalidate()). Thread contract: one thread.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/binlog/table_map.h"
#include "server/common/status.h"
#include "server/mysql/mysql_connection.h"

namespace canal::schema {

struct ColumnSchema {
  std::string name;
  std::string columnType;  // "int(11) unsigned", "varchar(32)", "enum('a','b')"
  std::string dataType;    // "int", "varchar", "enum"
  bool isUnsigned = false;
  bool isBinary = false;   // BINARY/VARBINARY/BLOB (no character set)
  bool isPrimaryKey = false;
  std::vector<std::string> members;  // ENUM / SET
};

struct TableSchema {
  std::string database;
  std::string table;
  std::vector<ColumnSchema> columns;
  std::string columnList() const;  // "id int(11), name varchar(32)"
};

class SchemaCache {
 public:
  explicit SchemaCache(mysql::ConnectOptions connect) : connect_(std::move(connect)) {}

  // The definition of `database`.`table`, read once and kept until invalidated.
  Result<std::shared_ptr<const TableSchema>> table(const std::string& database, const std::string& table);
  void invalidate(const std::string& database, const std::string& table);
  void invalidateDatabase(const std::string& database);
  // Replays a DDL statement seen in the stream on the definitions held, so rows after it decode
  // with the new columns and rows before it were decoded with the old ones. What the replay
  // cannot follow is forgotten and read from the primary when next needed.
  void applyDdl(const std::string& sql, const std::string& database);

 private:
  Result<std::shared_ptr<const TableSchema>> load(const std::string& database, const std::string& table);

  mysql::ConnectOptions connect_;
  std::unique_ptr<mysql::MysqlConnection> connection_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const TableSchema>> tables_;
};

// The members of "enum('a','b''c')" / "set(...)" as written in a column type.
std::vector<std::string> enumMembers(std::string_view columnType);

// Fills what the TABLE_MAP lacks (names, signedness, binary collation, key, members) from
// `schema`. Corruption naming the table, `where` and both column lists when they cannot be the
// same table (different column count).
Status applySchema(binlog::TableMapEvent& map, const TableSchema& schema, const std::string& where);

}  // namespace canal::schema
