#include "canal/protocol/frame_codec.h"

#include <string>

namespace canal::protocol {

void appendFrameHeader(std::string& out, std::uint32_t length) {
  out.push_back(static_cast<char>((length >> 24) & 0xff));
  out.push_back(static_cast<char>((length >> 16) & 0xff));
  out.push_back(static_cast<char>((length >> 8) & 0xff));
  out.push_back(static_cast<char>(length & 0xff));
}

std::string encodeFrame(std::string_view payload) {
  std::string out;
  out.reserve(kFrameHeaderSize + payload.size());
  appendFrameHeader(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
  return out;
}

FrameLength decodeFrameLength(const unsigned char header[kFrameHeaderSize], std::uint32_t maxLength) {
  const std::uint32_t raw = (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
                            (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
  FrameLength result;
  if (raw & 0x80000000u) {
    result.error = "negative frame length " + std::to_string(static_cast<std::int32_t>(raw));
  } else if (raw > maxLength) {
    result.error = "frame length " + std::to_string(raw) + " exceeds the limit of " +
                   std::to_string(maxLength) + " bytes";
  } else {
    result.length = raw;
  }
  return result;
}

std::optional<std::string> FrameDecoder::next() {
  if (!error_.empty()) return std::nullopt;
  if (buffered() < kFrameHeaderSize) return std::nullopt;
  const auto* data = reinterpret_cast<const unsigned char*>(buffer_.data()) + consumed_;
  FrameLength header = decodeFrameLength(data, maxLength_);
  if (!header.ok()) {
    error_ = std::move(header.error);
    buffer_.clear();
    consumed_ = 0;
    return std::nullopt;
  }
  if (buffered() - kFrameHeaderSize < header.length) return std::nullopt;
  std::string payload = buffer_.substr(consumed_ + kFrameHeaderSize, header.length);
  consumed_ += kFrameHeaderSize + header.length;
  // Compact once the consumed prefix dominates, so the buffer does not grow without bound.
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > 4096 && consumed_ * 2 > buffer_.size()) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return payload;
}

}  // namespace canal::protocol
