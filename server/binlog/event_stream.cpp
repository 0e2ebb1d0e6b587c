#include "server/binlog/event_stream.h"

#include "server/binlog/event_type.h"

namespace canal::binlog {

EventFramer::EventFramer(std::string name, EventStreamOptions options, ChecksumAlgorithm checksum)
    : name_(std::move(name)), options_(options) {
  format_.checksum = checksum;
}

Result<RawEvent> EventFramer::frame(std::string_view data, std::uint64_t offset) {
  const std::size_t remaining = data.size();
  const std::size_t headerLength = format_.headerLength;
  if (remaining < headerLength) {
    return Status::corruption(where(offset), "truncated event header: " + std::to_string(remaining) +
                                                 " bytes left, header needs " + std::to_string(headerLength));
  }
  ByteReader r(data.substr(0, headerLength));
  EventHeader header = EventHeader::read(r);
  if (header.type != kFormatDescriptionEvent) header.type = format_.eventType(header.type);
  if (header.eventSize < headerLength) {
    return Status::corruption(where(offset), "event size " + std::to_string(header.eventSize) +
                                                 " is smaller than the header (" + std::to_string(headerLength) + ")");
  }
  if (header.eventSize > remaining) {
    return Status::corruption(where(offset), "truncated " + eventTypeName(header.type) + ": size " +
                                                 std::to_string(header.eventSize) + " but only " +
                                                 std::to_string(remaining) + " bytes left");
  }
  const std::string_view bytes = data.substr(0, header.eventSize);

  bool checksummed = format_.checksum == ChecksumAlgorithm::kCrc32;
  if (header.type == kFormatDescriptionEvent) {
    auto format = FormatDescription::decode(bytes, where(offset));
    if (!format) return format.status();
    format_ = std::move(*format);
    checksummed = format_.checksum == ChecksumAlgorithm::kCrc32;
  }
  std::string_view body = bytes.substr(headerLength);
  if (checksummed) {
    if (body.size() < kChecksumLength) {
      return Status::corruption(where(offset), eventTypeName(header.type) + " has no room for its CRC32");
    }
    if (options_.verifyChecksum) {
      ByteReader crc(bytes.substr(bytes.size() - kChecksumLength));
      const std::uint32_t stored = crc.u32();
      const std::uint32_t computed = eventCrc32(bytes);
      if (stored != computed) {
        return Status::corruption(where(offset), "CRC32 mismatch in " + eventTypeName(header.type) + " (stored " +
                                                     std::to_string(stored) + ", computed " +
                                                     std::to_string(computed) + ")");
      }
    }
    body.remove_suffix(kChecksumLength);
  }
  RawEvent out;
  out.offset = offset;
  out.header = header;
  out.bytes = bytes;
  out.body = body;
  return out;
}

EventStream::EventStream(std::string_view data, std::string name, EventStreamOptions options)
    : data_(data), framer_(std::move(name), options) {}

EventStream EventStream::forPayload(std::string_view payload, std::string name, const FormatDescription& outer) {
  EventStream stream(payload, std::move(name));
  stream.started_ = true;
  FormatDescription format = outer;
  format.checksum = ChecksumAlgorithm::kNone;
  stream.framer_.setFormat(format);
  return stream;
}

Result<bool> EventStream::next(RawEvent& out) {
  if (!started_) {
    if (data_.size() < kBinlogMagic.size() || data_.substr(0, kBinlogMagic.size()) != kBinlogMagic) {
      return Status::corruption(where(0), "not a binlog file (magic fe 62 69 6e missing)");
    }
    offset_ = kBinlogMagic.size();
    started_ = true;
  }
  if (offset_ == data_.size()) return false;
  auto event = framer_.frame(data_.substr(offset_), offset_);
  if (!event) return event.status();
  out = *event;
  offset_ += out.header.eventSize;
  return true;
}

}  // namespace canal::binlog
