#include "publish/table_pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>

namespace canal::publish {
struct TablePattern::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

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
  int error = 0;
  PCRE2_SIZE offset = 0;
  auto compiled = std::make_shared<Compiled>();
  compiled->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expression.data()), expression.size(),
                                 PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_CASELESS, &error, &offset, nullptr);
  if (!compiled->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    return client::Status(client::Status::kInvalidArgument,
                          "table expression '" + expression + "' is not a valid regular expression at offset " +
                              std::to_string(offset) + ": " + reinterpret_cast<const char*>(message));
  }
  p.regex_ = std::move(compiled);
  return p;
}

bool TablePattern::matches(const std::string& qualifiedName) const {
  if (regex_) {
    pcre2_match_data* match = pcre2_match_data_create_from_pattern(regex_->code, nullptr);
    const int rc = pcre2_match(regex_->code, reinterpret_cast<PCRE2_SPTR>(qualifiedName.data()), qualifiedName.size(),
                               0, 0, match, nullptr);
    pcre2_match_data_free(match);
    return rc >= 0;
  }
  return lowerCase(qualifiedName) == lowered_;
}

client::Result<TableSet> TableSet::create(const std::vector<std::string>& expressions) {
  auto first = FirstMatch::create(expressions);
  if (!first) return first.status();
  TableSet set;
  set.first_ = std::move(*first);
  set.all_ = expressions.empty();
  return set;
}

client::Result<FirstMatch> FirstMatch::create(const std::vector<std::string>& expressions) {
  FirstMatch first;
  for (const auto& e : expressions) {
    auto p = TablePattern::create(e);
    if (!p) return p.status();
    first.patterns_.push_back(std::move(*p));
  }
  return first;
}

std::optional<std::size_t> FirstMatch::of(const std::string& qualifiedName) const {
  if (const auto it = decided_.find(qualifiedName); it != decided_.end()) return it->second;
  std::optional<std::size_t> match;
  for (std::size_t i = 0; i < patterns_.size() && !match; ++i) {
    if (patterns_[i].matches(qualifiedName)) match = i;
  }
  decided_.emplace(qualifiedName, match);
  return match;
}

}  // namespace canal::publish
