#include "server/binlog/format_description.h"

#include <libdeflate.h>

#include "server/binlog/event_type.h"

namespace canal::binlog {

namespace {

// Today's type for each type code 0-22 of the "a_drop" development trees.
constexpr std::uint8_t kDropTreeTypes[23] = {
    kUnknownEvent, kStartEventV3, kQueryEvent, kStopEvent, kRotateEvent, kIntvarEvent, kLoadEvent, kSlaveEvent,
    kCreateFileEvent, kAppendBlockEvent, kExecLoadEvent, kDeleteFileEvent, kNewLoadEvent, kRandEvent,
    kUserVarEvent, kFormatDescriptionEvent, kTableMapEvent, kPreGaWriteRowsEvent, kPreGaUpdateRowsEvent,
    kPreGaDeleteRowsEvent, kXidEvent, kBeginLoadQueryEvent, kExecuteLoadQueryEvent};

// Server versions 5.1.[1-5]-a_drop5*, 5.1.4-a_drop6*, 5.2.[0-2]-a_drop6*.
bool isDropTreeVersion(std::string_view v) {
  if (v.size() < 13 || v[0] != '5' || v[1] != '.' || v[3] != '.' || v.substr(5, 7) != "-a_drop") return false;
  return (v[2] == '1' && v[4] >= '1' && v[4] <= '5' && v[12] == '5') || (v[2] == '1' && v[4] == '4' && v[12] == '6') ||
         (v[2] == '2' && v[4] >= '0' && v[4] <= '2' && v[12] == '6');
}

}  // namespace

std::uint8_t FormatDescription::eventType(std::uint8_t rawType) const {
  return permutedTypes && rawType < sizeof kDropTreeTypes ? kDropTreeTypes[rawType] : rawType;
}

std::array<int, 3> parseServerVersion(std::string_view text) {
  std::array<int, 3> v{};
  std::size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    int n = 0;
    bool any = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 100000) n = 100000;
      any = true;
      ++i;
    }
    if (!any) break;
    v[static_cast<std::size_t>(part)] = n;
    if (i < text.size() && text[i] == '.') ++i;
    else break;
  }
  return v;
}

Result<FormatDescription> FormatDescription::decode(std::string_view event, const std::string& where) {
  ByteReader r(event);
  const EventHeader header = EventHeader::read(r);
  FormatDescription f;
  f.binlogVersion = r.u16();
  const std::string_view version = r.bytes(50);
  f.serverVersion = std::string(version.substr(0, version.find('\0')));
  f.createTimestamp = r.u32();
  f.headerLength = r.u8();
  if (r.failed()) return Status::corruption(where, "FORMAT_DESCRIPTION_EVENT is too short");
  if (header.type != kFormatDescriptionEvent) return Status::corruption(where, "not a FORMAT_DESCRIPTION_EVENT");
  if (f.binlogVersion != 4) {
    return Status::notSupported(where + ": binlog format version " + std::to_string(f.binlogVersion) +
                                " (only version 4, MySQL 5.0 and later, is supported)");
  }
  if (f.headerLength < kV4HeaderLength) {
    return Status::corruption(where, "event header length " + std::to_string(f.headerLength) + " is below 19");
  }
  f.version = parseServerVersion(f.serverVersion);
  f.mariaDb = f.serverVersion.find("MariaDB") != std::string::npos;
  f.hasChecksumField = f.mariaDb ? f.versionAtLeast(5, 3, 0) : f.versionAtLeast(5, 6, 1);
  std::string_view rest = r.rest();
  if (f.hasChecksumField) {
    if (rest.size() < 1 + kChecksumLength) {
      return Status::corruption(where, "FORMAT_DESCRIPTION_EVENT has no room for its checksum algorithm");
    }
    const auto alg = static_cast<std::uint8_t>(rest[rest.size() - 1 - kChecksumLength]);
    if (alg != 0 && alg != 1 && alg != 255) {
      return Status::corruption(where, "unknown checksum algorithm " + std::to_string(alg));
    }
    f.checksum = alg == 1 ? ChecksumAlgorithm::kCrc32 : ChecksumAlgorithm::kNone;
    rest.remove_suffix(1 + kChecksumLength);
  }
  f.postHeaderLengths.assign(rest.begin(), rest.end());
  if (isDropTreeVersion(f.serverVersion) && f.postHeaderLengths.size() == 22) {
    f.permutedTypes = true;
    std::vector<std::uint8_t> permuted(22);
    for (std::size_t i = 1; i < 23; ++i) permuted[kDropTreeTypes[i] - 1u] = f.postHeaderLengths[i - 1];
    f.postHeaderLengths = std::move(permuted);
  }
  return f;
}

std::uint32_t eventCrc32(std::string_view event) {
  const std::size_t n = event.size() - kChecksumLength;
  if (n > 18 && static_cast<std::uint8_t>(event[4]) == kFormatDescriptionEvent &&
      (static_cast<std::uint8_t>(event[17]) & kFlagBinlogInUse)) {
    // The server computes the FDE checksum before it marks the file as in use.
    unsigned char header[kV4HeaderLength];
    std::copy(event.begin(), event.begin() + kV4HeaderLength, header);
    header[17] = static_cast<unsigned char>(header[17] & ~kFlagBinlogInUse);
    const std::uint32_t crc = libdeflate_crc32(0, header, kV4HeaderLength);
    return libdeflate_crc32(crc, event.data() + kV4HeaderLength, n - kV4HeaderLength);
  }
  return libdeflate_crc32(0, event.data(), n);
}

}  // namespace canal::binlog
