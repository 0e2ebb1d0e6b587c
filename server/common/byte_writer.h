#pragma once

// Little-endian integers appended to a byte string: the writing side of ByteReader, for the
// packets and encodings this project builds (replication commands, GTID sets); and protobuf's
// base-128 varints, for the Canal entries and frames written without message objects.

#include <cstddef>
#include <cstdint>
#include <string>

namespace canal {

// Appends the low `bytes` bytes (1..8) of `value`, least significant first.
inline void appendLe(std::string& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// The length of `value` as a protobuf varint (1..10 bytes).
inline std::size_t varintSize(std::uint64_t value) {
  std::size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

inline void appendVarint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

}  // namespace canal
