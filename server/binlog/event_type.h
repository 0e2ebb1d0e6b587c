#pragma once

// Binlog event type codes of MySQL 5.0-9.x and MariaDB 10.x, and their names as the servers'
// own tools print them.

#include <cstdint>
#include <string>

namespace canal::binlog {

enum EventType : std::uint8_t {
  kUnknownEvent = 0,
  kStartEventV3 = 1,
  kQueryEvent = 2,
  kStopEvent = 3,
  kRotateEvent = 4,
  kIntvarEvent = 5,
  kLoadEvent = 6,
  kSlaveEvent = 7,
  kCreateFileEvent = 8,
  kAppendBlockEvent = 9,
  kExecLoadEvent = 10,
  kDeleteFileEvent = 11,
  kNewLoadEvent = 12,
  kRandEvent = 13,
  kUserVarEvent = 14,
  kFormatDescriptionEvent = 15,
  kXidEvent = 16,
  kBeginLoadQueryEvent = 17,
  kExecuteLoadQueryEvent = 18,
  kTableMapEvent = 19,
  kPreGaWriteRowsEvent = 20,
  kPreGaUpdateRowsEvent = 21,
  kPreGaDeleteRowsEvent = 22,
  kWriteRowsEventV1 = 23,
  kUpdateRowsEventV1 = 24,
  kDeleteRowsEventV1 = 25,
  kIncidentEvent = 26,
  kHeartbeatLogEvent = 27,
  kIgnorableLogEvent = 28,
  kRowsQueryLogEvent = 29,
  kWriteRowsEventV2 = 30,
  kUpdateRowsEventV2 = 31,
  kDeleteRowsEventV2 = 32,
  kGtidLogEvent = 33,
  kAnonymousGtidLogEvent = 34,
  kPreviousGtidsLogEvent = 35,
  kTransactionContextEvent = 36,
  kViewChangeEvent = 37,
  kXaPrepareLogEvent = 38,
  kPartialUpdateRowsEvent = 39,
  kTransactionPayloadEvent = 40,
  kHeartbeatLogEventV2 = 41,
  kGtidTaggedLogEvent = 42,
  kMariaAnnotateRowsEvent = 160,
  kMariaBinlogCheckpointEvent = 161,
  kMariaGtidEvent = 162,
  kMariaGtidListEvent = 163,
  kMariaStartEncryptionEvent = 164,
  kMariaQueryCompressedEvent = 165,
  kMariaWriteRowsCompressedEventV1 = 166,
  kMariaUpdateRowsCompressedEventV1 = 167,
  kMariaDeleteRowsCompressedEventV1 = 168,
  kMariaWriteRowsCompressedEvent = 169,
  kMariaUpdateRowsCompressedEvent = 170,
  kMariaDeleteRowsCompressedEvent = 171,
};

// "QUERY_EVENT", "MARIA_GTID_EVENT", ...; "TYPE_<n>" for codes no server defines.
std::string eventTypeName(std::uint8_t type);

// True for codes this decoder knows (others pass through as raw events).
bool isKnownEventType(std::uint8_t type);

}  // namespace canal::binlog
