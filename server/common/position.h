#pragma once

// Positions in a primary's binlog, as the stream, the store and the meta record them.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace canal {

// A transaction boundary in the primary's binlog: where the next transaction starts.
struct CommitPosition {
  std::string file;
  std::uint64_t position = 0;
  std::uint32_t timestamp = 0;  // of the committing event
  std::uint32_t serverId = 0;
  std::string mariaGtid;        // "domain-server-sequence" of the committed group, if any
  std::string mysqlGtidSet;     // MySQL: every transaction executed up to here, when known whole
  // host:port of the server whose binlog the position is in (the standby after a switch); ""
  // when not known, read as the configured primary.
  std::string source;
};

// Where an entry is in the primary's binlog; what a client cursor records when its batch is acked.
struct EntryPosition {
  std::string journalName;
  std::uint64_t position = 0;
  std::int64_t timestamp = 0;  // ms
  std::uint32_t serverId = 0;
  std::string gtid;
  std::uint64_t nextPosition = 0;  // where the event after it starts: the resume point
};

// "host:port" -> {host, port}; the port is 0 when missing or not a number.
inline std::pair<std::string, int> splitHostPort(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return {std::string(address), 0};
  int port = 0;
  for (char c : address.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return {std::string(address.substr(0, colon)), 0};
    port = port * 10 + (c - '0');
  }
  return {std::string(address.substr(0, colon)), port};
}

// The number after the last '.' of a binlog file name (mysql-bin.000042 -> 42); 0 when what
// follows is not a number. One server's files share the rest of the name.
inline std::uint64_t binlogFileIndex(std::string_view file) {
  const auto dot = file.rfind('.');
  std::uint64_t n = 0;
  for (std::size_t i = dot == std::string_view::npos ? 0 : dot + 1; i < file.size(); ++i) {
    if (file[i] < '0' || file[i] > '9') return 0;
    n = n * 10 + static_cast<std::uint64_t>(file[i] - '0');
  }
  return n;
}

// Orders two points of one server's binlog: by file number ("mysql-bin.000009" before
// "mysql-bin.000010"), files of one number by name, then by position. -1, 0 or 1.
inline int compareBinlogPoints(std::string_view fileA, std::uint64_t positionA, std::string_view fileB,
                               std::uint64_t positionB) {
  if (fileA != fileB) {
    const auto a = binlogFileIndex(fileA);
    const auto b = binlogFileIndex(fileB);
    if (a != b) return a < b ? -1 : 1;
    return fileA < fileB ? -1 : 1;
  }
  if (positionA != positionB) return positionA < positionB ? -1 : 1;
  return 0;
}

}  // namespace canal
