#pragma once

// Splits the bytes of a binlog file (or a dump stream's payloads) into events: checks the magic,
// each header's size against what remains, and each CRC32 when the stream is checksummed.
// Pure: no I/O; the caller supplies the bytes. Thread contract: one thread per stream.

#include <cstdint>
#include <string>
#include <string_view>

#include "server/binlog/format_description.h"
#include "server/common/status.h"

namespace canal::binlog {

struct RawEvent {
  std::uint64_t offset = 0;   // start of the event in the file
  EventHeader header;
  std::string_view bytes;     // the whole event: header, body, checksum
  std::string_view body;      // after the common header, before the checksum
};

struct EventStreamOptions {
  bool verifyChecksum = true;
};

// Frames events one at a time as a replication dump delivers them (one event per packet, no
// file magic), tracking the format the stream's FORMAT_DESCRIPTION_EVENTs declare. EventStream
// uses the same checks for files. Thread contract: one thread.
class EventFramer {
 public:
  // `checksum` is what the dump negotiated: it applies to the events before the first FDE
  // (the dump's artificial ROTATE).
  explicit EventFramer(std::string name, EventStreamOptions options = {},
                       ChecksumAlgorithm checksum = ChecksumAlgorithm::kNone);

  // Frames the event at the start of `bytes` (which may extend beyond it), found at `offset`
  // (for messages and RawEvent::offset). Corruption when it does not fit or fails its CRC32.
  Result<RawEvent> frame(std::string_view bytes, std::uint64_t offset);

  const FormatDescription& format() const { return format_; }
  void setFormat(const FormatDescription& format) { format_ = format; }
  std::string where(std::uint64_t offset) const { return name_ + ":" + std::to_string(offset); }
  void setName(std::string name) { name_ = std::move(name); }

 private:
  std::string name_;
  EventStreamOptions options_;
  FormatDescription format_;
};

class EventStream {
 public:
  // `data` must start with the binlog magic and outlive the stream; `name` is used in errors
  // ("mysql-bin.000003:1234").
  EventStream(std::string_view data, std::string name, EventStreamOptions options = {});

  // The events inside a TRANSACTION_PAYLOAD_EVENT: no magic, no checksums, framed as `outer`.
  static EventStream forPayload(std::string_view payload, std::string name, const FormatDescription& outer);

  // Reads the next event into `out`. Returns true for an event, false at the clean end of the
  // data, or a Corruption naming file:offset.
  Result<bool> next(RawEvent& out);

  // The format of the events read so far (the last FORMAT_DESCRIPTION_EVENT seen).
  const FormatDescription& format() const { return framer_.format(); }
  std::uint64_t offset() const { return offset_; }
  std::string where(std::uint64_t offset) const { return framer_.where(offset); }

 private:
  std::string_view data_;
  EventFramer framer_;
  std::uint64_t offset_ = 0;
  bool started_ = false;
};

}  // namespace canal::binlog
