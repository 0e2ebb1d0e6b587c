#pragma once

// A cursor over SQL text for the statements this project reads (DDL classification, DDL replay):
// skips spaces and comments (keeping the content of /*!NNNNN ... */ executable comments), reads
// words, identifiers (bare, `back-quoted`, "double-quoted") and qualified names, and cuts the
// top-level items of a parenthesised or comma-separated list. Not a parser; one thread.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace canal {

class SqlCursor {
 public:
  explicit SqlCursor(std::string_view sql) : s_(sql) {}

  // The next token: a word or an identifier (unquoted; quoted() says whether it was quoted), or
  // one punctuation character; empty at the end.
  std::string next();
  bool quoted() const { return quoted_; }
  std::string peek();
  // Consumes the next token when it is the unquoted word `word` (case-insensitive).
  bool accept(std::string_view word);
  // The next token when it is an identifier or word.
  bool identifier(std::string& out);
  // `db`.`tbl` or tbl; `schema` stays unset for an unqualified name.
  bool name(std::optional<std::string>& schema, std::string& table);
  // The same, with `defaultDatabase` for an unqualified name.
  bool tableName(const std::string& defaultDatabase, std::pair<std::string, std::string>& key);
  // The text up to the next top-level comma, semicolon or closing parenthesis (not consumed).
  std::string_view item();
  // Consumes the character `c` when it comes next.
  bool consume(char c);

  static bool equalsIgnoreCase(std::string_view a, std::string_view b);
  static bool isWordChar(char c);

 private:
  void skipSpace();

  std::string_view s_;
  std::size_t i_ = 0;
  bool quoted_ = false;
  bool inExecutableComment_ = false;
};

}  // namespace canal
