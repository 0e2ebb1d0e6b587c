// Decode benchmark: a binlog file through event framing, CRC32 checks, TABLE_MAP and rows
// decoding and Canal value rendering (the work the server does per row before the store), and
// optionally FlatMessage JSON on top. Prints one JSON line of figures.
//
//   canal_decode_bench [--flat] [--no-crc] FILE

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

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
  const int fd = ::open(file, O_RDONLY);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    std::perror(file);
    return 1;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  ::madvise(map, size, MADV_SEQUENTIAL);
  std::size_t released = 0;  // pages before this offset were handed back
  const auto start = std::chrono::steady_clock::now();
  canal::convert::RenderOptions options;  // Canal's defaults: system time zone, Canal decimals
  canal::convert::BinlogChangeReader reader(std::string_view(static_cast<const char*>(map), size), file, options,
                                            streamOptions);
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
    if (reader.offset() > released + (16u << 20)) {  // keep RSS flat: drop the pages already decoded
      const std::size_t upTo = (reader.offset() - (1u << 20)) & ~std::size_t{4095};
      ::madvise(static_cast<char*>(map) + released, upTo - released, MADV_DONTNEED);
      released = upTo;
    }
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
  ::munmap(map, size);
  return 0;
}
