#pragma once

// Positions in a primary's binlog, as the stream, the store and the meta record them.

#include <cstdint>
#include <string>

namespace canal {

// A transaction boundary in the primary's binlog: where the next transaction starts.
struct CommitPosition {
  std::string file;
  std::uint64_t position = 0;
  std::uint32_t timestamp = 0;  // of the committing event
  std::uint32_t serverId = 0;
  std::string mariaGtid;        // "domain-server-sequence" of the committed group, if any
  std::string mysqlGtidSet;     // MySQL: every transaction executed up to here, when known whole
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

}  // namespace canal
