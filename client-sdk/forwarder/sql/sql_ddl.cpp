#include "forwarder/sql/sql_ddl.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "forwarder/row_image.h"
#include "forwarder/sink.h"
#include "forwarder/sql/postgres_types.h"

namespace canal::forwarder {
namespace {

using client::Result;
using client::Status;

struct Token {
  std::string text;   // as written
  std::string upper;  // keywords compared upper-case; a quoted identifier's name unquoted
  bool identifier = false;  // bare or `quoted`
};

// MySQL's DDL split into words, quoted names, strings, numbers and punctuation; comments dropped.
std::vector<Token> tokenize(const std::string& sql) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '#' || (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-')) {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const auto end = sql.find("*/", i + 2);
      i = end == std::string::npos ? sql.size() : end + 2;
    } else if (c == '`') {
      Token t;
      t.identifier = true;
      std::size_t j = i + 1;
      for (; j < sql.size(); ++j) {
        if (sql[j] == '`' && j + 1 < sql.size() && sql[j + 1] == '`') {
          t.upper.push_back('`');
          ++j;
        } else if (sql[j] == '`') {
          break;
        } else {
          t.upper.push_back(sql[j]);
        }
      }
      t.text = sql.substr(i, j + 1 - i);
      out.push_back(std::move(t));
      i = j + 1;
    } else if (c == '\'' || c == '"') {
      std::size_t j = i + 1;
      for (; j < sql.size(); ++j) {
        if (sql[j] == '\\') ++j;
        else if (sql[j] == c && j + 1 < sql.size() && sql[j + 1] == c) ++j;
        else if (sql[j] == c) break;
      }
      out.push_back({sql.substr(i, j + 1 - i), sql.substr(i, j + 1 - i), false});
      i = j + 1;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || c == '.' ||
               static_cast<unsigned char>(c) >= 0x80) {
      std::size_t j = i;
      while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_' || sql[j] == '$' ||
                                sql[j] == '.' || static_cast<unsigned char>(sql[j]) >= 0x80)) {
        ++j;
      }
      Token t{sql.substr(i, j - i), "", true};
      for (const char ch : t.text) t.upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
      out.push_back(std::move(t));
      i = j;
    } else {
      out.push_back({std::string(1, c), std::string(1, c), false});
      ++i;
    }
  }
  return out;
}

// A bare or quoted identifier's name.
std::string nameOf(const Token& t) {
  return t.text.size() >= 2 && t.text.front() == '`' ? t.upper : t.text;
}

