#include "server/console/properties_mask.h"

#include <map>
#include <optional>

#include "server/common/ascii.h"

namespace canal::console {
namespace {

// One property line split as key, the text up to its value (key, separator, blanks), and value.
struct Line {
  std::string key;
  std::size_t valueAt = 0;
  std::size_t valueEnd = 0;
};

std::optional<Line> parseLine(const std::string& line) {
  std::size_t at = line.find_first_not_of(" \t\f");
  if (at == std::string::npos || line[at] == '#' || line[at] == '!') return std::nullopt;
  std::size_t end = at;
  while (end < line.size() && line[end] != '=' && line[end] != ':' && line[end] != ' ' && line[end] != '\t') {
    if (line[end] == '\\') ++end;
    ++end;
  }
  Line out;
  out.key = line.substr(at, std::min(end, line.size()) - at);
  std::size_t v = line.find_first_not_of(" \t\f", std::min(end, line.size()));
  if (v != std::string::npos && (line[v] == '=' || line[v] == ':')) v = line.find_first_not_of(" \t\f", v + 1);
  out.valueAt = v == std::string::npos ? line.size() : v;
  out.valueEnd = line.size();
  while (out.valueEnd > out.valueAt && (line[out.valueEnd - 1] == '\r' || line[out.valueEnd - 1] == ' ')) --out.valueEnd;
  return out;
}

// Applies `f` to every line of `text`, joining what it returns.
template <typename F>
std::string eachLine(const std::string& text, F f) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    const bool last = end == std::string::npos;
    if (last) end = text.size();
    out += f(text.substr(at, end - at));
    if (!last) out += '\n';
    at = end + 1;
  }
  return out;
}

}  // namespace

bool isSecretKey(const std::string& key) {
  const std::string k = asciiLower(key);
  for (const char* word : {"password", "passwd", "secret", "accesskey", "jaas"}) {
    if (k.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string maskSecrets(const std::string& text) {
  return eachLine(text, [](const std::string& line) {
    const auto l = parseLine(line);
    if (!l || !isSecretKey(l->key) || l->valueAt == l->valueEnd) return line;
    return line.substr(0, l->valueAt) + kSecretMask + line.substr(l->valueEnd);
  });
}

Result<std::string> unmaskSecrets(const std::string& edited, const std::string& saved) {
  std::map<std::string, std::string> values;
  eachLine(saved, [&](const std::string& line) {
    if (const auto l = parseLine(line)) values[l->key] = line.substr(l->valueAt, l->valueEnd - l->valueAt);
    return std::string();
  });
  std::string missing;
  std::string out = eachLine(edited, [&](const std::string& line) {
    const auto l = parseLine(line);
    if (!l || !isSecretKey(l->key) || line.substr(l->valueAt, l->valueEnd - l->valueAt) != kSecretMask) return line;
    const auto it = values.find(l->key);
    if (it == values.end()) {
      missing = l->key;
      return line;
    }
    return line.substr(0, l->valueAt) + it->second + line.substr(l->valueEnd);
  });
  if (!missing.empty()) {
    return Status::invalidArgument(missing + " shows the mask " + kSecretMask +
                                   " but the saved file has no value for it: type the value");
  }
  return out;
}

}  // namespace canal::console
