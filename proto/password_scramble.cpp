#include "canal/protocol/password_scramble.h"

#include <openssl/sha.h>

namespace canal::protocol {
namespace {

std::string sha1(const std::string& in) {
  unsigned char out[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

}  // namespace

std::string scramblePassword(const std::string& password, const std::string& seed) {
  const std::string stage1 = sha1(password);
  const std::string token = sha1(seed + sha1(stage1));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const auto b = static_cast<unsigned char>(token[i] ^ stage1[i]);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace canal::protocol
