#include "server/app/properties_file.h"

#include <fstream>
#include <sstream>

namespace canal::app {
namespace {

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\f'; }

// Splits text into natural lines (\n, \r\n or \r), keeping 1-based numbers.
std::vector<std::pair<std::string_view, int>> naturalLines(std::string_view text) {
  std::vector<std::pair<std::string_view, int>> lines;
  int number = 1;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || text[i] == '\r') {
      lines.emplace_back(text.substr(start, i - start), number++);
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < text.size()) lines.emplace_back(text.substr(start), number);
  return lines;
}

bool endsWithOddBackslashes(std::string_view s) {
  std::size_t n = 0;
  for (auto it = s.rbegin(); it != s.rend() && *it == '\\'; ++it) ++n;
  return n % 2 == 1;
}

void appendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

// Unescapes a key or value. Returns false with `error` on a malformed \uXXXX.
bool unescape(std::string_view in, std::string& out, std::string& error) {
  out.clear();
  char16_t pendingHigh = 0;
  auto flushHigh = [&] {
    if (pendingHigh) appendUtf8(out, 0xfffd);
    pendingHigh = 0;
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '\\' || i + 1 >= in.size()) {
      flushHigh();
      out.push_back(c);
      continue;
    }
    c = in[++i];
    if (c == 'u') {
      if (i + 4 >= in.size()) {
        error = "malformed \\uxxxx escape";
        return false;
      }
      char16_t unit = 0;
      for (int k = 1; k <= 4; ++k) {
        const char h = in[i + k];
        unit <<= 4;
        if (h >= '0' && h <= '9') unit |= h - '0';
        else if (h >= 'a' && h <= 'f') unit |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F') unit |= h - 'A' + 10;
        else {
          error = "malformed \\uxxxx escape";
          return false;
        }
      }
      i += 4;
      if (unit >= 0xd800 && unit <= 0xdbff) {
        flushHigh();
        pendingHigh = unit;
      } else if (unit >= 0xdc00 && unit <= 0xdfff && pendingHigh) {
        appendUtf8(out, 0x10000 + ((char32_t{pendingHigh} - 0xd800) << 10) + (unit - 0xdc00));
        pendingHigh = 0;
      } else {
        flushHigh();
        appendUtf8(out, unit);
      }
      continue;
    }
    flushHigh();
    switch (c) {
      case 't': out.push_back('\t'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 'f': out.push_back('\f'); break;
      default: out.push_back(c); break;
    }
  }
  flushHigh();
  return true;
}

}  // namespace

Result<PropertiesFile> PropertiesFile::parse(std::string_view text, std::string source) {
  PropertiesFile file;
  file.source_ = std::move(source);
  const auto lines = naturalLines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i].first;
    const int lineNumber = lines[i].second;
    std::size_t p = 0;
    while (p < line.size() && isBlank(line[p])) ++p;
    line.remove_prefix(p);
    if (line.empty() || line[0] == '#' || line[0] == '!') continue;

    // Join continuation lines into one logical line.
    std::string logical;
    while (endsWithOddBackslashes(line) && i + 1 < lines.size()) {
      logical.append(line.substr(0, line.size() - 1));
      line = lines[++i].first;
      std::size_t q = 0;
      while (q < line.size() && isBlank(line[q])) ++q;
      line.remove_prefix(q);
    }
    if (endsWithOddBackslashes(line)) line.remove_suffix(1);  // continuation at end of file
    logical.append(line);

    // The key ends at the first unescaped '=', ':' or blank.
    std::size_t k = 0;
    bool escaped = false;
    for (; k < logical.size(); ++k) {
      const char c = logical[k];
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '=' || c == ':' || isBlank(c)) {
        break;
      }
    }
    std::size_t v = k;
    while (v < logical.size() && isBlank(logical[v])) ++v;
    if (v < logical.size() && (logical[v] == '=' || logical[v] == ':')) ++v;
    while (v < logical.size() && isBlank(logical[v])) ++v;

    std::string key, value, error;
    if (!unescape(std::string_view(logical).substr(0, k), key, error) ||
        !unescape(std::string_view(logical).substr(v), value, error)) {
      return Status::invalidArgument(error, file.source_ + ":" + std::to_string(lineNumber));
    }
    auto [it, inserted] = file.entries_.insert_or_assign(key, Entry{std::move(value), lineNumber});
    if (inserted) file.order_.push_back(it->first);
  }
  return file;
}

Result<PropertiesFile> PropertiesFile::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ioError("cannot open properties file", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::ioError("cannot read properties file", path);
  return parse(text.str(), path);
}

const PropertiesFile::Entry* PropertiesFile::find(std::string_view key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

std::string PropertiesFile::where(std::string_view key) const {
  const Entry* entry = find(key);
  return entry ? source_ + ":" + std::to_string(entry->line) : source_;
}

}  // namespace canal::app
