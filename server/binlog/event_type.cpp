#include "server/binlog/event_type.h"

namespace canal::binlog {
namespace {

const char* knownName(std::uint8_t type) {
  switch (type) {
    case kUnknownEvent: return "UNKNOWN_EVENT";
    case kStartEventV3: return "START_EVENT_V3";
    case kQueryEvent: return "QUERY_EVENT";
    case kStopEvent: return "STOP_EVENT";
    case kRotateEvent: return "ROTATE_EVENT";
    case kIntvarEvent: return "INTVAR_EVENT";
    case kLoadEvent: return "LOAD_EVENT";
    case kSlaveEvent: return "SLAVE_EVENT";
    case kCreateFileEvent: return "CREATE_FILE_EVENT";
    case kAppendBlockEvent: return "APPEND_BLOCK_EVENT";
    case kExecLoadEvent: return "EXEC_LOAD_EVENT";
    case kDeleteFileEvent: return "DELETE_FILE_EVENT";
    case kNewLoadEvent: return "NEW_LOAD_EVENT";
    case kRandEvent: return "RAND_EVENT";
    case kUserVarEvent: return "USER_VAR_EVENT";
    case kFormatDescriptionEvent: return "FORMAT_DESCRIPTION_EVENT";
    case kXidEvent: return "XID_EVENT";
    case kBeginLoadQueryEvent: return "BEGIN_LOAD_QUERY_EVENT";
    case kExecuteLoadQueryEvent: return "EXECUTE_LOAD_QUERY_EVENT";
    case kTableMapEvent: return "TABLE_MAP_EVENT";
    case kPreGaWriteRowsEvent: return "PRE_GA_WRITE_ROWS_EVENT";
    case kPreGaUpdateRowsEvent: return "PRE_GA_UPDATE_ROWS_EVENT";
    case kPreGaDeleteRowsEvent: return "PRE_GA_DELETE_ROWS_EVENT";
    case kWriteRowsEventV1: return "WRITE_ROWS_EVENT_V1";
    case kUpdateRowsEventV1: return "UPDATE_ROWS_EVENT_V1";
    case kDeleteRowsEventV1: return "DELETE_ROWS_EVENT_V1";
    case kIncidentEvent: return "INCIDENT_EVENT";
    case kHeartbeatLogEvent: return "HEARTBEAT_LOG_EVENT";
    case kIgnorableLogEvent: return "IGNORABLE_LOG_EVENT";
    case kRowsQueryLogEvent: return "ROWS_QUERY_LOG_EVENT";
    case kWriteRowsEventV2: return "WRITE_ROWS_EVENT_V2";
    case kUpdateRowsEventV2: return "UPDATE_ROWS_EVENT_V2";
    case kDeleteRowsEventV2: return "DELETE_ROWS_EVENT_V2";
    case kGtidLogEvent: return "GTID_LOG_EVENT";
    case kAnonymousGtidLogEvent: return "ANONYMOUS_GTID_LOG_EVENT";
    case kPreviousGtidsLogEvent: return "PREVIOUS_GTIDS_LOG_EVENT";
    case kTransactionContextEvent: return "TRANSACTION_CONTEXT_EVENT";
    case kViewChangeEvent: return "VIEW_CHANGE_EVENT";
    case kXaPrepareLogEvent: return "XA_PREPARE_LOG_EVENT";
    case kPartialUpdateRowsEvent: return "PARTIAL_UPDATE_ROWS_EVENT";
    case kTransactionPayloadEvent: return "TRANSACTION_PAYLOAD_EVENT";
    case kHeartbeatLogEventV2: return "HEARTBEAT_LOG_EVENT_V2";
    case kGtidTaggedLogEvent: return "GTID_TAGGED_LOG_EVENT";
    case kMariaAnnotateRowsEvent: return "MARIA_ANNOTATE_ROWS_EVENT";
    case kMariaBinlogCheckpointEvent: return "MARIA_BINLOG_CHECKPOINT_EVENT";
    case kMariaGtidEvent: return "MARIA_GTID_EVENT";
    case kMariaGtidListEvent: return "MARIA_GTID_LIST_EVENT";
    case kMariaStartEncryptionEvent: return "MARIA_START_ENCRYPTION_EVENT";
    case kMariaQueryCompressedEvent: return "MARIA_QUERY_COMPRESSED_EVENT";
    case kMariaWriteRowsCompressedEventV1: return "MARIA_WRITE_ROWS_COMPRESSED_EVENT_V1";
    case kMariaUpdateRowsCompressedEventV1: return "MARIA_UPDATE_ROWS_COMPRESSED_EVENT_V1";
    case kMariaDeleteRowsCompressedEventV1: return "MARIA_DELETE_ROWS_COMPRESSED_EVENT_V1";
    case kMariaWriteRowsCompressedEvent: return "MARIA_WRITE_ROWS_COMPRESSED_EVENT";
    case kMariaUpdateRowsCompressedEvent: return "MARIA_UPDATE_ROWS_COMPRESSED_EVENT";
    case kMariaDeleteRowsCompressedEvent: return "MARIA_DELETE_ROWS_COMPRESSED_EVENT";
    default: return nullptr;
  }
}

}  // namespace

std::string eventTypeName(std::uint8_t type) {
  const char* name = knownName(type);
  return name ? name : "TYPE_" + std::to_string(type);
}

bool isKnownEventType(std::uint8_t type) { return knownName(type) != nullptr; }

}  // namespace canal::binlog
