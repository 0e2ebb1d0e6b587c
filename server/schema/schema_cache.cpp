#include "server/schema/schema_cache.h"

#include "server/binlog/column_type.h"
#include "server/binlog/format_description.h"
#include "server/schema/ddl_applier.h"
#include "server/schema/schema_history.h"

namespace canal::schema {
namespace {

std::string binlogColumnList(const binlog::TableMapEvent& map) {
  std::string out;
  for (std::size_t i = 0; i < map.columns.size(); ++i) {
    if (i) out += ", ";
    out += map.columnName(i) + " " + std::string(binlog::columnTypeName(map.columns[i].realType));
  }
  return out;
}

// MariaDB's JSON: a BLOB-family column the definition names `json`; its UUID, INET6 and INET4:
// a BINARY of their size.
binlog::DeclaredType declaredType(const ColumnSchema& s, const binlog::ColumnDef& c) {
  using binlog::DeclaredType;
  if (s.dataType == "json" && binlog::isBlobFamily(c.realType)) return DeclaredType::kJson;
  if (c.realType != binlog::kTypeString) return DeclaredType::kNone;
  if (s.dataType == "uuid" && c.maxLength == 16) return DeclaredType::kUuid;
  if (s.dataType == "inet6" && c.maxLength == 16) return DeclaredType::kInet6;
  if (s.dataType == "inet4" && c.maxLength == 4) return DeclaredType::kInet4;
  return DeclaredType::kNone;
}

}  // namespace

std::vector<std::string> enumMembers(std::string_view columnType) {
  std::vector<std::string> out;
  const auto open = columnType.find('(');
  if (open == std::string::npos) return out;
  std::string current;
  bool in = false;
  for (std::size_t i = open + 1; i < columnType.size(); ++i) {
    const char c = columnType[i];
    if (!in) {
      if (c == '\'') in = true;
      else if (c == ')') break;
      continue;
    }
    if (c == '\'') {
      if (i + 1 < columnType.size() && columnType[i + 1] == '\'') {
        current.push_back('\'');
        ++i;
      } else {
        out.push_back(std::move(current));
        current.clear();
        in = false;
      }
    } else if (c == '\\' && i + 1 < columnType.size()) {
      current.push_back(columnType[++i]);
    } else {
      current.push_back(c);
    }
  }
  return out;
}

std::string TableSchema::columnList() const {
  std::string out;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ", ";
    out += columns[i].name + " " + columns[i].columnType;
  }
  return out;
}

Status SchemaCache::ensureConnected() {
  if (connection_) return Status::ok();
  auto c = mysql::MysqlConnection::connect(connect_);
  if (!c) return c.status();
  connection_ = std::move(*c);
  return Status::ok();
}

TypeSpelling SchemaCache::spelling() const {
  TypeSpelling spelling;
  if (connection_ && !connection_->isMariaDb()) {
    const auto v = binlog::parseServerVersion(connection_->serverVersion());
    spelling.integerDisplayWidths = v < std::array<int, 3>{8, 0, 19};
  }
  return spelling;
}

Status SchemaCache::start(SchemaHistory& history, const SchemaPosition& at) {
  history_ = &history;
  if (history.empty()) {
    auto all = readAll();
    if (!all) return all.status().withContext("first schema snapshot");
    CANAL_RETURN_IF_ERROR(history.appendSnapshot(at, *all));
    hold(std::move(*all));
    return Status::ok();
  }
  CANAL_RETURN_IF_ERROR(ensureConnected());  // for the primary's type spelling
  auto restored = history.restore(at, spelling());
  if (!restored) return restored.status();
  hold(std::move(*restored));
  return Status::ok();
}

Status SchemaCache::start() {
  auto all = readAll();
  if (!all) return all.status().withContext("first schema snapshot");
  hold(std::move(*all));
  return Status::ok();
}

void SchemaCache::hold(TableSet tables) {
  tables_.clear();
  for (auto& [key, table] : tables) tables_[key] = std::make_shared<const TableSchema>(std::move(table));
}

Result<std::shared_ptr<const TableSchema>> SchemaCache::table(const std::string& database, const std::string& table,
                                                             const SchemaPosition* at) {
  const auto key = std::make_pair(database, table);
  if (const auto it = tables_.find(key); it != tables_.end()) return it->second;
  auto loaded = load(database, table);
  if (!loaded) return loaded.status();
  if (history_ && at) CANAL_RETURN_IF_ERROR(history_->appendTable(*at, **loaded));
  tables_[key] = *loaded;
  return *loaded;
}

Status SchemaCache::applyDdl(const std::string& sql, const std::string& database, const SchemaPosition* at) {
  if (history_ && at) CANAL_RETURN_IF_ERROR(history_->appendDdl(*at, database, sql));
  TableSet held;
  for (const auto& [key, schema] : tables_) held[key] = *schema;
  const DdlEffect effect = schema::applyDdl(held, sql, database, spelling());
  if (!effect.understood) {
    forgetUnknown(held, effect, database);
    for (auto it = tables_.begin(); it != tables_.end();) it = held.count(it->first) ? std::next(it) : tables_.erase(it);
  }
  for (const auto& key : effect.touched) {
    const auto it = held.find(key);
    if (it != held.end()) {
      tables_[key] = std::make_shared<const TableSchema>(it->second);
    } else {
      tables_.erase(key);
    }
  }
  return Status::ok();
}

