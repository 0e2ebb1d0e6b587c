#pragma once

// ASCII case folding and trimming for names and keywords (identifiers, config values, filter
// targets); bytes >= 0x80 pass unchanged.

#include <cctype>
#include <string>
#include <string_view>

namespace canal {

inline std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline std::string asciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// `s` without leading and trailing ASCII white space.
inline std::string_view asciiTrim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace canal
