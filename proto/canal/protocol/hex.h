#pragma once

// Lowercase hex of bytes and back (the password scramble's text, key values kept as text).

#include <optional>
#include <string>
#include <string_view>

namespace canal::protocol {

std::string toHex(std::string_view bytes);
// nullopt for an odd length or a character that is not a hex digit.
std::optional<std::string> fromHex(std::string_view hex);

}  // namespace canal::protocol
