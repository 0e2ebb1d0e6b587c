#pragma once

// Protobuf's wire format read forward, in place: each field's number, wire type and value, the
// bytes of a length-delimited one as a view into the message. Both of the SDK's readers of
// Canal's messages (a MESSAGES packet's batch, a RowChange's rows) go through it, so they accept
// and refuse the same bytes, and both as protobuf's own parser does: an unknown group is skipped
// whole, a group's end without its start or a wire type that does not exist is refused.
// Tags and lengths below 128 (every field of Canal's messages, and most values) take the short
// path.

#include <cstdint>
#include <string_view>

namespace canal::client::detail {

class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : at_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  bool done() const { return at_ == end_; }

  struct Field {
    std::uint32_t number = 0;
    std::uint32_t type = 0;    // 0 varint, 1 fixed64, 2 length-delimited, 3 a group (skipped), 5 fixed32
    std::uint64_t varint = 0;  // type 0
    std::string_view bytes;    // type 2
  };
  // The next field into `f`; false at a malformed one (then the whole message is refused).
  // Always inlined, as value() is: in a loop over fields the compiler would otherwise call them,
  // a quarter more instructions per field.
  [[gnu::always_inline]] bool next(Field& f) { return tag(f) && value(f, 0); }

  // For a message whose fields come as its writer puts them (in number order, each tag one
  // byte): whether the next byte is `tag`, consumed when it is; then its value, read as next()
  // reads it.
  [[gnu::always_inline]] bool skipTag(std::uint8_t tag) {
    if (at_ == end_ || static_cast<std::uint8_t>(*at_) != tag) return false;
    ++at_;
    return true;
  }
  [[gnu::always_inline]] bool varintValue(std::uint64_t& out) { return varint(out); }
  [[gnu::always_inline]] bool bytesValue(std::string_view& out) {
    Field f;
    f.type = 2;
    if (!value(f, 0)) return false;
    out = f.bytes;
    return true;
  }

 private:
  static constexpr std::uint32_t kStartGroup = 3;
  static constexpr std::uint32_t kEndGroup = 4;
  static constexpr int kMaxGroupDepth = 100;  // protobuf's default recursion limit

  // The value of the field whose tag was just read (`depth`: the groups it is in). Canal's
  // messages hold varints and length-delimited fields only: those two are tested first, with
  // branches a processor predicts better than a jump table.
  [[gnu::always_inline]] bool value(Field& f, int depth) {
    if (f.type == 2) {
      std::uint64_t size = 0;
      if (!length(size) || size > static_cast<std::uint64_t>(end_ - at_)) return false;
      f.bytes = std::string_view(at_, static_cast<std::size_t>(size));
      at_ += size;
      return true;
    }
    if (f.type == 0) return varint(f.varint);
    return otherValue(f, depth);
  }

  // Fixed-size values and groups (skipped); false for a group's end without its start or a
  // wire type that does not exist.
  [[gnu::noinline]] bool otherValue(const Field& f, int depth) {
    switch (f.type) {
      case 1:
      case 5: {
        const std::size_t n = f.type == 1 ? 8 : 4;
        if (static_cast<std::size_t>(end_ - at_) < n) return false;
        at_ += n;
        return true;
      }
      case kStartGroup:
        return skipGroup(f.number, depth + 1);
      default:
        return false;
    }
  }

  // A tag as protobuf reads one: at most 5 bytes, the bits past 32 dropped; field number 0 is
  // refused.
  bool tag(Field& f) {
    std::uint32_t t = 0;
    if (!varint32(t, 5, 0x80)) return false;
    f.number = t >> 3;
    f.type = t & 7;
    return f.number != 0;
  }

  // A length as protobuf reads one: at most 5 bytes and below 2^31.
  bool length(std::uint64_t& out) {
    std::uint32_t n = 0;
    if (!varint32(n, 5, 8)) return false;
    out = n;
    return true;
  }

  // A varint of at most `bytes` bytes, the last of them below `lastBelow`, kept to 32 bits.
  bool varint32(std::uint32_t& out, int bytes, unsigned lastBelow) {
    if (at_ != end_ && static_cast<std::uint8_t>(*at_) < 0x80) {
      out = static_cast<std::uint8_t>(*at_++);
      return true;
    }
    out = 0;
    for (int i = 0; i < bytes; ++i) {
      if (at_ == end_) return false;
      const auto byte = static_cast<std::uint8_t>(*at_++);
      if (i == bytes - 1 && byte >= lastBelow) return false;
      out |= static_cast<std::uint32_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // Skips the fields of group `number` (nested groups too) up to its end.
  bool skipGroup(std::uint32_t number, int depth) {
    if (depth > kMaxGroupDepth) return false;
    Field f;
    for (;;) {
      if (!tag(f)) return false;
      if (f.type == kEndGroup) return f.number == number;
      if (!value(f, depth)) return false;
    }
  }

  bool varint(std::uint64_t& out) {
    if (at_ != end_ && static_cast<std::uint8_t>(*at_) < 0x80) {
      out = static_cast<std::uint8_t>(*at_++);
      return true;
    }
    out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ == end_) return false;
      const auto byte = static_cast<std::uint8_t>(*at_++);
      out |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  const char* at_;
  const char* end_;
};

// Calls `onField(field)` for each field of the message `bytes` while it returns true. False when
// a field is malformed or `onField` returned false (the message is refused then).
template <typename OnField>
bool forEachField(std::string_view bytes, OnField&& onField) {
  WireReader in(bytes);
  WireReader::Field f;
  while (!in.done()) {
    if (!in.next(f) || !onField(static_cast<const WireReader::Field&>(f))) return false;
  }
  return true;
}

}  // namespace canal::client::detail
