#include "server/schema/ddl_applier.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "server/common/ascii.h"
#include "server/common/sql_cursor.h"

namespace canal::schema {
namespace {

// The spelling of the statement being applied (applyDdl sets it; one statement at a time).
thread_local TypeSpelling currentSpelling;

// The type text the server shows for `dataType` with the arguments as written.
std::string spellType(std::string dataType, std::string args, bool isUnsigned, bool zerofill, TypeSpelling spelling) {
  static const std::map<std::string, std::string> kAliases = {
      {"integer", "int"}, {"int4", "int"}, {"int8", "bigint"}, {"int1", "tinyint"}, {"int2", "smallint"},
      {"int3", "mediumint"}, {"middleint", "mediumint"}, {"dec", "decimal"}, {"numeric", "decimal"},
      {"fixed", "decimal"}, {"real", "double"}, {"float8", "double"}, {"float4", "float"},
      {"nchar", "char"}, {"nvarchar", "varchar"}, {"long", "mediumtext"}};
  if (const auto it = kAliases.find(dataType); it != kAliases.end()) dataType = it->second;
  if (dataType == "bool" || dataType == "boolean") return "tinyint(1)";
  if (dataType == "serial") return spelling.integerDisplayWidths ? "bigint(20) unsigned" : "bigint unsigned";
  static const std::map<std::string, std::pair<int, int>> kWidths = {  // signed, unsigned
      {"tinyint", {4, 3}}, {"smallint", {6, 5}}, {"mediumint", {9, 8}}, {"int", {11, 10}}, {"bigint", {20, 20}}};
  std::string out = dataType;
  if (const auto w = kWidths.find(dataType); w != kWidths.end()) {
    if (!args.empty() && spelling.integerDisplayWidths) out += args;
    else if (args.empty() && spelling.integerDisplayWidths) {
      out += "(" + std::to_string(isUnsigned || zerofill ? w->second.second : w->second.first) + ")";
    } else if (dataType == "tinyint" && args == "(1)") {
      out += args;  // MySQL 8 keeps tinyint(1), the boolean spelling
    }
  } else if (dataType == "decimal") {
    out += args.empty() ? "(10,0)" : args.find(',') == std::string::npos ? "(" + args.substr(1, args.size() - 2) + ",0)" : args;
  } else if ((dataType == "char" || dataType == "binary" || dataType == "bit") && args.empty()) {
    out += "(1)";
  } else if (dataType == "year" && args.empty() && spelling.integerDisplayWidths) {
    out += "(4)";
  } else if (dataType == "float" && !args.empty() && args.find(',') == std::string::npos) {
    // float(p): single precision up to 24, else double, without the precision.
    const int p = std::atoi(args.c_str() + 1);
    out = p > 24 ? "double" : "float";
  } else {
    out += args;
  }
  std::string spaced;
  for (std::size_t i = 0; i < out.size(); ++i) {  // "decimal(10, 2)" -> "decimal(10,2)"
    if (out[i] == ' ' && i > 0 && out[i - 1] == ',') continue;
    spaced.push_back(out[i]);
  }
  if (isUnsigned) spaced += " unsigned";
  if (zerofill) spaced += " zerofill";
  return spaced;
}

// The column names of "(a, `b`(10), c DESC)".
std::vector<std::string> keyColumns(SqlCursor& c) {
  std::vector<std::string> out;
  if (!c.consume('(')) return out;
  for (;;) {
    std::string name;
    if (!c.identifier(name)) break;
    out.push_back(name);
    const std::string_view rest = c.item();  // prefix length, ASC/DESC
    (void)rest;
    if (!c.consume(',')) break;
  }
  c.consume(')');
  return out;
}

bool isConstraintStart(std::string_view item) {
  for (const char* w : {"PRIMARY", "KEY", "INDEX", "UNIQUE", "CONSTRAINT", "FOREIGN", "FULLTEXT", "SPATIAL", "CHECK",
                        "PERIOD", "SYSTEM"}) {
    SqlCursor k(item);
    if (k.accept(w)) return true;
  }
  return false;
}

void setPrimaryKey(TableSchema& t, const std::vector<std::string>& columns) {
  for (auto& col : t.columns) {
    col.isPrimaryKey = std::any_of(columns.begin(), columns.end(),
                                   [&](const std::string& n) { return asciiLower(n) == asciiLower(col.name); });
  }
}

std::vector<ColumnSchema>::iterator findColumn(TableSchema& t, const std::string& name) {
  return std::find_if(t.columns.begin(), t.columns.end(),
                      [&](const ColumnSchema& c) { return asciiLower(c.name) == asciiLower(name); });
}

// FIRST / AFTER x after a column definition: where to put the column (end when neither).
bool placeColumn(TableSchema& t, ColumnSchema column, std::string_view definition) {
  const std::string text = asciiLower(definition);
  auto at = t.columns.end();
  const auto afterPos = text.rfind(" after ");
  if (text.size() >= 6 && text.compare(text.size() - 6, 6, " first") == 0) {
    at = t.columns.begin();
  } else if (afterPos != std::string::npos) {
    SqlCursor c(std::string_view(definition).substr(afterPos + 7));
    std::string name;
    if (!c.identifier(name)) return false;
    at = findColumn(t, name);
    if (at == t.columns.end()) return false;
    ++at;
  }
  t.columns.insert(at, std::move(column));
  return true;
}

// Definition text without its trailing FIRST / AFTER x.
std::string_view withoutPlacement(std::string_view definition) {
  const std::string text = asciiLower(definition);
  if (text.size() >= 6 && text.compare(text.size() - 6, 6, " first") == 0) return definition.substr(0, text.size() - 6);
  const auto afterPos = text.rfind(" after ");
  if (afterPos != std::string::npos) return definition.substr(0, afterPos);
  return definition;
}

bool parseCreateColumns(SqlCursor& c, TableSchema& t) {
  if (!c.consume('(')) return false;
  std::vector<std::string> primary;
  for (;;) {
    const std::string_view item = c.item();
    if (isConstraintStart(item)) {
      SqlCursor k(item);
      if (k.accept("CONSTRAINT")) {
        SqlCursor named(item);
        named.accept("CONSTRAINT");
        if (!named.accept("PRIMARY")) {  // CONSTRAINT name ...
          std::string ignored;
          k.identifier(ignored);
        }
      }
      if (k.accept("PRIMARY") && k.accept("KEY")) primary = keyColumns(k);
    } else {
      ColumnSchema col;
      if (!parseColumnDefinition(item, col, currentSpelling)) return false;
      t.columns.push_back(std::move(col));
    }
    if (!c.consume(',')) break;
  }
  if (!c.consume(')')) return false;
  for (const auto& col : t.columns) {
    if (col.isPrimaryKey) primary.push_back(col.name);
  }
  setPrimaryKey(t, primary);
  return !t.columns.empty();
}

bool alterItem(std::string_view item, TableSchema& t, TableKey& renamedTo) {
  SqlCursor c(item);
  if (c.accept("ADD")) {
    if (c.accept("PRIMARY")) {
      c.accept("KEY");
      setPrimaryKey(t, keyColumns(c));
      return true;
    }
    if (c.accept("CONSTRAINT")) {
      std::string ignored;
      if (!c.accept("PRIMARY")) {
        c.identifier(ignored);
        if (!c.accept("PRIMARY")) return true;  // a UNIQUE/FOREIGN/CHECK constraint
      }
      c.accept("KEY");
      setPrimaryKey(t, keyColumns(c));
      return true;
    }
    for (const char* w : {"INDEX", "KEY", "UNIQUE", "FULLTEXT", "SPATIAL", "FOREIGN", "CHECK", "PARTITION"}) {
      SqlCursor k(item);
      k.accept("ADD");
      if (k.accept(w)) return true;  // keys and partitions: no column change
    }
    c.accept("COLUMN");
    c.accept("IF");
    c.accept("NOT");
    c.accept("EXISTS");
    if (c.consume('(')) {  // ADD (a int, b int)
      for (;;) {
        ColumnSchema col;
        if (!parseColumnDefinition(c.item(), col, currentSpelling)) return false;
        t.columns.push_back(std::move(col));
        if (!c.consume(',')) break;
      }
      return c.consume(')');
    }
    const std::string_view definition = c.item();
    ColumnSchema col;
    if (!parseColumnDefinition(withoutPlacement(definition), col, currentSpelling)) return false;
    if (findColumn(t, col.name) != t.columns.end()) return true;  // IF NOT EXISTS of an existing one
    return placeColumn(t, std::move(col), definition);
  }
  if (c.accept("DROP")) {
    if (c.accept("PRIMARY")) {
      setPrimaryKey(t, {});
      return true;
    }
    for (const char* w : {"INDEX", "KEY", "FOREIGN", "CONSTRAINT", "CHECK", "PARTITION"}) {
      SqlCursor k(item);
      k.accept("DROP");
      if (k.accept(w)) return true;
    }
    c.accept("COLUMN");
    c.accept("IF");
    c.accept("EXISTS");
    std::string name;
    if (!c.identifier(name)) return false;
    const auto it = findColumn(t, name);
    if (it != t.columns.end()) t.columns.erase(it);
    return true;
  }
  const bool modify = c.accept("MODIFY");
  const bool change = !modify && c.accept("CHANGE");
  if (modify || change) {
    c.accept("COLUMN");
    c.accept("IF");
    c.accept("EXISTS");
    std::string oldName;
    if (change && !c.identifier(oldName)) return false;
    const std::string_view definition = c.item();
    ColumnSchema col;
    if (!parseColumnDefinition(withoutPlacement(definition), col, currentSpelling)) return false;
    if (modify) oldName = col.name;
    const auto it = findColumn(t, oldName);
    if (it == t.columns.end()) return false;
    col.isPrimaryKey = col.isPrimaryKey || it->isPrimaryKey;
    const std::string placed = asciiLower(definition);
    if (placed.find(" first") != std::string::npos || placed.find(" after ") != std::string::npos) {
      t.columns.erase(it);
      return placeColumn(t, std::move(col), definition);
    }
    *it = std::move(col);
    return true;
  }
  if (c.accept("RENAME")) {
    if (c.accept("COLUMN")) {
      std::string from;
      std::string to;
      if (!c.identifier(from) || !c.accept("TO") || !c.identifier(to)) return false;
      const auto it = findColumn(t, from);
      if (it == t.columns.end()) return false;
      it->name = to;
      return true;
    }
    if (c.accept("INDEX") || c.accept("KEY")) return true;
    if (!c.accept("TO")) c.accept("AS");
    return c.tableName(renamedTo.first, renamedTo);
  }
  // Table options, ALGORITHM/LOCK, ALTER COLUMN ... DEFAULT, CONVERT TO CHARACTER SET, ENGINE...:
  // no change to the column list (CONVERT changes charsets, which rows do not depend on).
  return true;
}

}  // namespace

bool parseColumnDefinition(std::string_view text, ColumnSchema& out, TypeSpelling spelling) {
  SqlCursor c(text);
  if (!c.identifier(out.name)) return false;
  std::string type;
  if (!c.identifier(type)) return false;
  out.dataType = asciiLower(type);
  std::string args;
  const std::string_view rest = c.item();  // everything after the type name
  std::string restLower = asciiLower(rest);
  // The type's arguments: "(10,2)" / "('a','b')" right after the name.
  std::size_t argEnd = 0;
  {
    std::size_t k = 0;
    while (k < rest.size() && std::isspace(static_cast<unsigned char>(rest[k]))) ++k;
    if (k < rest.size() && rest[k] == '(') {
      int depth = 0;
      std::size_t j = k;
      for (; j < rest.size(); ++j) {
        if (rest[j] == '\'') {
          for (++j; j < rest.size() && !(rest[j] == '\'' && (j + 1 >= rest.size() || rest[j + 1] != '\'')); ++j) {
            if (rest[j] == '\'') ++j;
          }
          continue;
        }
        if (rest[j] == '(') ++depth;
        if (rest[j] == ')' && --depth == 0) break;
      }
      args = std::string(rest.substr(k, j + 1 - k));
      argEnd = j + 1;
    }
  }
  const std::string attributes = " " + restLower.substr(std::min(argEnd, restLower.size())) + " ";
  const bool zerofill = attributes.find(" zerofill ") != std::string::npos;
  out.isUnsigned = attributes.find(" unsigned ") != std::string::npos || zerofill || out.dataType == "serial";
  const bool enumLike = out.dataType == "enum" || out.dataType == "set";
  // ENUM/SET members keep their case; every other type is shown in lower case.
  const std::string columnType = out.dataType + args;
  out.columnType = enumLike ? columnType : spellType(out.dataType, asciiLower(args), out.isUnsigned, zerofill, spelling);
  out.members.clear();
  if (enumLike) out.members = enumMembers(columnType);
  out.isBinary = out.dataType.find("binary") != std::string::npos || out.dataType.find("blob") != std::string::npos ||
                 attributes.find(" character set binary ") != std::string::npos ||
                 attributes.find(" charset binary ") != std::string::npos;
  out.isPrimaryKey = attributes.find(" primary key ") != std::string::npos ||
                     (attributes.find(" key ") != std::string::npos && attributes.find(" unique key ") == std::string::npos &&
                      attributes.find(" primary ") != std::string::npos);
  static const char* kTypes[] = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric",
                                 "float", "double", "real", "bit", "bool", "boolean", "serial", "date", "datetime",
                                 "timestamp", "time", "year", "char", "varchar", "binary", "varbinary", "tinyblob",
                                 "blob", "mediumblob", "longblob", "tinytext", "text", "mediumtext", "longtext",
                                 "enum", "set", "json", "geometry", "point", "linestring", "polygon", "multipoint",
                                 "multilinestring", "multipolygon", "geometrycollection", "vector", "nchar",
                                 "nvarchar", "long", "uuid", "inet4", "inet6", "fixed", "dec"};
  return std::any_of(std::begin(kTypes), std::end(kTypes), [&](const char* t) { return out.dataType == t; });
}