namespace {

constexpr const char* kColumnsQuery =
    "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, CHARACTER_SET_NAME, COLUMN_KEY "
    "FROM information_schema.COLUMNS ";

ColumnSchema columnFromRow(const std::vector<std::optional<std::string>>& row) {
  ColumnSchema c;
  c.name = row[2].value_or("");
  c.columnType = row[3].value_or("");
  c.dataType = row[4].value_or("");
  c.isUnsigned = c.columnType.find(" unsigned") != std::string::npos;
  c.isBinary = !row[5].has_value() &&
               (c.dataType.find("binary") != std::string::npos || c.dataType.find("blob") != std::string::npos);
  c.charset = row[5].value_or("");
  c.isPrimaryKey = row[6].value_or("") == "PRI";
  if (c.dataType == "enum" || c.dataType == "set") c.members = enumMembers(c.columnType);
  return c;
}

}  // namespace

void SchemaCache::markJsonColumns(TableSet& tables) {
  // MariaDB lists a JSON column as LONGTEXT; what remains of the declared type is the column
  // check it adds, json_valid(`name`). MariaDB before 10.2.22 has no CHECK_CONSTRAINTS: no marks.
  auto checks = connection_->query(
      "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
      "WHERE CHECK_CLAUSE LIKE 'json\\_valid(%'");
  if (!checks) return;
  for (const auto& row : checks->rows) {
    const auto it = tables.find({row[0].value_or(""), row[1].value_or("")});
    if (it == tables.end()) continue;
    for (ColumnSchema& c : it->second.columns) {
      if (c.dataType == "longtext" && row[2].value_or("") == "json_valid(`" + c.name + "`)") {
        c.columnType = "json";
        c.dataType = "json";
      }
    }
  }
}

Result<TableSet> SchemaCache::readTables(const std::string& condition) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    CANAL_RETURN_IF_ERROR(ensureConnected());
    auto rows = connection_->query(std::string(kColumnsQuery) + "WHERE " + condition +
                                   " ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION");
    if (!rows) {
      if (rows.status().code() == StatusCode::kUnavailable && attempt == 0) {
        connection_.reset();  // the link dropped: one more try on a new one
        continue;
      }
      return rows.status();
    }
    TableSet out;
    for (const auto& row : rows->rows) {
      TableSchema& t = out[{row[0].value_or(""), row[1].value_or("")}];
      t.database = row[0].value_or("");
      t.table = row[1].value_or("");
      t.columns.push_back(columnFromRow(row));
    }
    if (connection_->isMariaDb()) markJsonColumns(out);
    return out;
  }
  return Status::unavailable("cannot read table definitions from the primary (" + condition + ")");
}

Result<TableSet> SchemaCache::readAll() {
  return readTables("TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')");
}

Result<std::shared_ptr<const TableSchema>> SchemaCache::load(const std::string& database, const std::string& table) {
  auto found = readTables("TABLE_SCHEMA = " + mysql::MysqlConnection::quote(database) +
                          " AND TABLE_NAME = " + mysql::MysqlConnection::quote(table));
  if (!found) return found.status();
  if (found->empty()) {
    return Status::notFound("table " + database + "." + table + " does not exist on the primary", connection_->peer());
  }
  return std::make_shared<const TableSchema>(std::move(found->begin()->second));
}

Status applySchema(binlog::TableMapEvent& map, const TableSchema& schema, const std::string& where) {
  if (map.columns.size() != schema.columns.size()) {
    return Status::corruption(where, "TABLE_MAP of " + map.database + "." + map.table + " has " +
                                         std::to_string(map.columns.size()) + " columns (" + binlogColumnList(map) +
                                         ") but the table has " + std::to_string(schema.columns.size()) + " (" +
                                         schema.columnList() + ")");
  }
  for (std::size_t i = 0; i < map.columns.size(); ++i) {
    binlog::ColumnDef& c = map.columns[i];
    const ColumnSchema& s = schema.columns[i];
    if (c.name.empty()) c.name = s.name;
    if (!c.isUnsigned && binlog::isNumericType(c.type)) c.isUnsigned = s.isUnsigned;
    if (!c.collation && (s.isBinary || binlog::isCharacterType(c.realType) || binlog::isEnumOrSet(c.realType))) {
      c.collation = collationHint(s);
    }
    if (!map.hasPrimaryKey) c.isPrimaryKey = s.isPrimaryKey;
    if (c.members.empty()) c.members = s.members;
    c.declared = declaredType(s, c);
  }
  map.hasNames = true;
  map.hasPrimaryKey = true;
  return Status::ok();
}

std::uint32_t collationHint(const ColumnSchema& column) {
  if (column.isBinary) return binlog::kBinaryCollation;
  if (column.charset == "latin1") return 8;  // latin1_swedish_ci: only its being latin1 matters
  return 0;                                  // some other character set
}

bool applyDeclaredTypes(binlog::TableMapEvent& map, const TableSchema& schema) {
  if (map.columns.size() != schema.columns.size()) return false;
  for (std::size_t i = 0; i < map.columns.size(); ++i) {
    if (map.columns[i].name != schema.columns[i].name) return false;  // another version of the table
  }
  for (std::size_t i = 0; i < map.columns.size(); ++i) map.columns[i].declared = declaredType(schema.columns[i], map.columns[i]);
  return true;
}

}  // namespace canal::schema
