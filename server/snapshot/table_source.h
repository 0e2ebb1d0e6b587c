#pragma once

// Where a snapshot reads tables: their key, definition and size, and one chunk at a time with
// the binlog point its rows are at. The primary (primaryTableSource: a MySQL connection, the
// watermark rules of docs/snapshots.md) in the server; rows of their own in tests.
// Thread contract: one thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"
#include "server/instance/snapshot_gate.h"
#include "server/mysql/mysql_connection.h"
#include "server/schema/table_schema.h"
#include "server/snapshot/chunk_query.h"

namespace canal::snapshot {

class TableSource {
 public:
  using ColumnsCallback = std::function<Status(unsigned count)>;
  using RowCallback = std::function<Status(const std::vector<std::optional<std::string_view>>& values)>;

  virtual ~TableSource() = default;
  // What must hold before anything is read (the watermark table, what the primary needs for it).
  virtual Status prepare() = 0;
  // The key a table is chunked by (chunk_query.h's chunkKey on the primary).
  virtual Result<std::vector<std::string>> key(const std::string& database, const std::string& table) = 0;
  // The table's definition now (read again after a DDL).
  virtual Result<std::shared_ptr<const schema::TableSchema>> definition(const std::string& database,
                                                                        const std::string& table) = 0;
  virtual std::optional<std::uint64_t> estimatedRows(const std::string& database, const std::string& table) = 0;
  virtual std::uint32_t serverId() = 0;
  virtual bool isMariaDb() const = 0;
  // The rows of `query`, handed over as they arrive (after onColumns with their count), read
  // where the binlog point they are at is known, at or after `notBefore`; that point.
  // The key of the query's `limit`-th row (boundarySelect); nullopt when it has fewer rows.
  virtual Result<std::optional<std::vector<std::string>>> boundary(const ChunkQuery& query) = 0;
  virtual Result<instance::StreamPoint> readChunk(const ChunkQuery& query,
                                                  const std::optional<instance::StreamPoint>& notBefore,
                                                  const ColumnsCallback& onColumns, const RowCallback& onRow) = 0;
};

using TableSourceFactory = std::function<Result<std::unique_ptr<TableSource>>()>;

// The primary through one connection of its own per source. `watermarkTable` ("database.table",
// empty: none) is written before each chunk is read, for primaries that do not name the binlog
// position of a read (MySQL); it is created when missing.
TableSourceFactory primaryTableSource(mysql::ConnectOptions primary, std::string destination,
                                      std::string watermarkTable);

}  // namespace canal::snapshot
