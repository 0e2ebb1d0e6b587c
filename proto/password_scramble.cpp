#include "canal/protocol/password_scramble.h"

#include <openssl/sha.h>

#include <optional>
#include <string_view>

namespace canal::protocol {
namespace {

std::string sha1(std::string_view in) {
  unsigned char out[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

std::string toHex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> fromHex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int high = hexDigit(hex[i]);
    const int low = hexDigit(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
  }
  return out;
}

std::string xorBytes(std::string a, std::string_view b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) a[i] = static_cast<char>(a[i] ^ b[i]);
  return a;
}

}  // namespace

std::string scramblePassword(const std::string& password, const std::string& seed) {
  const std::string stage1 = sha1(password);
  return toHex(xorBytes(sha1(seed + sha1(stage1)), stage1));
}

std::string passwordHash(const std::string& password) { return toHex(sha1(sha1(password))); }

ScrambleCheck checkScramble(const std::string& scramble, const std::string& seed, const std::string& passwordHashHex) {
  const auto token = fromHex(scramble);
  if (!token || token->size() < SHA_DIGEST_LENGTH) return ScrambleCheck::kMalformed;
  const std::string stage2 = fromHex(passwordHashHex).value_or("");
  const std::string stage1 = xorBytes(token->substr(0, SHA_DIGEST_LENGTH), sha1(seed + stage2));
  return sha1(stage1) == stage2 ? ScrambleCheck::kMatch : ScrambleCheck::kMismatch;
}

}  // namespace canal::protocol
