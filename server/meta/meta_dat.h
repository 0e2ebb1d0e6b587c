#pragma once

// Canal's file-mode meta.dat (docs/operations.md, "Files"): per destination, every subscribed
// client with its last filter and the position of its last acknowledged batch. The JSON is
// byte-compatible with Canal's (alphabetical keys, the misspelt "postion", no trailing newline),
// so tooling that reads Canal's files reads ours and a Canal file can be taken over.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/common/position.h"

namespace canal::meta {

struct ClientCursor {
  std::string sourceHost;  // the primary the position belongs to, as configured
  int sourcePort = 3306;
  EntryPosition position;  // journalName, position, timestamp, serverId, gtid
  // The binlog event of the last entry acked (beyond `position` when the batch ended inside a
  // transaction): a destination resuming from `position` does not deliver entries up to it
  // again. Not part of Canal's JSON; the ZooKeeper meta keeps it in a node of its own.
  std::string ackedThroughFile;
  std::uint64_t ackedThroughOffset = 0;
  // The progress of a snapshot as of the last ack ("" none): a destination starting from this
  // cursor goes on with it (docs/snapshots.md). Not part of Canal's JSON either: file mode keeps
  // it in snapshot.dat beside meta.dat, the ZooKeeper meta in a node of its own.
  std::string snapshot;
};

struct ClientMeta {
  std::int16_t clientId = 1001;
  std::optional<std::string> filter;  // absent when the client never sent one
  std::optional<ClientCursor> cursor;  // absent until the first ack that moved it
};

struct DestinationMeta {
  std::string destination;
  std::vector<ClientMeta> clients;
};

// The client whose cursor is the lowest binlog position; null when no client has a cursor.
const ClientMeta* lowestCursor(const DestinationMeta& meta);

std::string encodeMetaDat(const DestinationMeta& meta);

// Parses a meta.dat (ours or Canal's: missing gtid/serverId accepted); `where` names the file
// in errors.
Result<DestinationMeta> decodeMetaDat(const std::string& text, const std::string& where);

// A cursor as Canal's ZooKeeper meta stores it (docs/operations.md, "ZooKeeper"): the LogPosition
// JSON with its "@type" first, the same inner shape as in meta.dat.
std::string encodeLogPosition(const ClientCursor& cursor);
Result<ClientCursor> decodeLogPosition(const std::string& text, const std::string& where);

// The snapshot progress of the clients' cursors as file mode keeps it beside meta.dat
// (snapshot.dat): a JSON object of client id -> progress; "" when no cursor has any.
std::string encodeSnapshotProgress(const DestinationMeta& meta);
// Sets the progress of the cursors of `meta` from `text` (clients without a cursor ignore theirs).
Status decodeSnapshotProgress(const std::string& text, const std::string& where, DestinationMeta& meta);

// Writes `meta` to `path` so that a crash leaves the old or the new file (tmp, fsync, rename).
Status writeMetaDat(const std::string& path, const DestinationMeta& meta);
// Reads `path`; NotFound when there is no file yet.
Result<DestinationMeta> readMetaDat(const std::string& path);

}  // namespace canal::meta
