// libFuzzer target over the binlog decoders: the input is a binlog file. Every event goes
// through the typed event decoders and every rows event through TABLE_MAP/rows decoding and
// Canal value rendering, and every entry through the Entry encoder. Checksums are not verified, so mutations reach the decoders. Any
// outcome but a crash, a hang or a sanitizer report is fine: bad bytes must give a Status.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/binlog/event_decoder.h"
#include "server/convert/binlog_changes.h"
#include "server/convert/entry_encoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  canal::binlog::EventStreamOptions noChecksum;
  noChecksum.verifyChecksum = false;

  canal::binlog::EventStream stream(bytes, "fuzz", noChecksum);
  canal::binlog::RawEvent event;
  for (int i = 0; i < 100000; ++i) {
    auto more = stream.next(event);
    if (!more || !*more) break;
    auto body = canal::binlog::decodeEventBody(event, stream.format(), "fuzz");
    (void)body;
  }

  canal::convert::RenderOptions options;
  options.timeZone = canal::convert::TimeZone::utc();
  canal::convert::BinlogChangeReader reader(bytes, "fuzz", options, noChecksum);
  canal::convert::ChangeEntry entry;
  canal::convert::EntryEncoder encoder;
  std::string encoded;
  for (int i = 0; i < 100000; ++i) {
    auto more = reader.next(entry);
    if (!more || !*more) break;
    encoder.encode(entry, encoded, static_cast<std::uint64_t>(i) + 1);
  }
  return 0;
}
