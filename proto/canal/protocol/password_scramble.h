#pragma once

// The password scramble of Canal's ClientAuth (docs/protocol.md, "Authentication"), shared by
// the server (to verify) and the client SDK (to send): SHA1(seed + SHA1(SHA1(password))) XOR
// SHA1(password), as 40 lowercase hex characters.

#include <string>

namespace canal::protocol {

std::string scramblePassword(const std::string& password, const std::string& seed);

// Hex of SHA1(SHA1(password)): what canal.passwd holds.
std::string passwordHash(const std::string& password);

enum class ScrambleCheck { kMatch, kMismatch, kMalformed };
// Checks a client's scramble against the seed it was sent and canal.passwd's hash; kMalformed
// when `scramble` is not the hex of at least 20 bytes.
ScrambleCheck checkScramble(const std::string& scramble, const std::string& seed, const std::string& passwordHashHex);

}  // namespace canal::protocol
