#include "publish/partition_hash.h"

#include <climits>

namespace canal::publish {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The next code point of `s` from `i`; an invalid byte reads as U+FFFD, as a Java decoder does.
std::uint32_t nextCodePoint(std::string_view s, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  int length = 0;
  std::uint32_t cp = 0;
  if (b0 < 0x80) {
    ++i;
    return b0;
  } else if ((b0 & 0xe0) == 0xc0) {
    length = 2, cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    length = 3, cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    length = 4, cp = b0 & 0x07;
  } else {
    ++i;
    return 0xfffd;
  }
  if (i + length > s.size()) {
    ++i;
    return 0xfffd;
  }
  for (int k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) {
      ++i;
      return 0xfffd;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  i += length;
  return cp;
}

}  // namespace

std::int32_t javaStringHash(std::string_view utf8) {
  std::uint32_t h = 0;
  for (std::size_t i = 0; i < utf8.size();) {
    const std::uint32_t cp = nextCodePoint(utf8, i);
    if (cp >= 0x10000) {
      const std::uint32_t v = cp - 0x10000;
      h = 31 * h + (0xd800 + (v >> 10));
      h = 31 * h + (0xdc00 + (v & 0x3ff));
    } else {
      h = 31 * h + cp;
    }
  }
  return static_cast<std::int32_t>(h);
}

int canalPartition(std::int32_t hash, int partitions) {
  if (partitions <= 0) return 0;
  const std::int32_t a = hash == INT_MIN ? INT_MIN : (hash < 0 ? -hash : hash);
  const std::int32_t r = a % partitions;  // truncates toward zero, as Java's %
  return r < 0 ? -r : r;
}

std::int32_t rowHash(const std::string& database, const std::vector<std::optional<std::string>>& keyValues,
                     bool databaseHash) {
  std::int32_t h = databaseHash ? javaStringHash(database) : 0;
  for (const auto& v : keyValues) h ^= javaStringHash(v ? *v : std::string_view());
  return h;
}

client::Result<PartitionHash> PartitionHash::parse(std::string_view spec) {
  PartitionHash hash;
  std::size_t start = 0;
  while (start <= spec.size()) {
    const std::size_t end = spec.find_first_of(",;", start);
    const std::string_view item = trim(spec.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    start = end == std::string_view::npos ? spec.size() + 1 : end + 1;
    if (item.empty()) continue;
    const auto bad = [&](const std::string& why) {
      return client::Status(client::Status::kInvalidArgument,
                            "partition hash entry '" + std::string(item) + "': " + why);
    };
    const std::size_t colon = item.rfind(':');
    const std::string_view tableExpr = trim(colon == std::string_view::npos ? item : item.substr(0, colon));
    if (tableExpr.empty()) return bad("no table expression");
    auto table = TablePattern::create(std::string(tableExpr));
    if (!table) return bad(table.status().message());
    PartitionRule rule{std::move(*table), PartitionRule::By::kTable, {}};
    if (colon != std::string_view::npos) {
      const std::string_view columns = trim(item.substr(colon + 1));
      if (columns.empty()) return bad("no columns after ':' (use $pk$ or col1^col2)");
      if (columns == "$pk$") {
        rule.by = PartitionRule::By::kPrimaryKey;
      } else {
        rule.by = PartitionRule::By::kColumns;
        std::size_t c = 0;
        while (c <= columns.size()) {
          const std::size_t caret = columns.find('^', c);
          const std::string_view name =
              trim(columns.substr(c, caret == std::string_view::npos ? std::string_view::npos : caret - c));
          if (name.empty()) return bad("an empty column name");
          rule.columns.emplace_back(name);
          c = caret == std::string_view::npos ? columns.size() + 1 : caret + 1;
        }
      }
    }
    hash.rules_.push_back(std::move(rule));
  }
  return hash;
}

const PartitionRule* PartitionHash::ruleFor(const std::string& qualifiedName) const {
  if (const auto it = decided_.find(qualifiedName); it != decided_.end()) return it->second;
  const PartitionRule* found = nullptr;
  for (const auto& r : rules_) {
    if (r.table.matches(qualifiedName)) {
      found = &r;
      break;
    }
  }
  decided_.emplace(qualifiedName, found);
  return found;
}

}  // namespace canal::publish
