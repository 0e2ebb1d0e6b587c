#pragma once

// Where a dump starts, chosen as Canal chooses it (docs/configuration.md, "Where a destination starts"): a stored
// position first; else the configured file + position, file only (searched by timestamp, or
// from offset 4), timestamp only (the first transaction at or after it, searching the binlogs
// backwards from the newest) or GTID set; else the current end of the primary's binlog.

#include <cstdint>
#include <optional>
#include <string>

#include "server/mysql/mysql_connection.h"
#include "server/replica/binlog_dump.h"
#include "server/replica/replica_stream.h"

namespace canal::replica {

struct ConfiguredStart {
  std::string journalName;               // canal.instance.master.journal.name
  std::optional<std::uint64_t> position;  // canal.instance.master.position
  std::optional<std::int64_t> timestampMs;  // canal.instance.master.timestamp
  std::string gtid;                      // canal.instance.master.gtid (with gtidon)
  bool gtidMode = false;                 // canal.instance.gtidon
};

// The primary's current end of binlog: SHOW MASTER STATUS, or SHOW BINARY LOG STATUS (8.4+).
Result<DumpStart> currentEnd(mysql::MysqlConnection& connection);

// The start of the first transaction whose commit time is at or after `timestampMs`, looking at
// the binlogs from the newest back (or only at `file` when given). Past every transaction: the
// current end. `connect` opens the extra connections the search dumps through.
Result<DumpStart> findByTimestamp(const mysql::ConnectOptions& connect, std::int64_t timestampMs,
                                  const std::string& file = {});

Result<DumpStart> chooseStart(const mysql::ConnectOptions& connect, const std::optional<CommitPosition>& stored,
                              const ConfiguredStart& configured);

}  // namespace canal::replica
