#include "forwarder/sql/sql_statements.h"

#include <optional>

#include "canal/protocol/hex.h"
#include "forwarder/row_image.h"
#include "forwarder/sink.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

using client::Status;

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

// The statement being gathered: upserts of one table and column list, or deletes of one table.
struct Group {
  enum class Kind { kNone, kUpsert, kDelete } kind = Kind::kNone;
  std::string target;
  std::vector<std::string> columns;  // upsert: the columns written; delete: the key columns
  std::vector<std::string> rows;     // "(v1, v2, ...)" each
};

std::string columnList(const std::vector<std::string>& columns) {
  std::string out;
  for (const auto& c : columns) out += (out.empty() ? "" : ", ") + sqlName(c);
  return out;
}

std::string statementOf(const Group& g) {
  std::string values;
  for (const auto& r : g.rows) values += (values.empty() ? "" : ", ") + r;
  if (g.kind == Group::Kind::kDelete) {
    const std::string key = g.columns.size() == 1 ? sqlName(g.columns[0]) : "(" + columnList(g.columns) + ")";
    return "DELETE FROM " + g.target + " WHERE " + key + " IN (" + values + ")";
  }
  std::string update;
  for (const auto& c : g.columns) update += (update.empty() ? "" : ", ") + sqlName(c) + " = VALUES(" + sqlName(c) + ")";
  return "INSERT INTO " + g.target + " (" + columnList(g.columns) + ") VALUES " + values + " ON DUPLICATE KEY UPDATE " +
         update;
}

class Gatherer {
 public:
  Gatherer(SqlBatch& out, int batchRows) : out_(out), batchRows_(static_cast<std::size_t>(batchRows)) {}
  void add(Group::Kind kind, const std::string& target, std::vector<std::string> columns, std::string row) {
    if (g_.kind != kind || g_.target != target || g_.columns != columns || g_.rows.size() >= batchRows_) {
      flush();
      g_.kind = kind;
      g_.target = target;
      g_.columns = std::move(columns);
    }
    g_.rows.push_back(std::move(row));
    ++out_.rows;
  }
  void flush() {
    if (g_.kind != Group::Kind::kNone && !g_.rows.empty()) out_.statements.push_back(statementOf(g_));
    g_ = Group{};
  }

 private:
  SqlBatch& out_;
  const std::size_t batchRows_;
  Group g_;
};

}  // namespace

std::string sqlName(std::string_view name) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const auto dot = name.find('.', start);
    const std::string_view part = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    out += "`";
    for (const char c : part) {
      if (c == '`') out.push_back('`');
      out.push_back(c);
    }
    out += "`";
    if (dot == std::string_view::npos) return out;
    out += ".";
    start = dot + 1;
  }
}

std::string sqlLiteral(const eb::Column& c, const SqlEscape& escape) {
  if (c.isnull()) return "NULL";
  const std::string& v = c.value();
  if (numericSqlType(c.sqltype()) && looksNumeric(v)) return v;
  if (c.sqltype() == 2004) {
    if (auto bytes = latin1Bytes(v)) return "X'" + protocol::toHex(*bytes) + "'";
  }
  return "'" + escape(v) + "'";
}

client::Result<SqlBatch> sqlStatements(const std::vector<SqlMapping>& mappings, const std::vector<const Change*>& changes,
                                       const SqlEscape& escape, int batchRows) {
  auto mapped = publish::FirstMatch::create(publish::tableExpressions(mappings));
  if (!mapped) return mapped.status();
  SqlBatch out;
  Gatherer gather(out, batchRows);
  for (const Change* c : changes) {
    if (!carriesRows(*c)) continue;
    const auto mi = mapped->of(c->qualifiedName());
    if (!mi) continue;
    const SqlMapping& m = mappings[*mi];
    const std::string target =
        sqlName(expandTablePattern(m.target.empty() ? "%{database}.%{table}" : m.target, c->database, c->table));
    const FieldSelection selection{m.include, m.exclude, m.rename};
    // The key's columns (target names) and values of an image; nullopt when it has none.
    const auto keyOf = [&](const Image& image) -> std::optional<std::pair<std::vector<std::string>, std::string>> {
      std::vector<std::string> names;
      std::string values;
      for (const auto& col : image) {
        const bool key = m.key.empty() ? col.iskey() : std::find(m.key.begin(), m.key.end(), col.name()) != m.key.end();
        if (!key) continue;
        names.push_back(selection.fieldOf(col.name()));
        values += (values.empty() ? "" : ", ") + sqlLiteral(col, escape);
      }
      if (names.empty() || (!m.key.empty() && names.size() != m.key.size())) return std::nullopt;
      return std::make_pair(names, names.size() == 1 ? values : "(" + values + ")");
    };
    const auto noKey = [&] {
      return Status(kSinkFatal, "sql: a row of " + c->where() +
                                    " has no key (no key columns, or a key column missing); set key in the mapping of " +
                                    m.table);
    };
    for (const auto& row : c->rowChange.rowdatas()) {
      if (c->type == eb::DELETE || c->type == eb::UPDATE) {
        const Image& before = row.beforecolumns();
        if (c->type == eb::DELETE || before.size() > 0) {
          auto oldKey = keyOf(c->type == eb::DELETE ? imageOf(row, c->type) : before);
          if (!oldKey) return noKey();
          const auto newKey = c->type == eb::UPDATE ? keyOf(row.aftercolumns()) : std::nullopt;
          if (c->type == eb::DELETE || (newKey && newKey->second != oldKey->second)) {
            gather.add(Group::Kind::kDelete, target, std::move(oldKey->first), std::move(oldKey->second));
          }
          if (c->type == eb::DELETE) continue;
        }
      }
      std::vector<std::string> columns;
      std::string values;
      for (const auto& col : row.aftercolumns()) {
        if (!selection.selected(col.name())) continue;
        columns.push_back(selection.fieldOf(col.name()));
        values += (values.empty() ? "" : ", ") + sqlLiteral(col, escape);
      }
      if (columns.empty()) continue;
      gather.add(Group::Kind::kUpsert, target, std::move(columns), "(" + values + ")");
    }
  }
  gather.flush();
  return out;
}

}  // namespace canal::forwarder
