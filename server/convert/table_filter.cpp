#include "server/convert/table_filter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "server/common/ascii.h"

namespace canal::convert {
namespace {

// Splits on `sep`, trimming each part and dropping empty ones.
std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(sep, start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view part = asciiTrim(text.substr(start, end - start));
    if (!part.empty()) parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

pcre2_code* code(void* p) { return static_cast<pcre2_code*>(p); }

}  // namespace

Result<RegexFilter> RegexFilter::compile(std::string_view list, bool matchWhenEmpty) {
  RegexFilter f;
  f.text_ = std::string(list);
  f.matchWhenEmpty_ = matchWhenEmpty;
  std::vector<std::string> patterns = split(list, ',');
  if (patterns.empty()) return f;
  // Longest first, each anchored at both ends, joined as alternatives (as Canal does).
  std::stable_sort(patterns.begin(), patterns.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  std::string joined;
  for (const std::string& p : patterns) {
    if (!joined.empty()) joined += '|';
    joined += '^' + p + '$';
  }
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(joined.data()), joined.size(),
                                PCRE2_CASELESS | PCRE2_DOTALL | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &error, &offset,
                                nullptr);
  if (!c) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    return Status::invalidArgument("table filter \"" + std::string(list) + "\" is not a valid regex list: " +
                                   reinterpret_cast<const char*>(message) + " at offset " + std::to_string(offset) +
                                   " of \"" + joined + "\"");
  }
  f.code_ = c;
  return f;
}

RegexFilter::RegexFilter(RegexFilter&& o) noexcept
    : text_(std::move(o.text_)), matchWhenEmpty_(o.matchWhenEmpty_), code_(std::exchange(o.code_, nullptr)) {}

RegexFilter& RegexFilter::operator=(RegexFilter&& o) noexcept {
  if (this != &o) {
    if (code_) pcre2_code_free(code(code_));
    text_ = std::move(o.text_);
    matchWhenEmpty_ = o.matchWhenEmpty_;
    code_ = std::exchange(o.code_, nullptr);
  }
  return *this;
}

RegexFilter::~RegexFilter() {
  if (code_) pcre2_code_free(code(code_));
}

bool RegexFilter::matches(std::string_view name) const {
  if (!code_ || name.empty()) return matchWhenEmpty_;
  const std::string target = asciiLower(name);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code(code_), nullptr);
  const int rc = pcre2_match(code(code_), reinterpret_cast<PCRE2_SPTR>(target.data()), target.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;
}

Result<FieldFilter> FieldFilter::parse(std::string_view spec) {
  FieldFilter f;
  for (const std::string& item : split(spec, ',')) {
    const auto colon = item.find(':');
    const std::string table = asciiUpper(asciiTrim(std::string_view(item).substr(0, colon)));
    if (colon == std::string::npos || table.find('.') == std::string::npos) {
      return Status::invalidArgument("field filter item \"" + item + "\" is not schema.table:col1/col2");
    }
    auto& columns = f.tables_[table];
    for (const std::string& c : split(std::string_view(item).substr(colon + 1), '/')) columns.insert(asciiUpper(c));
  }
  return f;
}

const std::set<std::string>* FieldFilter::columns(std::string_view schema, std::string_view table) const {
  if (tables_.empty()) return nullptr;
  const auto it = tables_.find(asciiUpper(schema) + "." + asciiUpper(table));
  return it == tables_.end() ? nullptr : &it->second;
}

Result<std::shared_ptr<const TableFilter>> TableFilter::create(const TableFilterSpec& spec) {
  auto white = RegexFilter::compile(spec.regex, true);
  if (!white) return white.status().withContext("canal.instance.filter.regex");
  auto black = RegexFilter::compile(spec.blackRegex, false);
  if (!black) return black.status().withContext("canal.instance.filter.black.regex");
  auto field = FieldFilter::parse(spec.field);
  if (!field) return field.status().withContext("canal.instance.filter.field");
  auto blackField = FieldFilter::parse(spec.blackField);
  if (!blackField) return blackField.status().withContext("canal.instance.filter.black.field");
  return std::shared_ptr<const TableFilter>(new TableFilter(spec, std::move(white).value(), std::move(black).value(),
                                                            std::move(field).value(),
                                                            std::move(blackField).value()));
}

TableFilter::TableFilter(TableFilterSpec spec, RegexFilter white, RegexFilter black, FieldFilter field,
                         FieldFilter blackField)
    : spec_(std::move(spec)),
      white_(std::move(white)),
      black_(std::move(black)),
      field_(std::move(field)),
      blackField_(std::move(blackField)) {}

bool TableFilter::accepts(std::string_view schema, std::string_view table) const {
  std::string name;
  name.reserve(schema.size() + table.size() + 1);
  name.append(schema).append(".").append(table);
  {
    std::lock_guard<std::mutex> lock(cacheMutex_);
    const auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
  }
  const bool pass = white_.matches(name) && !black_.matches(name);
  std::lock_guard<std::mutex> lock(cacheMutex_);
  cache_.emplace(std::move(name), pass);
  return pass;
}

bool TableFilter::keepsColumn(std::string_view schema, std::string_view table, std::string_view name) const {
  if (const auto* keep = field_.columns(schema, table); keep && !keep->count(asciiUpper(name))) return false;
  if (const auto* drop = blackField_.columns(schema, table); drop && drop->count(asciiUpper(name))) return false;
  return true;
}

}  // namespace canal::convert
