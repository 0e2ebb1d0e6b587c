#include "forwarder/sql/sql_statements.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include "canal/protocol/hex.h"
#include "forwarder/row_condition.h"
#include "forwarder/row_image.h"
#include "forwarder/sink.h"
#include "forwarder/sql/postgres_types.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

using client::Status;

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const char ch : text) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
  return h;
}

bool numericSqlType(int t) {
  // BIT (and SET), TINYINT, SMALLINT, INTEGER (and ENUM), BIGINT, DECIMAL, REAL, DOUBLE.
  return t == -7 || t == -6 || t == 5 || t == 4 || t == -5 || t == 3 || t == 7 || t == 8;
}

bool looksNumeric(std::string_view v) {
  if (v.empty()) return false;
  bool digit = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (!(c == '.' || c == 'E' || c == 'e' || ((c == '-' || c == '+') && (i == 0 || v[i - 1] == 'E' || v[i - 1] == 'e')))) {
      return false;
    }
  }
  return digit;
}

// Canal's ISO-8859-1 characters back to bytes (each character below U+0100 is one byte).
std::optional<std::string> latin1Bytes(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const auto b = static_cast<unsigned char>(utf8[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
    } else if ((b == 0xC2 || b == 0xC3) && i + 1 < utf8.size()) {
      out.push_back(static_cast<char>(((b & 0x03) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3F)));
    } else {
      return std::nullopt;  // not ISO-8859-1: the text as it is
    }
  }
  return out;
}

// The labels of "enum('a','b')" / "set('x','y')" (quotes doubled inside), in order.
std::vector<std::string> labelsOf(std::string_view type) {
  std::vector<std::string> out;
  const auto open = type.find('(');
  for (std::size_t i = open == std::string_view::npos ? type.size() : open + 1; i < type.size(); ++i) {
    if (type[i] != '\'') continue;
    std::string label;
    for (++i; i < type.size(); ++i) {
      if (type[i] == '\'' && i + 1 < type.size() && type[i + 1] == '\'') {
        label.push_back('\'');
        ++i;
      } else if (type[i] == '\'') {
        break;
      } else {
        label.push_back(type[i]);
      }
    }
    out.push_back(std::move(label));
  }
  return out;
}

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// An ENUM's index or a SET's bit mask, as Canal renders them without the binlog's metadata, as the
// labels they stand for (nullopt: not such a value, or already labels).
std::optional<std::string> labelValue(const eb::Column& c) {
  const std::string& type = c.mysqltype();
  const bool isEnum = startsWith(type, "enum(");
  if (!isEnum && !startsWith(type, "set(")) return std::nullopt;
  const std::string& v = c.value();
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || v.size() > 19) return std::nullopt;
  const unsigned long long n = std::stoull(v);
  const auto labels = labelsOf(type);
  if (isEnum) {
    if (n == 0) return std::string();  // the '' an invalid value was stored as
    return n <= labels.size() ? std::optional<std::string>(labels[n - 1]) : std::nullopt;
  }
  std::string out;
  for (std::size_t i = 0; i < labels.size() && i < 64; ++i) {
    if (n & (1ULL << i)) out += (out.empty() ? "" : ",") + labels[i];
  }
  return out;
}

// Whether Canal's value is bytes (ISO-8859-1 characters): BLOB's sqlType on a binary type (a
// TEXT or JSON column with a binary collation has it too, but holds text).
bool bytesValue(const eb::Column& c) {
  if (c.sqltype() != 2004) return false;
  const std::string& t = c.mysqltype();
  return !(t.find("text") != std::string::npos || startsWith(t, "json") || startsWith(t, "char") ||
           startsWith(t, "varchar"));
}

// A value as PostgreSQL reads it (nullopt: NULL): ENUM and SET as their labels (PostgreSQL has
// no such types of the source's), bytes as bytea's hex input, anything else as Canal renders it.
std::optional<std::string> postgresText(const eb::Column& c) {
  if (c.isnull()) return std::nullopt;
  if (auto label = labelValue(c)) return label;
  if (bytesValue(c)) {
    if (auto bytes = latin1Bytes(c.value())) return "\\x" + protocol::toHex(*bytes);
  }
  return c.value();
}

