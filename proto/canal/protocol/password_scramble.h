#pragma once

// The password scramble of Canal's ClientAuth (canal-protocol.md section 4.2), shared by the
// server (to verify) and the client SDK (to send): SHA1(seed + SHA1(SHA1(password))) XOR
// SHA1(password), as 40 lowercase hex characters.

#include <string>

namespace canal::protocol {

std::string scramblePassword(const std::string& password, const std::string& seed);

}  // namespace canal::protocol
