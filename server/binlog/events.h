#pragma once

// Typed decoders for the binlog events that carry no rows: transaction framing (QUERY, XID,
// GTID of both flavours, XA), positions (ROTATE, GTID lists), statement context (INTVAR, RAND,
// USER_VAR, ANNOTATE_ROWS, ROWS_QUERY), and stream control (INCIDENT, HEARTBEAT, STOP).
// Each decoder takes the event body (after the common header, without the checksum) and the
// format in force; a body that cannot be what its type says gives a Corruption naming `where`.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/binlog/format_description.h"
#include "server/common/status.h"

namespace canal::binlog {

struct QueryEvent {
  std::uint32_t threadId = 0;
  std::uint32_t execTime = 0;
  std::uint16_t errorCode = 0;
  std::string database;
  std::string query;
  // Status variables that matter downstream.
  std::optional<std::uint32_t> flags2;
  std::optional<std::uint64_t> sqlMode;
  std::optional<std::uint16_t> clientCharset;       // character_set_client
  std::optional<std::uint16_t> connectionCollation;  // collation_connection
  std::optional<std::uint16_t> serverCollation;      // collation_server
  std::optional<std::uint16_t> databaseCollation;    // collation_database
  std::string timeZone;
  std::optional<std::uint64_t> ddlXid;               // MySQL 8 DDL logged with an XID
  std::optional<std::uint64_t> mariaXid;             // MariaDB Q_XID
  std::vector<std::string> updatedDatabases;
};

// LOAD DATA INFILE as logged since 5.0: the file's bytes in BEGIN_LOAD_QUERY and APPEND_BLOCK
// events, then EXECUTE_LOAD_QUERY with the statement.
struct LoadBlockEvent {
  bool begin = false;  // BEGIN_LOAD_QUERY (else APPEND_BLOCK)
  std::uint32_t fileId = 0;
  std::uint64_t size = 0;  // bytes of file data in this event
};

struct ExecuteLoadQueryEvent {
  QueryEvent query;
  std::uint32_t fileId = 0;
  std::uint32_t fileNameStart = 0;  // where the file name is in the query text
  std::uint32_t fileNameEnd = 0;
  std::uint8_t duplicates = 0;  // 0 error, 1 ignore, 2 replace
};

struct RotateEvent {
  std::uint64_t position = 0;
  std::string nextFile;
};

struct XidEvent {
  std::uint64_t xid = 0;
};

struct IntvarEvent {
  std::uint8_t type = 0;  // 1 LAST_INSERT_ID, 2 INSERT_ID
  std::uint64_t value = 0;
};

struct RandEvent {
  std::uint64_t seed1 = 0;
  std::uint64_t seed2 = 0;
};

struct UserVarEvent {
  std::string name;
  bool isNull = true;
  std::uint8_t valueType = 0;  // STRING_RESULT 0, REAL 1, INT 2, ROW 3, DECIMAL 4
  std::uint32_t charset = 0;
  std::string value;           // raw bytes of the value
  std::uint8_t flags = 0;      // 1 = unsigned
};

struct IncidentEvent {
  std::uint16_t incident = 0;
  std::string message;
};

struct HeartbeatEvent {
  std::string logFile;
  std::uint64_t position = 0;  // v2 only (v1 takes it from the header's log_pos)
};

// MySQL GTID_LOG_EVENT / ANONYMOUS_GTID_LOG_EVENT.
struct GtidEvent {
  bool anonymous = false;
  std::uint8_t flags = 0;  // 1 = may have implicit commit
  std::array<std::uint8_t, 16> sid{};
  std::uint64_t gno = 0;
  std::optional<std::int64_t> lastCommitted;
  std::optional<std::int64_t> sequenceNumber;
  std::optional<std::uint64_t> immediateCommitTimestamp;  // microseconds
  std::optional<std::uint64_t> originalCommitTimestamp;
  std::optional<std::uint64_t> transactionLength;
  std::string tag;  // MySQL 8.4 tagged GTIDs (GTID_TAGGED_LOG_EVENT); empty otherwise
  std::optional<std::uint32_t> immediateServerVersion;
  std::optional<std::uint32_t> originalServerVersion;
  std::string uuid() const;        // "3e11fa47-71ca-11e1-9e33-c80aa9429562"
  std::string gtid() const;        // "uuid:gno", or "uuid:tag:gno"
};

// MySQL PREVIOUS_GTIDS_LOG_EVENT: "uuid:1-5:7-9,uuid2:1-3".
struct PreviousGtidsEvent {
  std::string gtidSet;
};

// MariaDB GTID_EVENT (the start of an event group).
struct MariaGtidEvent {
  std::uint64_t sequence = 0;
  std::uint32_t domainId = 0;
  std::uint8_t flags = 0;  // 1 standalone (no BEGIN), 2 group commit id, 64 prepared XA, 128 completed XA
  std::optional<std::uint64_t> commitId;
  std::string xid;  // XA id as gtrid+bqual bytes, when an XA flag is set
  bool standalone() const { return flags & 1; }
};

struct MariaGtid {
  std::uint32_t domainId = 0;
  std::uint32_t serverId = 0;
  std::uint64_t sequence = 0;
};

struct MariaGtidListEvent {
  std::uint8_t flags = 0;
  std::vector<MariaGtid> gtids;
  std::string toString() const;  // "0-1-100,1-2-7"
};

struct BinlogCheckpointEvent {
  std::string file;
};

// MariaDB ANNOTATE_ROWS and MySQL ROWS_QUERY: the statement that produced the next rows events.
struct RowsQueryEvent {
  std::string query;
};

struct XaPrepareEvent {
  bool onePhase = false;
  std::uint32_t formatId = 0;
  std::string gtrid;
  std::string bqual;
};

// MySQL TRANSACTION_PAYLOAD_EVENT: the events of a transaction, compressed.
struct TransactionPayloadEvent {
  std::uint64_t compressionType = 0;  // 0 zstd, 255 none
  std::uint64_t payloadSize = 0;
  std::uint64_t uncompressedSize = 0;
  std::string payload;  // the inner events, uncompressed (each a v4 event without checksum)
};

Result<QueryEvent> decodeQuery(std::string_view body, const FormatDescription& format, bool compressed,
                               const std::string& where);
Result<LoadBlockEvent> decodeLoadBlock(std::string_view body, bool begin, const std::string& where);
Result<ExecuteLoadQueryEvent> decodeExecuteLoadQuery(std::string_view body, const FormatDescription& format,
                                                     const std::string& where);
Result<RotateEvent> decodeRotate(std::string_view body, const FormatDescription& format, const std::string& where);
Result<XidEvent> decodeXid(std::string_view body, const std::string& where);
Result<IntvarEvent> decodeIntvar(std::string_view body, const std::string& where);
Result<RandEvent> decodeRand(std::string_view body, const std::string& where);
Result<UserVarEvent> decodeUserVar(std::string_view body, const std::string& where);
Result<IncidentEvent> decodeIncident(std::string_view body, const std::string& where);
Result<HeartbeatEvent> decodeHeartbeat(std::string_view body, bool v2, const std::string& where);
Result<GtidEvent> decodeGtid(std::string_view body, bool anonymous, const std::string& where);
// MySQL 8.4 GTID_TAGGED_LOG_EVENT: the same fields in MySQL's self-describing serialization
// format (variable-length integers, field ids, optional fields).
Result<GtidEvent> decodeGtidTagged(std::string_view body, const std::string& where);
Result<PreviousGtidsEvent> decodePreviousGtids(std::string_view body, const std::string& where);
Result<MariaGtidEvent> decodeMariaGtid(std::string_view body, const std::string& where);
Result<MariaGtidListEvent> decodeMariaGtidList(std::string_view body, const std::string& where);
Result<BinlogCheckpointEvent> decodeBinlogCheckpoint(std::string_view body, const std::string& where);
Result<RowsQueryEvent> decodeAnnotateRows(std::string_view body, const std::string& where);
Result<RowsQueryEvent> decodeRowsQuery(std::string_view body, const std::string& where);
Result<XaPrepareEvent> decodeXaPrepare(std::string_view body, const std::string& where);
Result<TransactionPayloadEvent> decodeTransactionPayload(std::string_view body, const std::string& where,
                                                         std::uint64_t maxUncompressed = 1ull << 30);

// MariaDB's compressed event payload: a header byte (0x80 | n), the uncompressed length in n
// big-endian bytes, then zlib data. Used by QUERY_COMPRESSED and the compressed rows events.
Result<std::string> mariaDbUncompress(std::string_view data, const std::string& where,
                                      std::uint64_t maxUncompressed = 1ull << 30);

}  // namespace canal::binlog
