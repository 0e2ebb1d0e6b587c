#include "server/convert/flat_message.h"

#include <algorithm>
#include <string_view>
#include <vector>

namespace canal::convert {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0.
std::size_t utf8Length(std::string_view s, std::size_t i) {
  const auto c = static_cast<std::uint8_t>(s[i]);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<std::uint8_t>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
  return n;
}

void appendKey(std::string& out, std::string_view key) {
  appendJsonUtf8(out, key);
  out.push_back(':');
}

// Column name -> string of the union of columns over the rows, in first-seen order.
template <typename F>
void appendColumnMap(std::string& out, const ChangeEntry& entry, F value) {
  std::vector<const ChangeColumn*> seen;
  for (const auto& row : entry.rows) {
    const auto& image = entry.type == ChangeType::kDelete ? row.before : row.after;
    for (const auto& c : image) {
      // Keys in order of first appearance, values from the last row (Java's LinkedHashMap.put).
      const auto it = std::find_if(seen.begin(), seen.end(),
                                   [&](const ChangeColumn* s) { return s->info == c.info || s->name() == c.name(); });
      if (it == seen.end()) seen.push_back(&c);
      else *it = &c;
    }
  }
  out.push_back('{');
  for (std::size_t i = 0; i < seen.size(); ++i) {
    if (i) out.push_back(',');
    appendKey(out, seen[i]->name());
    value(*seen[i]);
  }
  out.push_back('}');
}

void appendValue(std::string& out, const ColumnText& text) {
  if (text.isNull) out += "null"; else appendJsonUtf8(out, text.value);
}

}  // namespace

void appendJsonUtf8(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('"');
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\b': out += "\\b"; ++i; continue;
      case '\f': out += "\\f"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      default: break;
    }
    if (c < 0x20) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
      ++i;
      continue;
    }
    const std::size_t n = utf8Length(text, i);
    if (n == 0) {
      out += "\xef\xbf\xbd";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  out.push_back('"');
}

void appendFlatMessage(std::string& out, const ChangeEntry& entry, std::int64_t id, std::int64_t ts) {
  const bool hasRows = !entry.rows.empty();
  out.push_back('{');
  appendKey(out, "data");
  if (!hasRows) {
    out += "null";
  } else {
    out.push_back('[');
    for (std::size_t r = 0; r < entry.rows.size(); ++r) {
      if (r) out.push_back(',');
      const auto& image = entry.type == ChangeType::kDelete ? entry.rows[r].before : entry.rows[r].after;
      out.push_back('{');
      for (std::size_t i = 0; i < image.size(); ++i) {
        if (i) out.push_back(',');
        appendKey(out, image[i].name());
        appendValue(out, image[i].text);
      }
      out.push_back('}');
    }
    out.push_back(']');
  }
  out += ",\"database\":";
  appendJsonUtf8(out, entry.schema.value_or(""));
  out += ",\"es\":" + std::to_string(entry.executeTime);
  out += ",\"gtid\":";
  appendJsonUtf8(out, entry.gtid);
  out += ",\"id\":" + std::to_string(id);
  out += entry.isDdl ? ",\"isDdl\":true" : ",\"isDdl\":false";
  out += ",\"mysqlType\":";
  if (!hasRows) {
    out += "null";
  } else {
    appendColumnMap(out, entry, [&](const ChangeColumn& c) { appendJsonUtf8(out, c.mysqlType()); });
  }
  out += ",\"old\":";
  if (entry.type != ChangeType::kUpdate || !hasRows) {
    out += "null";
  } else {
    // Canal accumulates the updated column names over the rows of the entry.
    std::vector<std::string_view> updatedNames;
    out.push_back('[');
    for (std::size_t r = 0; r < entry.rows.size(); ++r) {
      if (r) out.push_back(',');
      for (const auto& a : entry.rows[r].after) {
        if (a.updated && std::find(updatedNames.begin(), updatedNames.end(), a.name()) == updatedNames.end()) {
          updatedNames.push_back(a.name());
        }
      }
      out.push_back('{');
      bool first = true;
      for (const auto& b : entry.rows[r].before) {
        if (std::find(updatedNames.begin(), updatedNames.end(), b.name()) == updatedNames.end()) continue;
        if (!first) out.push_back(',');
        first = false;
        appendKey(out, b.name());
        appendValue(out, b.text);
      }
      out.push_back('}');
    }
    out.push_back(']');
  }
  out += ",\"pkNames\":";
  std::vector<std::string_view> keys;
  if (hasRows) {
    const auto& image = entry.type == ChangeType::kDelete ? entry.rows[0].before : entry.rows[0].after;
    for (const auto& c : image) {
      if (c.isKey()) keys.push_back(c.name());
    }
  }
  if (keys.empty()) {
    out += "null";
  } else {
    out.push_back('[');
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (i) out.push_back(',');
      appendJsonUtf8(out, keys[i]);
    }
    out.push_back(']');
  }
  out += ",\"sql\":";
  appendJsonUtf8(out, entry.sql);
  out += ",\"sqlType\":";
  if (!hasRows) {
    out += "null";
  } else {
    appendColumnMap(out, entry, [&](const ChangeColumn& c) { out += std::to_string(c.text.sqlType); });
  }
  out += ",\"table\":";
  appendJsonUtf8(out, entry.table.value_or(""));
  out += ",\"ts\":" + std::to_string(ts);
  out += ",\"type\":";
  appendJsonUtf8(out, changeTypeName(entry.type));
  out.push_back('}');
}

}  // namespace canal::convert