DdlEffect applyDdl(TableSet& tables, std::string_view sql, const std::string& database, TypeSpelling spelling) {
  currentSpelling = spelling;
  DdlEffect effect;
  SqlCursor c(sql);
  TableKey key;
  if (c.accept("CREATE")) {
    if (c.accept("OR")) c.accept("REPLACE");
    c.accept("TEMPORARY");
    if (c.accept("DATABASE") || c.accept("SCHEMA")) return effect;
    if (!c.accept("TABLE")) return effect;  // views, triggers, users...: no table definition
    if (c.accept("IF")) {
      c.accept("NOT");
      c.accept("EXISTS");
    }
    if (!c.tableName(database, key)) return DdlEffect{false, {}};
    effect.touched.push_back(key);
    if (c.accept("LIKE") || (c.consume('(') && c.accept("LIKE"))) {
      TableKey source;
      if (!c.tableName(database, source)) return DdlEffect{false, effect.touched};
      const auto it = tables.find(source);
      if (it == tables.end()) return DdlEffect{false, effect.touched};
      TableSchema copy = it->second;
      copy.database = key.first;
      copy.table = key.second;
      tables[key] = std::move(copy);
      return effect;
    }
    // The column list starts at the first parenthesis after the name.
    const auto open = sql.find('(');
    if (open == std::string_view::npos) return DdlEffect{false, effect.touched};
    SqlCursor list(sql.substr(open));
    TableSchema t;
    t.database = key.first;
    t.table = key.second;
    if (!parseCreateColumns(list, t)) return DdlEffect{false, effect.touched};
    // CREATE TABLE ... SELECT adds the selected columns: not known here.
    const std::string tail = asciiLower(sql.substr(open));
    if (tail.find(" select ") != std::string::npos || tail.find(")select ") != std::string::npos) {
      return DdlEffect{false, effect.touched};
    }
    tables[key] = std::move(t);
    return effect;
  }
  if (c.accept("ALTER")) {
    c.accept("ONLINE");
    c.accept("IGNORE");
    if (!c.accept("TABLE")) return effect;
    if (c.accept("IF")) c.accept("EXISTS");
    if (!c.tableName(database, key)) return DdlEffect{false, {}};
    effect.touched.push_back(key);
    const auto it = tables.find(key);
    if (it == tables.end()) return effect;  // not known yet: read from the primary when needed
    TableSchema t = it->second;
    TableKey renamed;
    for (;;) {
      const std::string_view item = c.item();
      if (!item.empty() && !alterItem(item, t, renamed)) return DdlEffect{false, effect.touched};
      if (!c.consume(',')) break;
    }
    tables.erase(it);
    if (!renamed.second.empty()) {
      if (renamed.first.empty()) renamed.first = key.first;
      key = renamed;
      t.database = key.first;
      t.table = key.second;
      effect.touched.push_back(key);
    }
    tables[key] = std::move(t);
    return effect;
  }
  if (c.accept("RENAME")) {
    if (!c.accept("TABLE")) return effect;
    for (;;) {
      TableKey from;
      TableKey to;
      if (!c.tableName(database, from) || !c.accept("TO") || !c.tableName(database, to)) {
        return DdlEffect{false, effect.touched};
      }
      effect.touched.push_back(from);
      effect.touched.push_back(to);
      const auto it = tables.find(from);
      if (it != tables.end()) {
        TableSchema t = std::move(it->second);
        tables.erase(it);
        t.database = to.first;
        t.table = to.second;
        tables[to] = std::move(t);
      }
      if (!c.consume(',')) break;
    }
    return effect;
  }
  if (c.accept("DROP")) {
    c.accept("TEMPORARY");
    if (c.accept("DATABASE") || c.accept("SCHEMA")) {
      if (c.accept("IF")) c.accept("EXISTS");
      std::string name;
      if (!c.identifier(name)) return DdlEffect{false, {}};
      for (auto it = tables.begin(); it != tables.end();) {
        if (it->first.first == name) {
          effect.touched.push_back(it->first);
          it = tables.erase(it);
        } else {
          ++it;
        }
      }
      return effect;
    }
    if (!c.accept("TABLE")) return effect;
    if (c.accept("IF")) c.accept("EXISTS");
    for (;;) {
      if (!c.tableName(database, key)) break;
      effect.touched.push_back(key);
      tables.erase(key);
      if (!c.consume(',')) break;
    }
    return effect;
  }
  return effect;  // TRUNCATE, DML, GRANT...: the column lists stay
}

void forgetUnknown(TableSet& tables, const DdlEffect& effect, const std::string& database) {
  for (const auto& key : effect.touched) tables.erase(key);
  if (effect.touched.empty()) {
    for (auto it = tables.begin(); it != tables.end();) it = it->first.first == database ? tables.erase(it) : std::next(it);
  }
}

}  // namespace canal::schema
