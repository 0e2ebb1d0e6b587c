#pragma once

// Walks the events of a binlog file (including those inside TRANSACTION_PAYLOAD events) and
// yields Canal's ROWDATA entries: one per rows event, one per DDL or statement-format DML.
// Transaction framing (BEGIN/COMMIT/XID), GTIDs and statement context events are consumed.
// Used by canal-binlog and the decode benchmark. One thread per reader.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/binlog/event_stream.h"
#include "server/binlog/table_map.h"
#include "server/binlog/gtid_tracker.h"
#include "server/convert/change.h"
#include "server/convert/table_filter.h"

namespace canal::convert {

struct BinlogChangeStats {
  std::uint64_t events = 0;
  std::uint64_t unknownEvents = 0;  // types this decoder does not know, passed over
  std::uint64_t rows = 0;
  std::uint64_t entries = 0;
  std::uint64_t filteredEvents = 0;  // rows events of tables the table filter rejects
  std::uint64_t unknownTables = 0;   // TABLE_MAPs skipped for want of a definition
  std::uint64_t undecodableTables = 0;  // TABLE_MAPs skipped because they cannot be read
};

// Turns events, one at a time, into entries, keeping the TABLE_MAPs it has seen. Used on files
// (BinlogChangeReader) and on a replication stream. One thread.
class ChangeAssembler {
 public:
  explicit ChangeAssembler(RenderOptions options) : options_(options) {}

  // Where table definitions come from for TABLE_MAPs without column names (the primary's),
  // and where the stream's DDL is replayed. `definitions` must outlive the assembler.
  void setTableDefinitions(schema::TableDefinitions* definitions) { schemas_ = definitions; }
  // Also yields TRANSACTIONBEGIN (QUERY "BEGIN") and TRANSACTIONEND (XID, QUERY "COMMIT")
  // entries, as the server sends them; off for FlatMessage output, which has none. Like Canal,
  // no TRANSACTIONBEGIN on MariaDB, whose transactions open with a GTID event instead.
  void setTransactionEntries(bool on) { transactionEntries_ = on; }
  // Rows of tables the filter rejects yield nothing (their definitions are not even read) and
  // their DDL yields no entry (it still updates the definitions); column lists drop columns.
  // Takes effect from the next TABLE_MAP. Null: everything passes.
  void setTableFilter(std::shared_ptr<const TableFilter> filter) { filter_ = std::move(filter); }
  // canal.instance.filter.table.error: rows of a table the primary does not know (counted in
  // stats().unknownTables) or whose TABLE_MAP cannot be read (stats().undecodableTables, with a
  // warning naming it) are skipped instead of stopping the stream.
  void setSkipUnknownTables(bool on) { skipUnknownTables_ = on; }
  // Also yields Canal's QUERY entries for the statement context of row changes: the SQL of
  // ROWS_QUERY (MySQL) and ANNOTATE_ROWS (MariaDB) events, and USER_VAR / INTVAR / RAND
  // rendered as SET statements (docs/entries.md). On in the server.
  void setContextEntries(bool on) { contextEntries_ = on; }
  // canal.instance.gtidon: entries from QUERY, XID and rows events carry the executed GTID set
  // (Header.gtid), starting from `executed` ("uuid:1-5,..." on MySQL, "0-1-5,1-2-7" on
  // MariaDB, or empty) and growing with each GTID event; on MySQL also the transaction's own
  // GTID, sequence number and last-committed. Error: `executed` does not parse.
  Status setGtidMode(std::string_view executed);

  // Converts `event`, framed under `format`, from binlog file `file`; `where` names it in errors.
  // True when `out` now holds an entry. For a TRANSACTION_PAYLOAD_EVENT it returns false and
  // takePayload() then holds the inner events, to be framed and fed back one by one.
  Result<bool> handle(const binlog::RawEvent& event, const binlog::FormatDescription& format, std::string_view file,
                      const std::string& where, ChangeEntry& out);
  std::optional<std::string> takePayload();
  // handle() for a stream that yields events one by one: a TRANSACTION_PAYLOAD's inner events
  // are framed and handled in turn (positioned at the payload event). `emit` is called for each
  // entry left in `out`; its error stops the walk.
  Status handleEach(const binlog::RawEvent& event, const binlog::FormatDescription& format, std::string_view file,
                    const std::string& where, ChangeEntry& out, const std::function<Status()>& emit);

  const BinlogChangeStats& stats() const { return stats_; }

 private:
  struct Table {
    std::shared_ptr<const binlog::TableMapEvent> map;
    std::shared_ptr<const ColumnInfos> columns;
    std::shared_ptr<const TableFilter> columnFilter;  // set when it drops some of its columns
    bool skipped = false;                              // rejected by the table filter
    std::string body;                  // the TABLE_MAP it was made of; empty: decode the next one
    const TableFilter* filter = nullptr;  // the table filter in force then
  };
  void dropFilteredColumns(const Table& table, ChangeEntry& out) const;
  Status noteGtid(const binlog::RawEvent& event, const binlog::FormatDescription& format, const std::string& where);
  // Clears `out` for an entry made from `event` and fills its header, GTID fields included.
  void startEntry(ChangeEntry& out, const binlog::RawEvent& event, std::string_view file);
  // Empties out.rows for an entry without rows, keeping the larger of its rows and the spare
  // ones (their columns' strings) for the next rows event; takeRows() gives them back.
  void parkRows(ChangeEntry& out);
  void takeRows(ChangeEntry& out);
  void stampGtid(ChangeEntry& out) const;
  Result<bool> contextEntry(const binlog::RawEvent& event, const binlog::FormatDescription& format,
                            std::string_view file, const std::string& where, ChangeEntry& out);
  RenderOptions options_;
  schema::TableDefinitions* schemas_ = nullptr;
  bool transactionEntries_ = false;
  std::shared_ptr<const TableFilter> filter_;
  bool skipUnknownTables_ = false;
  bool contextEntries_ = false;
  bool gtidMode_ = false;
  binlog::GtidTracker gtids_;  // the executed set as Header.gtid shows it
  std::string currentGtid_, currentGtidSn_, currentGtidLct_;
  std::unordered_map<std::uint64_t, Table> tables_;
  std::optional<std::string> payload_;
  BinlogChangeStats stats_;
  std::vector<ChangeRow> spareRows_;  // see parkRows()
};

class BinlogChangeReader {
 public:
  // `data` is a whole binlog file and must outlive the reader; `fileName` goes into headers.
  BinlogChangeReader(std::string_view data, std::string fileName, RenderOptions options,
                     binlog::EventStreamOptions streamOptions = {});

  // Next entry; false at the clean end; a Corruption naming file:offset otherwise.
  Result<bool> next(ChangeEntry& out);

  const BinlogChangeStats& stats() const { return assembler_.stats(); }
  // Bytes of the file consumed so far; nothing before this offset is referenced any more
  // except by the last entry returned.
  std::uint64_t offset() const { return stream_.offset(); }

 private:
  std::string fileName_;
  binlog::EventStream stream_;
  ChangeAssembler assembler_;
  std::optional<binlog::EventStream> inner_;  // the events of the current TRANSACTION_PAYLOAD
  std::string payload_;
  std::uint64_t payloadOffset_ = 0;
};

}  // namespace canal::convert
