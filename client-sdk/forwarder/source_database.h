#pragma once

// Reads rows from the source database for documents built from several tables. A read is one
// consistent snapshot that sees at least every change of the batch being written, and tells
// the binlog position it was taken at: the version of every document built from it, so a
// document built from an older read never overwrites one built from a newer.
// Thread contract: one thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canal/client/status.h"
#include "forwarder/forwarder_config.h"

namespace canal::forwarder {

// Rows as the text protocol gives them (NULL = nullopt), each column's automatic field type.
struct SourceRows {
  std::vector<std::string> columns;
  std::vector<FieldType> types;  // never kAuto
  std::vector<std::vector<std::optional<std::string>>> rows;
  // The index of column `name`; nullopt when there is none.
  std::optional<std::size_t> columnIndex(const std::string& name) const;
};

// SELECT `columns` (empty: all) FROM `table` WHERE (`where`) IN (`keys`) ORDER BY `orderBy`;
// without keys, no rows but the columns.
struct RowQuery {
  std::string database;
  std::string table;
  std::vector<std::string> columns;
  std::vector<std::string> where;
  std::vector<std::vector<std::string>> keys;  // each as many values as `where`
  std::vector<std::string> orderBy;
};

class RowSource {
 public:
  virtual ~RowSource() = default;
  // Starts a consistent read that sees every change at or before `position` (Change::position()
  // form: a row event's offset, or a snapshot row's watermark), waiting for the source to commit
  // it; returns the read's own position (a transaction boundary, at least `position`).
  virtual client::Result<std::int64_t> beginRead(std::int64_t position) = 0;
  virtual client::Result<SourceRows> select(const RowQuery& query) = 0;
  virtual void endRead() = 0;
  // The primary key columns of a table, in key order (empty when it has none).
  virtual client::Result<std::vector<std::string>> primaryKey(const std::string& database, const std::string& table) = 0;
};

// A MariaDB server through libmariadb. The read position is MariaDB's binlog_snapshot_file and
// binlog_snapshot_position of a START TRANSACTION WITH CONSISTENT SNAPSHOT: exactly the
// transactions the read sees. A server without them (MySQL) is refused when a read starts.
// A refused login is kSinkFatal; a server that cannot be reached is kSinkRetry (the batch is
// rolled back and written again) — at start too, so the forwarder can start before it.
client::Result<std::unique_ptr<RowSource>> connectSource(const DatabaseConfig& config);

}  // namespace canal::forwarder
