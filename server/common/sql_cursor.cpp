#include "server/common/sql_cursor.h"

#include <algorithm>
#include <cctype>

namespace canal {

bool SqlCursor::isWordChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

bool SqlCursor::equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

void SqlCursor::skipSpace() {
  for (;;) {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (s_.substr(i_, 2) == "/*") {
      if (s_.substr(i_, 3) == "/*!") {  // executable comment: its content is SQL
        i_ += 3;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
        inExecutableComment_ = true;
        continue;
      }
      const std::size_t end = s_.find("*/", i_ + 2);
      i_ = end == std::string_view::npos ? s_.size() : end + 2;
      continue;
    }
    if (inExecutableComment_ && s_.substr(i_, 2) == "*/") {
      inExecutableComment_ = false;
      i_ += 2;
      continue;
    }
    if (s_.substr(i_, 3) == "-- " || (i_ < s_.size() && s_[i_] == '#')) {
      const std::size_t end = s_.find('\n', i_);
      i_ = end == std::string_view::npos ? s_.size() : end + 1;
      continue;
    }
    return;
  }
}

std::string SqlCursor::next() {
  skipSpace();
  quoted_ = false;
  if (i_ >= s_.size()) return {};
  const char c = s_[i_];
  if (c == '`' || c == '"') {
    quoted_ = true;
    std::string out;
    ++i_;
    while (i_ < s_.size()) {
      if (s_[i_] == c) {
        if (i_ + 1 < s_.size() && s_[i_ + 1] == c) {
          out.push_back(c);
          i_ += 2;
          continue;
        }
        ++i_;
        break;
      }
      out.push_back(s_[i_++]);
    }
    return out;
  }
  if (isWordChar(c)) {
    const std::size_t start = i_;
    while (i_ < s_.size() && isWordChar(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }
  ++i_;
  return std::string(1, c);
}

std::string SqlCursor::peek() {
  const std::size_t save = i_;
  const bool comment = inExecutableComment_;
  std::string t = next();
  i_ = save;
  inExecutableComment_ = comment;
  return t;
}

bool SqlCursor::accept(std::string_view word) {
  const std::size_t save = i_;
  const bool comment = inExecutableComment_;
  const std::string t = next();
  if (!quoted_ && equalsIgnoreCase(t, word)) return true;
  i_ = save;
  inExecutableComment_ = comment;
  return false;
}

bool SqlCursor::identifier(std::string& out) {
  const std::size_t save = i_;
  const bool comment = inExecutableComment_;
  out = next();
  if (!out.empty() && (quoted_ || isWordChar(out[0]))) return true;
  i_ = save;
  inExecutableComment_ = comment;
  out.clear();
  return false;
}

bool SqlCursor::name(std::optional<std::string>& schema, std::string& table) {
  std::string first;
  if (!identifier(first)) return false;
  if (consume('.')) {
    std::string second;
    if (identifier(second)) {
      schema = std::move(first);
      table = std::move(second);
      return true;
    }
  }
  table = std::move(first);
  return true;
}

bool SqlCursor::tableName(const std::string& defaultDatabase, std::pair<std::string, std::string>& key) {
  std::optional<std::string> schema;
  std::string table;
  if (!name(schema, table)) return false;
  key = {schema.value_or(defaultDatabase), std::move(table)};
  return true;
}

std::string_view SqlCursor::item() {
  skipSpace();
  const std::size_t start = i_;
  int depth = 0;
  while (i_ < s_.size()) {
    const char c = s_[i_];
    if (c == '\'' || c == '"' || c == '`') {
      const char q = c;
      for (++i_; i_ < s_.size() && s_[i_] != q; ++i_) {
        if (s_[i_] == '\\') ++i_;
      }
      ++i_;
      continue;
    }
    if (c == '(') ++depth;
    if (c == ')') {
      if (depth == 0) break;
      --depth;
    }
    if ((c == ',' || c == ';') && depth == 0) break;
    ++i_;
  }
  return s_.substr(start, std::min(i_, s_.size()) - start);
}

bool SqlCursor::consume(char c) {
  skipSpace();
  if (i_ < s_.size() && s_[i_] == c) {
    ++i_;
    return true;
  }
  return false;
}

}  // namespace canal
