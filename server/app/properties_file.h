#pragma once

// Java .properties reader with the java.util.Properties syntax: `#`/`!` comments, `key = value`,
// `key: value` or `key value`, `\` line continuation, escapes (\t \n \r \f, \uXXXX, \x -> x).
// Each entry remembers its line so that a bad value can be reported as file:line.
// Thread contract: immutable after parse; safe to share.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

namespace canal::app {

class PropertiesFile {
 public:
  struct Entry {
    std::string value;  // unescaped, leading whitespace removed (trailing kept, as Java does)
    int line = 0;       // 1-based line of the key
  };

  // Parses `text`; `source` names it in errors ("conf/canal.properties").
  static Result<PropertiesFile> parse(std::string_view text, std::string source);
  // Reads and parses the file at `path`.
  static Result<PropertiesFile> load(const std::string& path);

  const std::string& source() const { return source_; }
  const Entry* find(std::string_view key) const;
  // Keys in file order (a key repeated later keeps its first position, its last value).
  const std::vector<std::string>& keys() const { return order_; }
  // "file:line" of `key`, or the file name when absent.
  std::string where(std::string_view key) const;

 private:
  std::string source_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::string> order_;
};

}  // namespace canal::app
