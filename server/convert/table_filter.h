#pragma once

// Canal's table and column filters (docs/configuration.md, "Filters"):
//  - RegexFilter: a comma-separated list of Perl regexes on "schema.table", each anchored
//    ^...$, matched case-insensitively against the lower-cased name; an empty list matches
//    according to its default (true for the white list, false for the black list).
//  - FieldFilter: "schema.table:col1/col2,schema2.t2:colA", names compared case-insensitively.
//  - TableFilter: white list, black list and both column lists together, with a per-table
//    cache of the decisions. Built once, then read-only; replaced as a whole when a client
//    subscribes with a filter of its own.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/common/status.h"

namespace canal::convert {

class RegexFilter {
 public:
  // An InvalidArgument naming the pattern and the regex error when one does not compile.
  static Result<RegexFilter> compile(std::string_view list, bool matchWhenEmpty);
  RegexFilter(RegexFilter&&) noexcept;
  RegexFilter& operator=(RegexFilter&&) noexcept;
  ~RegexFilter();

  bool matches(std::string_view name) const;
  bool empty() const { return code_ == nullptr; }
  const std::string& text() const { return text_; }

 private:
  RegexFilter() = default;
  std::string text_;
  bool matchWhenEmpty_ = true;
  void* code_ = nullptr;  // pcre2_code_8
};

class FieldFilter {
 public:
  static Result<FieldFilter> parse(std::string_view spec);
  // The columns listed for `schema.table` (upper-cased), or null when the table has no entry.
  const std::set<std::string>* columns(std::string_view schema, std::string_view table) const;
  bool empty() const { return tables_.empty(); }

 private:
  std::map<std::string, std::set<std::string>> tables_;  // "SCHEMA.TABLE" -> COLUMNS
};

struct TableFilterSpec {
  std::string regex = ".*\\..*";
  std::string blackRegex;
  std::string field;
  std::string blackField;
};

class TableFilter {
 public:
  static Result<std::shared_ptr<const TableFilter>> create(const TableFilterSpec& spec);

  // Whether changes of `schema.table` pass (in the white list and not in the black list).
  bool accepts(std::string_view schema, std::string_view table) const;
  // Whether column `name` of `schema.table` is kept.
  bool keepsColumn(std::string_view schema, std::string_view table, std::string_view name) const;
  // Whether any column list is configured (else keepsColumn is always true).
  bool filtersColumns() const { return !field_.empty() || !blackField_.empty(); }
  const TableFilterSpec& spec() const { return spec_; }

 private:
  TableFilter(TableFilterSpec spec, RegexFilter white, RegexFilter black, FieldFilter field, FieldFilter blackField);
  TableFilterSpec spec_;
  RegexFilter white_;
  RegexFilter black_;
  FieldFilter field_;
  FieldFilter blackField_;
  mutable std::mutex cacheMutex_;
  mutable std::unordered_map<std::string, bool> cache_;
};

}  // namespace canal::convert
