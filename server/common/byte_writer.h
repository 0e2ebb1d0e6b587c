#pragma once

// Little-endian integers appended to a byte string: the writing side of ByteReader, for the
// packets and encodings this project builds (replication commands, GTID sets).

#include <cstddef>
#include <cstdint>
#include <string>

namespace canal {

// Appends the low `bytes` bytes (1..8) of `value`, least significant first.
inline void appendLe(std::string& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

}  // namespace canal
