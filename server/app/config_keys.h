#pragma once

// Declarative configuration keys: each key is declared once with its type, default, range and
// help, and knows how to parse its text into a member of the target struct. The same table
// drives parsing, defaults, validation errors and `canal-server --list-keys`.
// Thread contract: tables are immutable after construction.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/common/ascii.h"

namespace canal::app {

template <typename S>
struct KeyDef {
  std::string name;
  std::string type;          // int, bool, string, enum, list, secret, unused
  std::string defaultValue;  // text form; placeholders allowed
  std::string range;         // human-readable constraint, may be empty
  std::string help;
  bool secret = false;       // never logged or printed
  bool unused = false;       // accepted for compatibility with Canal, has no effect here
  // Parses `text` into `target`; returns an error text or "".
  std::function<std::string(S& target, const std::string& text)> apply;
};

namespace keys {

std::string trim(std::string_view text);
std::optional<std::int64_t> parseInt(std::string_view text);
std::optional<bool> parseBool(std::string_view text);
std::vector<std::string> splitList(std::string_view text);

template <typename S, typename M>
KeyDef<S> intKey(std::string name, M S::*member, std::int64_t def, std::int64_t min, std::int64_t max,
                 std::string help, std::function<std::string(std::int64_t)> check = nullptr) {
  KeyDef<S> k{std::move(name), "int", std::to_string(def),
              "[" + std::to_string(min) + ", " + std::to_string(max) + "]", std::move(help), false, false, nullptr};
  k.apply = [member, min, max, check](S& s, const std::string& text) -> std::string {
    auto v = parseInt(text);
    if (!v) return "'" + text + "' is not an integer";
    if (*v < min || *v > max) {
      return "'" + text + "' is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    }
    if (check) {
      if (std::string e = check(*v); !e.empty()) return "'" + text + "' " + e;
    }
    s.*member = static_cast<M>(*v);
    return {};
  };
  return k;
}

// A key whose parsing is written out by the caller.
template <typename S>
KeyDef<S> customKey(std::string name, std::string type, std::string def, std::string range, std::string help,
                    std::function<std::string(S&, const std::string&)> apply) {
  return KeyDef<S>{std::move(name), std::move(type), std::move(def), std::move(range), std::move(help), false, false,
                   std::move(apply)};
}

template <typename S>
KeyDef<S> boolKey(std::string name, bool S::*member, bool def, std::string help) {
  KeyDef<S> k{std::move(name), "bool", def ? "true" : "false", "true|false", std::move(help), false, false, nullptr};
  k.apply = [member](S& s, const std::string& text) -> std::string {
    auto v = parseBool(text);
    if (!v) return "'" + text + "' is not true or false";
    s.*member = *v;
    return {};
  };
  return k;
}

template <typename S>
KeyDef<S> stringKey(std::string name, std::string S::*member, std::string def, std::string help,
                    std::function<std::string(const std::string&)> check = nullptr, bool secret = false) {
  KeyDef<S> k{std::move(name), secret ? "secret" : "string", std::move(def), "", std::move(help), secret, false, nullptr};
  k.apply = [member, check](S& s, const std::string& text) -> std::string {
    if (check) {
      if (std::string e = check(text); !e.empty()) return e;
    }
    s.*member = text;
    return {};
  };
  return k;
}

template <typename S>
KeyDef<S> listKey(std::string name, std::vector<std::string> S::*member, std::string def, std::string help) {
  KeyDef<S> k{std::move(name), "list", std::move(def), "comma-separated", std::move(help), false, false, nullptr};
  k.apply = [member](S& s, const std::string& text) -> std::string {
    s.*member = splitList(text);
    return {};
  };
  return k;
}

// A value from a fixed set, compared case-insensitively. `refused` is added to the error of a
// value outside it (what to do instead).
template <typename S, typename E>
KeyDef<S> enumKey(std::string name, E S::*member, std::string def,
                  std::vector<std::pair<std::string, E>> choices, std::string help, std::string refused = "") {
  std::string range;
  for (const auto& [text, value] : choices) range += (range.empty() ? "" : "|") + text;
  KeyDef<S> k{std::move(name), "enum", std::move(def), range, std::move(help), false, false, nullptr};
  k.apply = [member, choices, range, refused](S& s, const std::string& text) -> std::string {
    const std::string lower = asciiLower(text);
    for (const auto& [choice, value] : choices) {
      if (asciiLower(choice) == lower) {
        s.*member = value;
        return {};
      }
    }
    return "'" + text + "' is not one of " + range + (refused.empty() ? "" : " (" + refused + ")");
  };
  return k;
}

// A Canal key accepted so that existing configuration files load, with no effect here.
template <typename S>
KeyDef<S> unusedKey(std::string name, std::string help) {
  KeyDef<S> k{std::move(name), "unused", "", "", std::move(help), false, true, nullptr};
  k.apply = [](S&, const std::string&) { return std::string(); };
  return k;
}

}  // namespace keys
}  // namespace canal::app
