#include "server/snapshot/chunk_query.h"

#include <set>

#include "canal/protocol/hex.h"

namespace canal::snapshot {

std::string quoteName(const std::string& name) {
  std::string out = "`";
  for (const char c : name) {
    if (c == '`') out.push_back('`');
    out.push_back(c);
  }
  return out + "`";
}

std::string keyLiteral(const schema::ColumnSchema& c, const std::string& value) {
  // An integer key as a number: compared as a string, the primary would convert every row's key.
  static const std::set<std::string> integers = {"tinyint", "smallint", "mediumint", "int", "bigint"};
  if (integers.count(c.dataType) && !value.empty() &&
      value.find_first_not_of("0123456789", value[0] == '-' ? 1 : 0) == std::string::npos && value != "-") {
    return value;
  }
  if (c.isBinary) return "X'" + protocol::toHex(value) + "'";
  if (!c.charset.empty()) return "CONVERT(X'" + protocol::toHex(value) + "' USING " + c.charset + ")";
  return mysql::MysqlConnection::quote(value);
}

Result<KeyColumns> keyColumns(const schema::TableSchema& def, const std::vector<std::string>& key) {
  KeyColumns out;
  for (const std::string& k : key) {
    for (std::uint32_t i = 0; i < def.columns.size(); ++i) {
      if (def.columns[i].name != k) continue;
      out.indexes.push_back(i);
      out.columns.push_back(&def.columns[i]);
    }
  }
  if (out.indexes.size() != key.size()) {
    return Status::unavailable("the key of " + def.database + "." + def.table + " changed");
  }
  return out;
}

namespace {

// (k1, k2, ...) op (v1, v2, ...) as (k1 op v1) OR (k1 = v1 AND k2 op v2) OR ..., with `last`
// (the comparison of the last column) "<=" for an inclusive upper bound.
std::string rowComparison(const KeyColumns& key, const std::vector<std::string>& values, const char* op,
                          const char* last) {
  const auto& columns = key.columns;
  std::string disjunction;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    std::string term;
    for (std::size_t j = 0; j < i; ++j) {
      term += quoteName(columns[j]->name) + " = " + keyLiteral(*columns[j], values[j]) + " AND ";
    }
    term += quoteName(columns[i]->name) + (i + 1 == columns.size() ? last : op) + keyLiteral(*columns[i], values[i]);
    disjunction += (i ? " OR (" : "(") + term + ")";
  }
  return "(" + disjunction + ")";
}

// FROM, WHERE and ORDER BY of a chunk's rows.
std::string chunkRange(const ChunkQuery& q) {
  std::string out = " FROM " + quoteName(q.database) + "." + quoteName(q.table);
  std::vector<std::string> conditions;
  if (q.after && *q.after) conditions.push_back(rowComparison(*q.key, **q.after, " > ", " > "));
  if (q.upTo && *q.upTo) conditions.push_back(rowComparison(*q.key, **q.upTo, " < ", " <= "));
  if (!q.where.empty()) conditions.push_back("(" + q.where + ")");
  for (std::size_t i = 0; i < conditions.size(); ++i) out += (i ? " AND " : " WHERE ") + conditions[i];
  out += " ORDER BY ";
  for (std::size_t i = 0; i < q.key->columns.size(); ++i) out += (i ? ", " : "") + quoteName(q.key->columns[i]->name);
  return out;
}

}  // namespace

std::string chunkSelect(const ChunkQuery& q) {
  const schema::TableSchema& def = *q.definition;
  std::string select = "SELECT ";
  for (std::size_t i = 0; i < def.columns.size(); ++i) {
    if (i) select += ", ";
    const schema::ColumnSchema& c = def.columns[i];
    const bool widened = c.dataType == "float" || (c.dataType == "double" && c.columnType.find('(') != std::string::npos);
    select += widened ? "CAST(" + quoteName(c.name) + " AS DOUBLE)" : quoteName(c.name);
  }
  select += chunkRange(q);
  if (q.limit) select += " LIMIT " + std::to_string(q.limit);
  return select;
}

std::string boundarySelect(const ChunkQuery& q) {
  std::string select = "SELECT ";
  for (std::size_t i = 0; i < q.key->columns.size(); ++i) select += (i ? ", " : "") + quoteName(q.key->columns[i]->name);
  return select + chunkRange(q) + " LIMIT 1 OFFSET " + std::to_string(q.limit > 0 ? q.limit - 1 : 0);
}

Result<std::vector<std::pair<std::string, std::string>>> matchingTables(mysql::MysqlConnection& connection,
                                                                        const convert::TableFilter& filter) {
  auto rows = connection.query(
      "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND "
      "TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') "
      "ORDER BY TABLE_SCHEMA, TABLE_NAME");
  if (!rows) return rows.status();
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& row : rows->rows) {
    const std::string database = row[0].value_or("");
    const std::string table = row[1].value_or("");
    if (filter.accepts(database, table)) out.emplace_back(database, table);
  }
  return out;
}

Result<std::vector<std::string>> chunkKey(mysql::MysqlConnection& connection, const std::string& database,
                                          const std::string& table) {
  auto rows = connection.query(
      "SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE, s.SUB_PART FROM information_schema.STATISTICS s "
      "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME "
      "AND c.COLUMN_NAME = s.COLUMN_NAME WHERE s.TABLE_SCHEMA = " + mysql::MysqlConnection::quote(database) +
      " AND s.TABLE_NAME = " + mysql::MysqlConnection::quote(table) +
      " AND s.NON_UNIQUE = 0 ORDER BY s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX");
  if (!rows) return rows.status();
  std::vector<std::string> key;
  std::string index;
  bool usable = true;
  for (const auto& row : rows->rows) {
    const std::string name = row[0].value_or("");
    if (name != index) {
      if (!index.empty() && usable) return key;
      index = name;
      key.clear();
      usable = true;
    }
    key.push_back(row[1].value_or(""));
    if (row[2].value_or("") != "NO" || row[3].has_value()) usable = false;
  }
  if (!index.empty() && usable) return key;
  return Status::invalidArgument("table " + database + "." + table +
                                 " has neither a primary key nor a unique key on NOT NULL columns: it cannot be "
                                 "snapshotted in chunks");
}

}  // namespace canal::snapshot