// A value as PostgreSQL reads it (postgresText) written as a literal.
std::string postgresLiteral(const std::optional<std::string>& text, const SqlDialect& dialect) {
  return text ? "'" + dialect.escape(*text) + "'" : "NULL";
}

// The statement being gathered: upserts of one table and column list, or deletes of one table.
struct Group {
  enum class Kind { kNone, kUpsert, kDelete } kind = Kind::kNone;
  std::string target;
  std::vector<std::string> columns;  // upsert: the columns written; delete: the key columns
  std::vector<std::string> key;      // upsert: the key columns (empty: none, an append)
  std::vector<std::string> rows;     // "(v1, v2, ...)" each
  // Or, for PostgreSQL upserts that may be copied in: each row's values as PostgreSQL reads them.
  std::vector<std::vector<std::optional<std::string>>> cells;
  std::set<std::string> keys;        // upsert on PostgreSQL: the keys written
  std::string origin;                // the first row's change
};

std::string columnList(const std::vector<std::string>& columns, bool postgres) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + sqlName(c, postgres);
  return out;
}

// What follows an upsert's rows: ON DUPLICATE KEY UPDATE, or ON CONFLICT on the key.
std::string conflictClause(const Group& g, bool postgres) {
  std::string update;
  for (const auto& c : g.columns) {
    if (postgres && std::find(g.key.begin(), g.key.end(), c) != g.key.end()) continue;
    const std::string name = sqlName(c, postgres);
    update += (update.empty() ? "" : ", ") + name + (postgres ? " = EXCLUDED." + name : " = VALUES(" + name + ")");
  }
  if (!postgres) return " ON DUPLICATE KEY UPDATE " + update;
  if (g.key.empty()) return "";
  return " ON CONFLICT (" + columnList(g.key, true) + ") DO " + (update.empty() ? "NOTHING" : "UPDATE SET " + update);
}

std::string statementOf(const Group& g, bool postgres) {
  std::string values;
  for (const auto& r : g.rows) values += (values.empty() ? "" : ", ") + r;
  if (g.kind == Group::Kind::kDelete) {
    const std::string key = g.columns.size() == 1 ? sqlName(g.columns[0], postgres) : "(" + columnList(g.columns, postgres) + ")";
    return "DELETE FROM " + g.target + " WHERE " + key + " IN (" + values + ")";
  }
  return "INSERT INTO " + g.target + " (" + columnList(g.columns, postgres) + ") VALUES " + values +
         conflictClause(g, postgres);
}

// A value in COPY's text format: \N for NULL, and backslash, tab, newline and return escaped.
void appendCopyCell(std::string& out, const std::optional<std::string>& cell) {
  if (!cell) {
    out += "\\N";
    return;
  }
  for (const char c : *cell) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out.push_back(c);
    }
  }
}

// An upsert group's rows copied into its staging table, then moved into the target.
std::pair<std::string, SqlCopy> copyOf(const Group& g) {
  const std::string columns = columnList(g.columns, true);
  char name[40];
  std::snprintf(name, sizeof name, "canal_stage_%016llx", static_cast<unsigned long long>(fnv1a(g.target + "\n" + columns)));
  SqlCopy copy;
  copy.stage = "pg_temp." + sqlName(name, true);
  copy.create = "CREATE TEMPORARY TABLE " + sqlName(name, true) + " ON COMMIT DELETE ROWS AS SELECT " + columns +
                " FROM " + g.target + " WITH NO DATA";
  copy.copy = "COPY " + copy.stage + " (" + columns + ") FROM STDIN";
  for (const auto& row : g.cells) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i > 0) copy.data.push_back('\t');
      appendCopyCell(copy.data, row[i]);
    }
    copy.data.push_back('\n');
  }
  std::string statement = "WITH canal_rows AS (DELETE FROM " + copy.stage + " RETURNING " + columns + ") INSERT INTO " +
                          g.target + " (" + columns + ") SELECT " + columns + " FROM canal_rows" + conflictClause(g, true);
  return {std::move(statement), std::move(copy)};
}

