#include "canal/protocol/password_scramble.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <optional>
#include <string_view>

#include "canal/protocol/hex.h"

namespace canal::protocol {
namespace {

std::string sha1(std::string_view in) {
  unsigned char out[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
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
  const std::string candidate = sha1(stage1);
  // In constant time: how long the comparison takes says nothing of how much matched.
  const bool match = stage2.size() == candidate.size() &&
                     CRYPTO_memcmp(candidate.data(), stage2.data(), candidate.size()) == 0;
  return match ? ScrambleCheck::kMatch : ScrambleCheck::kMismatch;
}

}  // namespace canal::protocol
