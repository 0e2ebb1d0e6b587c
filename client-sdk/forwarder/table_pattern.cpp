#include "table_pattern.h"

#include <algorithm>
#include <cctype>

namespace canal::forwarder {
std::string lowerCase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

client::Result<TablePattern> TablePattern::create(const std::string& expression) {
  TablePattern p;
  p.expression_ = expression;
  if (expression.find_first_of("*?+|(){}[]\\$^") == std::string::npos) {
    p.lowered_ = lowerCase(expression);
    return p;
  }
  try {
    p.regex_ = std::make_shared<const std::regex>(expression, std::regex::ECMAScript | std::regex::icase);
  } catch (const std::regex_error& e) {
    return client::Status(client::Status::kInvalidArgument,
                          "table expression '" + expression + "' is not a valid regular expression: " + e.what());
  }
  return p;
}

bool TablePattern::matches(const std::string& qualifiedName) const {
  if (regex_) return std::regex_match(qualifiedName, *regex_);
  return lowerCase(qualifiedName) == lowered_;
}

client::Result<TableSet> TableSet::create(const std::vector<std::string>& expressions) {
  TableSet set;
  for (const auto& e : expressions) {
    auto p = TablePattern::create(e);
    if (!p) return p.status();
    set.patterns_.push_back(std::move(*p));
  }
  return set;
}

bool TableSet::matches(const std::string& qualifiedName) const {
  if (patterns_.empty()) return true;
  if (const auto it = decided_.find(qualifiedName); it != decided_.end()) return it->second;
  const bool match = std::any_of(patterns_.begin(), patterns_.end(),
                                 [&](const TablePattern& p) { return p.matches(qualifiedName); });
  decided_.emplace(qualifiedName, match);
  return match;
}

}  // namespace canal::forwarder
