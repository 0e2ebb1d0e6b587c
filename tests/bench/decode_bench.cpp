// Decode benchmark: a binlog file through event framing, CRC32 checks, TABLE_MAP and rows
// decoding and Canal value rendering (the work the server does per row before the store), and
// optionally FlatMessage JSON on top. Prints one JSON line of figures.
//
//   canal_decode_bench [--flat] [--no-crc] FILE

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "server/common/mapped_file.h"
#include "server/convert/binlog_changes.h"
#include "server/convert/flat_message.h"

int main(int argc, char** argv) {
  bool flat = false;
  canal::binlog::EventStreamOptions streamOptions;
  const char* file = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--flat") == 0) flat = true;
    else if (std::strcmp(argv[i], "--no-crc") == 0) streamOptions.verifyChecksum = false;
    else file = argv[i];
  }
  if (!file) {
    std::fprintf(stderr, "usage: canal_decode_bench [--flat] [--no-crc] FILE\n");
    return 64;
  }
  auto mapped = canal::MappedFile::open(file);
  if (!mapped) {
    std::fprintf(stderr, "canal_decode_bench: %s\n", mapped.status().toString().c_str());
    return 1;
  }
  const std::string_view data = mapped->data();
  const std::size_t size = data.size();
  const auto start = std::chrono::steady_clock::now();
  canal::convert::RenderOptions options;  // Canal's defaults: system time zone, Canal decimals
  canal::convert::BinlogChangeReader reader(data, file, options, streamOptions);
  canal::convert::ChangeEntry entry;
  std::string json;
  std::size_t jsonBytes = 0;
  std::int64_t id = 0;
  for (;;) {
    auto more = reader.next(entry);
    if (!more) {
      std::fprintf(stderr, "canal_decode_bench: %s\n", more.status().toString().c_str());
      return 2;
    }
    if (!*more) break;
    mapped->consumedUpTo(reader.offset());
    if (flat) {
      json.clear();
      canal::convert::appendFlatMessage(json, entry, ++id, 0);
      jsonBytes += json.size();
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const double cpu = usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  const auto& s = reader.stats();
  std::printf("{\"mode\":\"%s\",\"rows\":%llu,\"events\":%llu,\"entries\":%llu,\"bytes\":%zu,\"seconds\":%.3f,"
              "\"rows_per_s\":%.0f,\"mb_per_s\":%.1f,\"cpu_s\":%.3f,\"peak_rss_kb\":%ld,\"json_bytes\":%zu}\n",
              flat ? "decode+render+flatmessage" : "decode+render", static_cast<unsigned long long>(s.rows),
              static_cast<unsigned long long>(s.events), static_cast<unsigned long long>(s.entries), size, seconds,
              s.rows / seconds, size / seconds / 1e6, cpu, usage.ru_maxrss, jsonBytes);
  return 0;
}