using Cells = std::vector<std::optional<std::string>>;

class Gatherer {
 public:
  Gatherer(SqlBatch& out, int batchRows, const SqlDialect& dialect)
      : out_(out), batchRows_(static_cast<std::size_t>(batchRows)), dialect_(dialect) {}
  // `key` and `keyValue`: the row's key (upserts; empty: none).
  void add(const std::string& origin, Group::Kind kind, const std::string& target, std::vector<std::string> columns,
           std::string row, std::vector<std::string> key = {}, const std::string& keyValue = "") {
    start(origin, kind, target, columns, key, keyValue, false);
    g_.rows.push_back(std::move(row));
  }
  // A PostgreSQL upsert's row as its values, copied in or written as literals when flushed.
  void addCells(const std::string& origin, const std::string& target, std::vector<std::string> columns, Cells row,
                std::vector<std::string> key, const std::string& keyValue) {
    start(origin, Group::Kind::kUpsert, target, columns, key, keyValue, true);
    g_.cells.push_back(std::move(row));
  }
  void flush() {
    if (!g_.cells.empty() && dialect_.copyRows > 0 && g_.cells.size() >= dialect_.copyRows) {
      auto [statement, copy] = copyOf(g_);
      out_.statements.push_back(std::move(statement));
      out_.origins.push_back(g_.origin);
      out_.copies.emplace_back(std::move(copy));
    } else if (g_.kind != Group::Kind::kNone && (!g_.rows.empty() || !g_.cells.empty())) {
      for (const Cells& row : g_.cells) {
        std::string values;
        for (const auto& cell : row) values += (values.empty() ? "" : ", ") + postgresLiteral(cell, dialect_);
        g_.rows.push_back("(" + values + ")");
      }
      out_.statements.push_back(statementOf(g_, dialect_.postgres));
      out_.origins.push_back(g_.origin);
      out_.copies.emplace_back();
    }
    g_ = Group{};
  }

 private:
  void start(const std::string& origin, Group::Kind kind, const std::string& target, std::vector<std::string>& columns,
             std::vector<std::string>& key, const std::string& keyValue, bool cells) {
    const bool again = dialect_.postgres && kind == Group::Kind::kUpsert && !keyValue.empty() && g_.keys.count(keyValue);
    if (g_.kind != kind || g_.target != target || g_.columns != columns || g_.key != key ||
        g_.rows.size() + g_.cells.size() >= batchRows_ || again || (!g_.rows.empty() && cells) ||
        (!g_.cells.empty() && !cells)) {
      flush();
      g_.kind = kind;
      g_.target = target;
      g_.columns = std::move(columns);
      g_.key = std::move(key);
      g_.origin = origin;
    }
    if (dialect_.postgres && kind == Group::Kind::kUpsert && !keyValue.empty()) g_.keys.insert(keyValue);
    ++out_.rows;
  }

  SqlBatch& out_;
  const std::size_t batchRows_;
  const SqlDialect& dialect_;
  Group g_;
};

}  // namespace

std::string sqlName(std::string_view name, bool postgres) {
  const char quote = postgres ? '"' : '`';
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const auto dot = name.find('.', start);
    const std::string_view part = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    out += quote;
    for (const char c : part) {
      if (c == quote) out.push_back(quote);
      out.push_back(c);
    }
    out += quote;
    if (dot == std::string_view::npos) return out;
    out += ".";
    start = dot + 1;
  }
}

