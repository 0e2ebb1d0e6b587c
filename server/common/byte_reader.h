#pragma once

// Bounds-checked little-endian reader over a byte span. A read past the end does not throw or
// touch memory: it returns zeros or an empty view and sets a sticky failure flag, so decoders
// read a whole structure and check failed() once. Thread contract: one thread per reader.

#include <cstdint>
#include <cstring>
#include <string_view>

namespace canal {

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::string_view data) : data_(data) {}

  bool failed() const { return failed_; }
  std::size_t position() const { return pos_; }
  std::size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
  bool atEnd() const { return remaining() == 0; }
  std::string_view data() const { return data_; }

  bool has(std::size_t n) const { return !failed_ && data_.size() - pos_ >= n; }

  void skip(std::size_t n) {
    if (require(n)) pos_ += n;
  }

  std::uint8_t u8() {
    if (!require(1)) return 0;
    return static_cast<std::uint8_t>(data_[pos_++]);
  }
  std::uint16_t u16() { return static_cast<std::uint16_t>(uintLe(2)); }
  std::uint32_t u24() { return static_cast<std::uint32_t>(uintLe(3)); }
  std::uint32_t u32() { return static_cast<std::uint32_t>(uintLe(4)); }
  std::uint64_t u48() { return uintLe(6); }
  std::uint64_t u64() { return uintLe(8); }

  // Unsigned little-endian integer of `n` bytes (1..8).
  std::uint64_t uintLe(std::size_t n) {
    if (n == 0 || n > 8 || !require(n)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      v |= std::uint64_t{static_cast<std::uint8_t>(data_[pos_ + i])} << (8 * i);
    }
    pos_ += n;
    return v;
  }
  // Unsigned big-endian integer of `n` bytes (1..8).
  std::uint64_t uintBe(std::size_t n) {
    if (n == 0 || n > 8 || !require(n)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(data_[pos_ + i]);
    pos_ += n;
    return v;
  }

  double f64() {
    const std::uint64_t bits = u64();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  float f32() {
    const std::uint32_t bits = u32();
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }

  // MySQL length-encoded integer (0xfb is NULL, reported through `isNull` when given).
  std::uint64_t packedInt(bool* isNull = nullptr) {
    if (isNull) *isNull = false;
    const std::uint8_t first = u8();
    if (first < 0xfb) return first;
    switch (first) {
      case 0xfb:
        if (isNull) *isNull = true;
        return 0;
      case 0xfc: return u16();
      case 0xfd: return u24();
      case 0xfe: return u64();
      default: failed_ = true; return 0;  // 0xff is not a valid length prefix
    }
  }

  std::string_view bytes(std::size_t n) {
    if (!require(n)) return {};
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string_view rest() { return bytes(remaining()); }
  // Bytes up to (not including) the next 0 byte, which is consumed.
  std::string_view nulTerminated() {
    if (failed_) return {};
    const auto end = data_.find('\0', pos_);
    if (end == std::string_view::npos) {
      failed_ = true;
      return {};
    }
    std::string_view v = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return v;
  }
  // Length-encoded string.
  std::string_view packedString() {
    const std::uint64_t n = packedInt();
    if (n > remaining()) {
      failed_ = true;
      return {};
    }
    return bytes(static_cast<std::size_t>(n));
  }

  // Marks the reader failed (a decoder found an impossible value).
  void fail() { failed_ = true; }

 private:
  bool require(std::size_t n) {
    if (failed_ || data_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    return true;
  }

  std::string_view data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace canal