// The statement's specifications (ALTER TABLE t spec, spec, ...), split at top-level commas.
std::vector<std::vector<Token>> specsOf(const std::vector<Token>& tokens, std::size_t from) {
  std::vector<std::vector<Token>> out(1);
  int depth = 0;
  for (std::size_t i = from; i < tokens.size(); ++i) {
    const std::string& u = tokens[i].upper;
    if (u == "(") ++depth;
    if (u == ")") --depth;
    if (u == ";" && depth == 0) break;
    if (u == "," && depth == 0) {
      out.emplace_back();
      continue;
    }
    out.back().push_back(tokens[i]);
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

// A column definition after its name: the type ("int(11) unsigned"), and what the copy keeps.
struct Definition {
  std::string type;
  bool notNull = false;
  std::optional<std::string> defaultValue;  // as written
  std::string mariadb;  // the definition as written, without FIRST / AFTER
};

Result<Definition> definitionOf(const std::vector<Token>& spec, std::size_t i, const std::string& sql) {
  Definition d;
  if (i >= spec.size()) return Status(kSinkFatal, "no column type in: " + sql);
  d.type = spec[i].text;
  std::size_t j = i + 1;
  if (j < spec.size() && spec[j].upper == "(") {
    d.type += "(";
    for (++j; j < spec.size() && spec[j].upper != ")"; ++j) d.type += spec[j].text;
    d.type += ")";
    ++j;
  }
  while (j < spec.size() && (spec[j].upper == "UNSIGNED" || spec[j].upper == "SIGNED" || spec[j].upper == "ZEROFILL")) {
    d.type += " " + spec[j].text;
    ++j;
  }
  for (std::size_t k = i; k < spec.size(); ++k) {
    const std::string& u = spec[k].upper;
    if (u == "FIRST") continue;
    if (u == "AFTER") {
      ++k;
      continue;
    }
    d.mariadb += (d.mariadb.empty() || u == "(" || u == ")" || u == "," || (k > 0 && spec[k - 1].upper == "(") ? "" : " ") +
                 spec[k].text;
    if (u == "NOT" && k + 1 < spec.size() && spec[k + 1].upper == "NULL") d.notNull = true;
    if (u == "DEFAULT" && k + 1 < spec.size()) d.defaultValue = spec[k + 1].text;
  }
  return d;
}

// A DEFAULT as PostgreSQL writes it; nullopt when it has no such literal.
std::optional<std::string> postgresDefault(const std::string& v) {
  if (v.empty()) return std::nullopt;
  if (v.front() == '\'' ) return v.find('\\') == std::string::npos ? std::optional<std::string>(v) : std::nullopt;
  std::string upper;
  for (const char c : v) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (upper == "NULL" || upper == "CURRENT_TIMESTAMP" || upper == "NOW") return upper == "NOW" ? "now()" : upper;
  if (v.find_first_not_of("0123456789.-+eE") == std::string::npos) return v;
  return std::nullopt;
}

class Translator {
 public:
  Translator(const SqlMapping& m, const std::string& target, const Change& c, const SqlDialect& d, SqlSinkConfig::Ddl mode)
      : m_(m), target_(target), c_(c), d_(d), mode_(mode), selection_{m.include, m.exclude, m.rename} {}

  Result<std::vector<std::string>> run() {
    const std::string& sql = c_.rowChange.sql();
    const auto tokens = tokenize(sql);
    if (tokens.empty()) return out_;
    const std::string& verb = tokens[0].upper;
    if (verb == "TRUNCATE") {
      if (Status s = add("TRUNCATE TABLE " + target_); !s) return s;
      return out_;
    }
    if (verb == "DROP" || verb == "RENAME") {
      // The mapped table itself goes away or takes another name.
      if (mode_ == SqlSinkConfig::Ddl::kIgnore) return out_;
      return stop("the copy " + target_ + " is not dropped or renamed by the sink");
    }
    if (verb != "ALTER") return out_;  // CREATE, and statements of other objects
    std::size_t i = 1;
    while (i < tokens.size() && tokens[i].upper != "TABLE") ++i;
    if (i + 1 >= tokens.size()) return out_;
    i += 2;  // past the table's name
    if (i + 1 < tokens.size() && tokens[i].upper == ".") i += 2;
    for (const auto& spec : specsOf(tokens, i)) {
      if (Status s = translate(spec, sql); !s) return s;
    }
    return out_;
  }

 private:
  // Adds a statement, or stops when the sink is not set to mirror.
  Status add(const std::string& statement) {
    if (mode_ == SqlSinkConfig::Ddl::kIgnore) return Status::ok();
    if (mode_ == SqlSinkConfig::Ddl::kStop) return stop("");
    out_.push_back(statement);
    return Status::ok();
  }

  Status stop(const std::string& why) const {
    return Status(kSinkFatal,
                  "sql: DDL on " + c_.where() + " that changes its copy " + target_ + ": " + c_.rowChange.sql() +
                      (why.empty() ? "" : " (" + why + ")") +
                      "; to go on, change the copy to match and restart with sql.ddl: ignore until the statement is "
                      "passed, or set sql.ddl: mirror to repeat such statements on the target");
  }

  std::string column(const std::string& source) const { return sqlName(selection_.fieldOf(source), d_.postgres); }

  // The column's type on the target; its cast when the mapping gives one.
  Result<std::string> targetType(const std::string& sourceColumn, const std::string& type) const {
    if (auto cast = m_.cast.find(sourceColumn); cast != m_.cast.end()) return cast->second;
    auto mapped = postgresType(type);
    if (!mapped) return Status(kSinkFatal, "sql: DDL on " + c_.where() + ": column " + sourceColumn + ": " +
                                               mapped.status().message());
    return *mapped;
  }

  Status translate(const std::vector<Token>& spec, const std::string& sql) {
    if (spec.empty()) return Status::ok();
    const std::string& verb = spec[0].upper;
    std::size_t i = 1;
    const auto skip = [&](const char* word) {
      if (i < spec.size() && spec[i].upper == word) ++i;
    };
    const auto skipIfExists = [&](bool notWord) {
      if (i + 1 < spec.size() && spec[i].upper == "IF" &&
          (notWord ? i + 2 < spec.size() && spec[i + 1].upper == "NOT" && spec[i + 2].upper == "EXISTS"
                   : spec[i + 1].upper == "EXISTS")) {
        i += notWord ? 3 : 2;
      }
    };
    static const std::vector<std::string> notColumns = {"INDEX",    "KEY",    "UNIQUE", "PRIMARY", "CONSTRAINT",
                                                        "FOREIGN",  "FULLTEXT", "SPATIAL", "PARTITION", "CHECK",
                                                        "PERIOD",   "SYSTEM"};
    const auto aboutColumns = [&] {
      return i < spec.size() && std::find(notColumns.begin(), notColumns.end(), spec[i].upper) == notColumns.end();
    };
    const bool pg = d_.postgres;
    if (verb == "ADD") {
      skip("COLUMN");
      if (!aboutColumns()) return Status::ok();
      if (spec[i].upper == "(") return stop("ADD of a column list is not mirrored");
      skipIfExists(true);
      const std::string name = nameOf(spec[i]);
      if (!selection_.selected(name)) return Status::ok();
      auto def = definitionOf(spec, i + 1, sql);
      if (!def) return def.status();
      if (!pg) return add("ALTER TABLE " + target_ + " ADD COLUMN IF NOT EXISTS " + column(name) + " " + def->mariadb);
      auto type = targetType(name, def->type);
      if (!type) return type.status();
      std::string statement = "ALTER TABLE " + target_ + " ADD COLUMN IF NOT EXISTS " + column(name) + " " + *type;
      if (def->defaultValue) {
        const auto literal = postgresDefault(*def->defaultValue);
        if (!literal) return stop("its DEFAULT has no PostgreSQL spelling");
        statement += " DEFAULT " + *literal;
      }
      if (def->notNull) statement += " NOT NULL";
      return add(statement);
    }
    if (verb == "DROP") {
      skip("COLUMN");
      if (!aboutColumns()) return Status::ok();
      skipIfExists(false);
      const std::string name = nameOf(spec[i]);
      if (!selection_.selected(name)) return Status::ok();
      return add("ALTER TABLE " + target_ + " DROP COLUMN IF EXISTS " + column(name));
    }
    if (verb == "RENAME") {
      if (i < spec.size() && (spec[i].upper == "INDEX" || spec[i].upper == "KEY")) return Status::ok();
      if (i >= spec.size() || spec[i].upper != "COLUMN") return stop("the copy is not renamed by the sink");
      ++i;
      if (i + 2 >= spec.size()) return stop("");
      const std::string from = nameOf(spec[i]);
      const std::string to = nameOf(spec[i + 2]);
      if (!selection_.selected(from) || m_.rename.count(from) || m_.rename.count(to)) {
        return stop("the mapping names the column");
      }
      return add("ALTER TABLE " + target_ + " RENAME COLUMN " + column(from) + " TO " + column(to));
    }
    if (verb == "CHANGE" || verb == "MODIFY") {
      skip("COLUMN");
      skipIfExists(false);
      if (i >= spec.size()) return stop("");
      const std::string from = nameOf(spec[i]);
      const std::string to = verb == "CHANGE" && i + 1 < spec.size() ? nameOf(spec[++i]) : from;
      if (!selection_.selected(from)) return Status::ok();
      if (from != to && (m_.rename.count(from) || m_.rename.count(to))) return stop("the mapping names the column");
      auto def = definitionOf(spec, i + 1, sql);
      if (!def) return def.status();
      if (!pg) {
        return add("ALTER TABLE " + target_ + " CHANGE COLUMN " + column(from) + " " + column(to) + " " + def->mariadb);
      }
      if (from != to) {
        if (Status s = add("ALTER TABLE " + target_ + " RENAME COLUMN " + column(from) + " TO " + column(to)); !s) return s;
      }
      auto type = targetType(to, def->type);
      if (!type) return type.status();
      return add("ALTER TABLE " + target_ + " ALTER COLUMN " + column(to) + " TYPE " + *type + " USING " + column(to) +
                 "::" + *type);
    }
    return Status::ok();  // ALTER COLUMN defaults, table options, ALGORITHM, LOCK, ...: nothing in the copy changes
  }

  const SqlMapping& m_;
  const std::string& target_;
  const Change& c_;
  const SqlDialect& d_;
  const SqlSinkConfig::Ddl mode_;
  const FieldSelection selection_;
  std::vector<std::string> out_;
};

}  // namespace

Result<std::vector<std::string>> ddlStatements(const SqlMapping& m, const std::string& target, const Change& c,
                                               const SqlDialect& dialect, SqlSinkConfig::Ddl mode) {
  return Translator(m, target, c, dialect, mode).run();
}

}  // namespace canal::forwarder
