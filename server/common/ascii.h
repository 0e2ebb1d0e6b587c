#pragma once

// ASCII case folding for names and keywords (identifiers, config values, filter targets);
// bytes >= 0x80 pass unchanged.

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

}  // namespace canal