client::Result<std::string> createTableStatement(const SqlMapping& m, const std::string& target,
                                                 const std::vector<SourceColumn>& source, bool postgres,
                                                 const std::string& what) {
  const FieldSelection selection{m.include, m.exclude, m.rename};
  std::string columns;
  std::string key;
  for (const SourceColumn& col : source) {
    if (!selection.selected(col.name)) continue;
    const std::string name = sqlName(selection.fieldOf(col.name), postgres);
    std::string type = col.mysqlType;
    if (const auto cast = m.cast.find(col.name); cast != m.cast.end()) {
      type = cast->second;
    } else if (postgres) {
      auto mapped = postgresType(type);
      if (!mapped) {
        return Status(kSinkFatal, "sql: creating the table of " + what + ": column " + col.name + ": " +
                                      mapped.status().message());
      }
      type = *mapped;
    }
    const bool isKey = m.key.empty() ? col.isKey : std::find(m.key.begin(), m.key.end(), col.name) != m.key.end();
    columns += (columns.empty() ? "" : ", ") + name + " " + type + (isKey ? " NOT NULL" : "");
    if (isKey) key += (key.empty() ? "" : ", ") + name;
  }
  return "CREATE TABLE IF NOT EXISTS " + target + " (" + columns + (key.empty() ? "" : ", PRIMARY KEY (" + key + ")") + ")";
}

client::Result<std::string> createTableStatement(const SqlMapping& m, const Change& c, bool postgres) {
  if (c.rowChange.rowdatas_size() == 0) return Status(kSinkFatal, "sql: no row to create the table of " + c.where());
  const auto& row = c.rowChange.rowdatas(0);
  const Image& image = row.aftercolumns_size() > 0 ? row.aftercolumns() : row.beforecolumns();
  std::vector<SourceColumn> columns;
  for (const auto& col : image) columns.push_back({col.name(), col.mysqltype(), col.iskey()});
  return createTableStatement(m, sqlTarget(m, c, postgres), columns, postgres, c.where());
}

std::string sqlTarget(const SqlMapping& m, const Change& c, bool postgres) {
  return sqlTarget(m, c.database, c.table, postgres);
}

std::string sqlTarget(const SqlMapping& m, const std::string& database, const std::string& table, bool postgres) {
  return sqlName(expandTablePattern(m.target.empty() ? "%{database}.%{table}" : m.target, database, table), postgres);
}

std::string sqlLiteral(const eb::Column& c, const SqlDialect& dialect, const std::string& cast) {
  const std::string literal = [&]() -> std::string {
    if (dialect.postgres) return postgresLiteral(postgresText(c), dialect);
    if (c.isnull()) return "NULL";
    const std::string& v = c.value();
    if (numericSqlType(c.sqltype()) && looksNumeric(v)) return v;
    if (bytesValue(c)) {
      if (auto bytes = latin1Bytes(v)) return "X'" + protocol::toHex(*bytes) + "'";
    }
    return "'" + dialect.escape(v) + "'";
  }();
  return cast.empty() ? literal : "CAST(" + literal + " AS " + cast + ")";
}

client::Result<SqlPlan> SqlPlan::create(const std::vector<SqlMapping>& mappings) {
  auto matcher = publish::FirstMatch::create(publish::tableExpressions(mappings));
  if (!matcher) return matcher.status();
  SqlPlan plan(mappings, std::move(*matcher));
  for (const SqlMapping& m : mappings) {
    if (m.where.empty()) {
      plan.conditions_.emplace_back();
      continue;
    }
    auto condition = RowCondition::compile(m.where);
    if (!condition) return Status(kSinkFatal, "sql: the where of " + m.table + ": " + condition.status().message());
    plan.conditions_.emplace_back(std::move(*condition));
  }
  return plan;
}

client::Result<SqlBatch> sqlStatements(const std::vector<SqlMapping>& mappings, const std::vector<const Change*>& changes,
                                       const SqlDialect& dialect, int batchRows, const SqlLane& lane) {
  auto plan = SqlPlan::create(mappings);
  if (!plan) return plan.status();
  return sqlStatements(*plan, changes, dialect, batchRows, lane);
}

