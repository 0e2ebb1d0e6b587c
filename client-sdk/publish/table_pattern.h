#pragma once

// Table expressions as Canal's MQ settings write them: an expression with any of
// * ? + | ( ) { } [ ] \ $ ^ is a regular expression matched against the whole "schema.table"
// (case-insensitive); any other text is the exact "schema.table", case-insensitive.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canal/client/status.h"

namespace canal::publish {

// ASCII lower case.
std::string lowerCase(std::string s);

class TablePattern {
 public:
  // An error naming the expression when its regular expression does not compile.
  static client::Result<TablePattern> create(const std::string& expression);
  bool matches(const std::string& qualifiedName) const;
  const std::string& expression() const { return expression_; }

 private:
  std::string expression_;
  struct Compiled;
  std::string lowered_;                      // exact form
  std::shared_ptr<const Compiled> regex_;    // regex form (PCRE2, anchored, caseless)
};

// Which of several expressions (a sink's table mappings, in order) a table matches first.
// Decisions are cached per table. Thread contract: one thread.
class FirstMatch {
 public:
  static client::Result<FirstMatch> create(const std::vector<std::string>& expressions);
  // The index of the first expression matching `qualifiedName`; nullopt when none does.
  std::optional<std::size_t> of(const std::string& qualifiedName) const;

 private:
  std::vector<TablePattern> patterns_;
  mutable std::map<std::string, std::optional<std::size_t>> decided_;
};

// A list of expressions (any match); an empty list matches every table. Decisions are cached
// per table. Thread contract: one thread.
class TableSet {
 public:
  static client::Result<TableSet> create(const std::vector<std::string>& expressions);
  bool matches(const std::string& qualifiedName) const { return all_ || first_.of(qualifiedName).has_value(); }
  bool matchesAll() const { return all_; }

 private:
  FirstMatch first_;
  bool all_ = true;
};

// The `table` expressions of `mappings`, in order.
template <typename Mapping>
std::vector<std::string> tableExpressions(const std::vector<Mapping>& mappings) {
  std::vector<std::string> out;
  for (const Mapping& m : mappings) out.push_back(m.table);
  return out;
}

}  // namespace canal::publish
