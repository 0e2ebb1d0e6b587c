#pragma once

// The v4 common event header and the FORMAT_DESCRIPTION_EVENT, which says how every later event
// of the stream is framed: header length, per-type post-header lengths and checksum algorithm.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/byte_reader.h"
#include "server/common/status.h"

namespace canal::binlog {

inline constexpr std::size_t kV4HeaderLength = 19;
inline constexpr std::string_view kBinlogMagic = "\xfe" "bin";
inline constexpr std::uint16_t kFlagBinlogInUse = 0x0001;
inline constexpr std::size_t kChecksumLength = 4;

struct EventHeader {
  std::uint32_t timestamp = 0;
  std::uint8_t type = 0;
  std::uint32_t serverId = 0;
  std::uint32_t eventSize = 0;
  std::uint32_t logPos = 0;  // end of this event in the file (0 in some relay/artificial events)
  std::uint16_t flags = 0;

  // Reads the 19 bytes of a v4 header.
  static EventHeader read(ByteReader& r) {
    EventHeader h;
    h.timestamp = r.u32();
    h.type = r.u8();
    h.serverId = r.u32();
    h.eventSize = r.u32();
    h.logPos = r.u32();
    h.flags = r.u16();
    return h;
  }
};

enum class ChecksumAlgorithm : std::uint8_t { kNone = 0, kCrc32 = 1, kUndefined = 255 };

struct FormatDescription {
  std::uint16_t binlogVersion = 4;
  std::string serverVersion;        // "8.0.32", "10.11.19-MariaDB-log"
  std::array<int, 3> version{};     // numeric major, minor, patch
  bool mariaDb = false;
  std::uint32_t createTimestamp = 0;
  std::uint8_t headerLength = kV4HeaderLength;
  std::vector<std::uint8_t> postHeaderLengths;  // index = event type - 1
  bool hasChecksumField = false;    // server >= 5.6.1 (MariaDB >= 5.3)
  ChecksumAlgorithm checksum = ChecksumAlgorithm::kNone;
  // Servers of the 5.1/5.2 "a_drop5/6" development trees numbered event types 16-22
  // differently; when set, the type codes of this stream are mapped to today's.
  bool permutedTypes = false;

  // The type code of a header as today's servers number it.
  std::uint8_t eventType(std::uint8_t rawType) const;

  // Post-header length of `type` as declared, 0 when not declared.
  std::uint8_t postHeaderLength(std::uint8_t type) const {
    return type >= 1 && type <= postHeaderLengths.size() ? postHeaderLengths[type - 1] : 0;
  }
  bool versionAtLeast(int major, int minor, int patch) const {
    return version >= std::array<int, 3>{major, minor, patch};
  }

  // Decodes a whole FORMAT_DESCRIPTION_EVENT (header included). `where` names it in errors.
  static Result<FormatDescription> decode(std::string_view event, const std::string& where);
};

// Parses "5.6.4-m7-debug-log" into {5, 6, 4}.
std::array<int, 3> parseServerVersion(std::string_view text);

// CRC32 of `event` except its last 4 bytes, computed as the server did: for a
// FORMAT_DESCRIPTION_EVENT carrying LOG_EVENT_BINLOG_IN_USE_F, with that flag cleared.
std::uint32_t eventCrc32(std::string_view event);

}  // namespace canal::binlog
