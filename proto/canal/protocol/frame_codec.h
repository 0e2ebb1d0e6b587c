#pragma once

// Canal TCP framing: every message is a 4-byte big-endian signed length followed by that many
// bytes of a serialized Packet. Shared by the server and the client SDK.
//
// Thread contract: free functions are pure; a FrameDecoder is used by one thread at a time.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace canal::protocol {

inline constexpr std::size_t kFrameHeaderSize = 4;
// Default upper bound for one frame. Canal itself has no bound; a bound keeps a corrupt or
// hostile length from turning into a huge allocation.
inline constexpr std::uint32_t kDefaultMaxFrameLength = 256u * 1024 * 1024;

// Appends the 4-byte big-endian header for a payload of `length` bytes.
void appendFrameHeader(std::string& out, std::uint32_t length);

// Header followed by `payload`.
std::string encodeFrame(std::string_view payload);

// Result of reading a frame header.
struct FrameLength {
  std::uint32_t length = 0;
  std::string error;  // non-empty: the header is invalid, the stream must be closed
  bool ok() const { return error.empty(); }
};

// Validates the 4 header bytes: a negative length or one above `maxLength` is an error.
FrameLength decodeFrameLength(const unsigned char header[kFrameHeaderSize],
                              std::uint32_t maxLength = kDefaultMaxFrameLength);

// Incremental decoder over a byte stream: feed bytes as they arrive, take complete frames.
class FrameDecoder {
 public:
  explicit FrameDecoder(std::uint32_t maxLength = kDefaultMaxFrameLength) : maxLength_(maxLength) {}

  // Appends received bytes.
  void feed(std::string_view bytes) { buffer_.append(bytes); }

  // Next complete payload, or nullopt when more bytes are needed or the stream is broken
  // (then error() is non-empty and stays so).
  std::optional<std::string> next();

  const std::string& error() const { return error_; }
  std::size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  std::uint32_t maxLength_;
  std::string buffer_;
  std::size_t consumed_ = 0;
  std::string error_;
};

}  // namespace canal::protocol
