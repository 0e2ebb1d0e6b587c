#include "server/replica/start_position.h"

#include <vector>

#include "server/replica/transaction_tracker.h"


namespace canal::replica {
namespace {

struct BinlogFile {
  std::string name;
  std::uint64_t size = 0;
};

Result<std::vector<BinlogFile>> binaryLogs(mysql::MysqlConnection& c) {
  auto r = c.query("SHOW BINARY LOGS");
  if (!r) return r.status();
  std::vector<BinlogFile> files;
  for (const auto& row : r->rows) {
    if (row.size() < 2 || !row[0] || !row[1]) continue;
    files.push_back(BinlogFile{*row[0], std::stoull(*row[1])});
  }
  return files;
}

struct ScanResult {
  std::optional<DumpStart> start;  // the first transaction at or after the time, if any
  bool first = false;              // it is the file's first transaction
  bool empty = true;               // the file holds no transaction at all
};

// The start of the first transaction in `file` (of `size` bytes) committed at or after
// `seconds`.
Result<ScanResult> scanFile(const mysql::ConnectOptions& connect, const BinlogFile& file,
                                          std::uint32_t seconds) {
  auto connection = mysql::MysqlConnection::connect(connect);
  if (!connection) return connection.status();
  DumpOptions options;
  options.slaveId = 0x7fff0000u + 17;  // a searcher, not the destination's replica identity
  options.heartbeatSeconds = 0;
  auto dump = BinlogDump::open(std::move(*connection), options, DumpStart::at(file.name, 4));
  if (!dump) return dump.status();
  TransactionTracker tracker;
  std::uint64_t transactionStart = 4;  // where the current group began
  bool first = true;
  for (;;) {
    auto e = (*dump)->next();
    if (!e) return e.status();
    if (e->artificial) continue;
    if (e->file != file.name) return ScanResult{std::nullopt, false, first};  // rotated past the file
    const TransactionTracker::Step step = tracker.note(e->raw, (*dump)->format());
    if (step.opens) transactionStart = e->nextPosition - e->raw.header.eventSize;
    if (step.ends) {
      if (e->raw.header.timestamp >= seconds) return ScanResult{DumpStart::at(file.name, transactionStart), first, false};
      first = false;
    }
    if (e->nextPosition >= file.size) return ScanResult{std::nullopt, false, first};
  }
}

}  // namespace

Result<DumpStart> currentEnd(mysql::MysqlConnection& c) {
  auto r = c.query("SHOW MASTER STATUS");
  if (!r && c.lastErrorCode() == 1064) r = c.query("SHOW BINARY LOG STATUS");  // MySQL 8.4 removed the old name
  if (!r) return r.status();
  if (r->rows.empty() || !r->rows[0][0] || !r->rows[0][1]) {
    return Status::invalidArgument("the primary has no binary log (log_bin is off)", c.peer());
  }
  return DumpStart::at(*r->rows[0][0], std::stoull(*r->rows[0][1]));
}

Result<DumpStart> findByTimestamp(const mysql::ConnectOptions& connect, std::int64_t timestampMs,
                                  const std::string& file) {
  auto c = mysql::MysqlConnection::connect(connect);
  if (!c) return c.status();
  auto files = binaryLogs(**c);
  if (!files) return files.status();
  const auto seconds = static_cast<std::uint32_t>(timestampMs < 0 ? 0 : timestampMs / 1000);
  std::optional<DumpStart> found;
  if (!file.empty()) {
    for (std::size_t i = 0; i < files->size(); ++i) {
      if ((*files)[i].name != file) continue;
      auto scan = scanFile(connect, (*files)[i], seconds);
      if (!scan) return scan.status();
      if (scan->start) return *scan->start;
      if (i + 1 < files->size()) return DumpStart::at((*files)[i + 1].name, 4);
      return currentEnd(**c);
    }
    return Status::notFound("binlog " + file + " is not on the primary (purged?)", (*c)->peer());
  }
  // Newest first. A file whose first transaction already qualifies may have an older file
  // with qualifying ones too; any other answer is final.
  for (auto it = files->rbegin(); it != files->rend(); ++it) {
    auto scan = scanFile(connect, *it, seconds);
    if (!scan) return scan.status();
    if (scan->empty) continue;
    if (!scan->start) break;
    found = *scan->start;
    if (!scan->first) break;
  }
  if (found) return *found;
  return currentEnd(**c);
}

Result<DumpStart> chooseStart(const mysql::ConnectOptions& connect, const std::optional<CommitPosition>& stored,
                              const ConfiguredStart& configured) {
  if (stored && !stored->file.empty()) {
    if (configured.gtidMode && !stored->mariaGtid.empty()) return DumpStart::mariaGtid(stored->mariaGtid);
    return DumpStart::at(stored->file, stored->position);
  }
  if (configured.gtidMode && !configured.gtid.empty()) {
    auto c = mysql::MysqlConnection::connect(connect);
    if (!c) return c.status();
    // MariaDB GTIDs look like domain-server-sequence; MySQL's are uuid:intervals.
    if ((*c)->isMariaDb()) return DumpStart::mariaGtid(configured.gtid);
    return DumpStart::mysqlGtid(configured.gtid);
  }
  if (!configured.journalName.empty()) {
    if (configured.position) return DumpStart::at(configured.journalName, *configured.position);
    if (configured.timestampMs) return findByTimestamp(connect, *configured.timestampMs, configured.journalName);
    return DumpStart::at(configured.journalName, 4);
  }
  if (configured.timestampMs) return findByTimestamp(connect, *configured.timestampMs);
  auto c = mysql::MysqlConnection::connect(connect);
  if (!c) return c.status();
  return currentEnd(**c);
}

}  // namespace canal::replica