client::Result<SqlBatch> sqlStatements(const SqlPlan& plan, const std::vector<const Change*>& changes,
                                       const SqlDialect& dialect, int batchRows, const SqlLane& lane) {
  const std::vector<SqlMapping>& mappings = plan.mappings();
  const auto takes = [&](const std::string& target, const std::string& keyValue) {
    if (lane.count <= 1) return true;
    return fnv1a(target + "\n" + keyValue) % lane.count == lane.index;  // the same lane in every run
  };
  SqlBatch out;
  const bool pg = dialect.postgres;
  Gatherer gather(out, batchRows, dialect);
  for (const Change* c : changes) {
    if (!carriesRows(*c)) continue;
    const auto mi = plan.mappingOf(c->qualifiedName());
    if (!mi) continue;
    const SqlMapping& m = mappings[*mi];
    const std::string target = sqlTarget(m, *c, pg);
    const auto literal = [&](const eb::Column& col) {
      const auto cast = m.cast.find(col.name());
      return sqlLiteral(col, dialect, cast == m.cast.end() ? "" : cast->second);
    };
    const FieldSelection selection{m.include, m.exclude, m.rename};
    // The key's columns (target names) and values of an image; nullopt when it has none.
    const auto keyOf = [&](const Image& image) -> std::optional<std::pair<std::vector<std::string>, std::string>> {
      std::vector<std::string> names;
      std::string values;
      for (const auto& col : image) {
        const bool key = m.key.empty() ? col.iskey() : std::find(m.key.begin(), m.key.end(), col.name()) != m.key.end();
        if (!key) continue;
        names.push_back(selection.fieldOf(col.name()));
        values += (values.empty() ? "" : ", ") + literal(col);
      }
      if (names.empty() || (!m.key.empty() && names.size() != m.key.size())) return std::nullopt;
      return std::make_pair(names, names.size() == 1 ? values : "(" + values + ")");
    };
    const auto noKey = [&] {
      return Status(kSinkFatal, "sql: a row of " + c->where() +
                                    " has no key (no key columns, or a key column missing); set key in the mapping of " +
                                    m.table);
    };
    const RowCondition* condition = plan.conditionOf(*mi);
    for (const auto& row : c->rowChange.rowdatas()) {
      // A row the mapping's `where` does not take is not in the copy (an UPDATE out of it
      // deletes it there).
      const bool kept = c->type == eb::DELETE || !condition || condition->matches(row.aftercolumns());
      if (c->type == eb::DELETE || c->type == eb::UPDATE) {
        const Image& before = row.beforecolumns();
        if (c->type == eb::DELETE || before.size() > 0) {
          auto oldKey = keyOf(c->type == eb::DELETE ? imageOf(row, c->type) : before);
          if (!oldKey) return noKey();
          const auto newKey = c->type == eb::UPDATE ? keyOf(row.aftercolumns()) : std::nullopt;
          if ((c->type == eb::DELETE || !kept || (newKey && newKey->second != oldKey->second)) &&
              takes(target, oldKey->second)) {
            gather.add(c->where(), Group::Kind::kDelete, target, std::move(oldKey->first), std::move(oldKey->second));
          }
          if (c->type == eb::DELETE) continue;
        }
      }
      if (!kept) continue;
      // PostgreSQL names the key its upsert conflicts on; a row without one is appended.
      auto key = pg || lane.count > 1 ? keyOf(row.aftercolumns()) : std::nullopt;
      if (!takes(target, key ? key->second : "")) continue;
      if (!pg) key.reset();
      std::vector<std::string> columns;
      std::string values;
      Cells cells;
      const bool copyable = pg && m.cast.empty();
      for (const auto& col : row.aftercolumns()) {
        if (!selection.selected(col.name())) continue;
        columns.push_back(selection.fieldOf(col.name()));
        if (copyable) {
          cells.push_back(postgresText(col));
        } else {
          values += (values.empty() ? "" : ", ") + literal(col);
        }
      }
      if (columns.empty()) continue;
      if (copyable) {
        gather.addCells(c->where(), target, std::move(columns), std::move(cells),
                        key ? std::move(key->first) : std::vector<std::string>{}, key ? key->second : "");
      } else {
        gather.add(c->where(), Group::Kind::kUpsert, target, std::move(columns), "(" + values + ")",
                   key ? std::move(key->first) : std::vector<std::string>{}, key ? key->second : "");
      }
    }
  }
  gather.flush();
  return out;
}

}  // namespace canal::forwarder
