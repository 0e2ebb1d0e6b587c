#pragma once

// One Canal ROWDATA entry in plain C++ form: the row changes of one rows event, or one DDL /
// QUERY statement, with every column rendered as Canal renders it. The server turns these into
// Entry protobufs; canal-binlog and the MQ sinks turn them into FlatMessage JSON.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/binlog/event_stream.h"
#include "server/binlog/rows_event.h"
#include "server/binlog/table_map.h"
#include "server/convert/value_text.h"
#include "server/schema/schema_cache.h"

namespace canal::convert {

// Canal's EventType names, in its enum order (INSERT = 1 ... MHEARTBEAT = 15).
enum class ChangeType : int {
  kInsert = 1, kUpdate = 2, kDelete = 3, kCreate = 4, kAlter = 5, kErase = 6, kQuery = 7, kTruncate = 8,
  kRename = 9, kCindex = 10, kDindex = 11, kGtid = 12, kXaCommit = 13, kXaRollback = 14, kMHeartbeat = 15,
};
std::string_view changeTypeName(ChangeType type);

// What an entry's columns share across rows: name, key flag and type text.
struct ColumnInfo {
  std::string name;
  std::string mysqlType;  // from the schema; derived from the TABLE_MAP when there is none
  bool isKey = false;
};
using ColumnInfos = std::vector<ColumnInfo>;

struct ChangeColumn {
  std::uint32_t index = 0;           // ordinal in the table
  const ColumnInfo* info = nullptr;  // owned by ChangeEntry::columns (or the caller)
  bool updated = false;
  ColumnText text;

  const std::string& name() const { return info->name; }
  const std::string& mysqlType() const { return info->mysqlType; }
  bool isKey() const { return info->isKey; }
};

struct ChangeRow {
  std::vector<ChangeColumn> before;
  std::vector<ChangeColumn> after;
};

// Canal's EntryType for the entries a client receives.
enum class EntryKind : int { kTransactionBegin = 1, kRowData = 2, kTransactionEnd = 3 };

struct ChangeEntry {
  EntryKind kind = EntryKind::kRowData;
  // TRANSACTIONBEGIN: the thread id of the BEGIN query. TRANSACTIONEND: the XID as decimal
  // text, "0" after a COMMIT query.
  std::uint64_t threadId = 0;
  std::string transactionId;
  // Header.
  std::string logfileName;
  std::uint64_t logfileOffset = 0;  // start of the event
  std::uint32_t serverId = 0;
  std::int64_t executeTime = 0;     // ms
  std::uint32_t eventLength = 0;
  std::optional<std::string> schema;
  std::optional<std::string> table;
  // GTID mode only: the executed GTID set including this transaction (Header.gtid) and, for
  // MySQL, the transaction's own GTID, sequence number and last-committed (the curtGtid,
  // curtGtidSn and curtGtidLct props).
  std::string gtid;
  std::string currentGtid;
  std::string currentGtidSn;
  std::string currentGtidLct;
  // A row read from the table, not from the binlog (header prop snapshot = true). Its header
  // position is where the stream was when it was put (so entries' positions never go back);
  // the binlog position whose state it is, its chunk's watermark, is in the prop
  // snapshotWatermark ("file:offset").
  bool snapshot = false;
  std::string snapshotWatermark;
  // TransactionBegin / TransactionEnd / RowChange props: XA_TYPE and XA_XID of XA statements.
  std::vector<std::pair<std::string, std::string>> props;
  // RowChange.
  ChangeType type = ChangeType::kQuery;
  bool isDdl = false;
  // Canal leaves isDdl out of XA COMMIT/ROLLBACK entries and of the QUERY entries made from
  // ROWS_QUERY, ANNOTATE_ROWS, USER_VAR, INTVAR and RAND events.
  bool isDdlSet = true;
  std::string sql;
  std::string ddlSchema;  // the statement's default database
  std::uint64_t tableId = 0;
  std::shared_ptr<const ColumnInfos> columns;  // what rows' ChangeColumn::info point into
  std::vector<ChangeRow> rows;

  // Clears everything but `rows`, whose allocations are kept for reuse (convertRows sizes
  // them; other producers clear them).
  void reset();
};

// Fills the header fields from the event.
void setHeader(ChangeEntry& entry, const binlog::RawEvent& event, std::string_view logfileName);

// The column names, keys and type texts of a TABLE_MAP ("@1", "@2", ... when it has no names);
// the type texts come from `schema` when given (Canal's mysqlType), else from the TABLE_MAP.
std::shared_ptr<const ColumnInfos> columnInfos(const binlog::TableMapEvent& table,
                                               const schema::TableSchema* schema = nullptr);

// Converts the rows of `event` (with its TABLE_MAP and that table's `columns`) into `entry`
// (header left as it is). Reuses the allocations of `entry.rows`.
Status convertRows(const binlog::RowsEvent& event, const binlog::TableMapEvent& table,
                   std::shared_ptr<const ColumnInfos> columns, const RenderOptions& options, ChangeEntry& entry,
                   const std::string& where);

// How Canal classifies a QUERY event's statement (docs/entries.md, "DDL and other statements"): the event type,
// schema and table of the first statement. nullopt for statements Canal emits nothing for
// (BEGIN/COMMIT, GRANT, CREATE USER/VIEW/TRIGGER/FUNCTION/PROCEDURE, SET, ...).
struct QueryClass {
  ChangeType type = ChangeType::kQuery;
  bool isDdl = true;
  std::optional<std::string> schema;
  std::optional<std::string> table;
};
std::optional<QueryClass> classifyQuery(std::string_view sql, std::string_view defaultDatabase);

// The column's type as SHOW CREATE TABLE would begin it, as far as the TABLE_MAP tells
// ("int unsigned", "decimal(10,2)", "datetime(3)", "varchar", "enum('a','b')", "mediumtext").
std::string mysqlTypeFromBinlog(const binlog::ColumnDef& column);

}  // namespace canal::convert
