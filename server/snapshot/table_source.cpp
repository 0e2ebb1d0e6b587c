#include "server/snapshot/table_source.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "server/common/ascii.h"
#include "server/common/logging.h"
#include "server/replica/start_position.h"
#include "server/schema/schema_cache.h"

namespace canal::snapshot {
namespace {

// One chunk, read where its binlog position is known, each row handed to `onRow` as it arrives
// (after `onColumns` with the column count); returns the position. With a watermark table
// (`lowWatermark`, the statement that writes it): the write commits after the watch began, so
// every transaction the binlog holds before it is committed and visible to the read that follows
// (the primary commits in binlog order); the watermark is the binlog end after the read. MariaDB: a
// consistent-snapshot transaction names the binlog position its reads see
// (binlog_snapshot_file/position); it must not be before `notBefore`, where the stream was when
// the watch began (the primary streams transactions before their commit is visible, so the
// stream can be ahead of what a new read view sees: the snapshot is taken again until it has
// caught up). MySQL: the binlog end after the read.
Result<instance::StreamPoint> readChunk(mysql::MysqlConnection& c, const std::string& select,
                                        const std::string& lowWatermark,
                                        const std::optional<instance::StreamPoint>& notBefore,
                                        const mysql::MysqlConnection::ColumnsCallback& onColumns,
                                        const mysql::MysqlConnection::RowCallback& onRow) {
  instance::StreamPoint watermark;
  if (!lowWatermark.empty()) {
    CANAL_RETURN_IF_ERROR(c.execute(lowWatermark));
    CANAL_RETURN_IF_ERROR(c.queryEach(select, onColumns, onRow));
    auto end = replica::currentEnd(c);
    if (!end) return end.status();
    watermark = {end->file, end->position};
  } else if (c.isMariaDb()) {
    for (int attempt = 0;; ++attempt) {
      CANAL_RETURN_IF_ERROR(c.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT"));
      auto status = c.query("SHOW STATUS LIKE 'binlog_snapshot_%'");
      if (!status) return status.status();
      for (const auto& row : status->rows) {
        if (row.size() < 2) continue;
        if (row[0] == "Binlog_snapshot_file") watermark.file = row[1].value_or("");
        if (row[0] == "Binlog_snapshot_position") watermark.position = std::stoull(row[1].value_or("0"));
      }
      if (!notBefore || watermark.file.empty() || instance::compareStreamPoints(watermark, *notBefore) >= 0) break;
      CANAL_RETURN_IF_ERROR(c.execute("COMMIT"));
      if (attempt == 1000) {
        return Status::unavailable("the primary's consistent snapshots stay behind the stream (" + watermark.file +
                                   ":" + std::to_string(watermark.position) + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const Status read = c.queryEach(select, onColumns, onRow);
    const Status committed = c.execute("COMMIT");
    CANAL_RETURN_IF_ERROR(read);
    CANAL_RETURN_IF_ERROR(committed);
  } else {
    CANAL_RETURN_IF_ERROR(c.queryEach(select, onColumns, onRow));
    auto end = replica::currentEnd(c);
    if (!end) return end.status();
    watermark = {end->file, end->position};
  }
  if (watermark.file.empty()) {
    return Status::unavailable("the primary does not say its binary log position (is log_bin on?)", c.peer());
  }
  return watermark;
}

// "database.table" split; nullopt when either is missing.
std::optional<std::pair<std::string, std::string>> splitTableName(const std::string& name) {
  const auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == name.size()) return std::nullopt;
  return std::make_pair(name.substr(0, dot), name.substr(dot + 1));
}

class PrimaryTableSource final : public TableSource {
 public:
  PrimaryTableSource(std::unique_ptr<mysql::MysqlConnection> connection, const mysql::ConnectOptions& primary,
                     std::string destination, std::string watermarkTable)
      : connection_(std::move(connection)),
        definitions_(primary),
        destination_(std::move(destination)),
        watermarkTable_(std::move(watermarkTable)) {}

  Status prepare() override;
  Result<std::vector<std::string>> key(const std::string& database, const std::string& table) override {
    return chunkKey(*connection_, database, table);
  }
  Result<std::shared_ptr<const schema::TableSchema>> definition(const std::string& database,
                                                                const std::string& table) override {
    return definitions_.current(database, table);
  }
  std::optional<std::uint64_t> estimatedRows(const std::string& database, const std::string& table) override {
    auto estimate = connection_->queryValue("SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
                                            mysql::MysqlConnection::quote(database) +
                                            " AND TABLE_NAME = " + mysql::MysqlConnection::quote(table));
    if (!estimate || !*estimate) return std::nullopt;
    return std::stoull(**estimate);
  }
  std::uint32_t serverId() override {
    auto id = connection_->queryValue("SELECT @@server_id");
    return id && *id ? static_cast<std::uint32_t>(std::stoul(**id)) : 0;
  }
  bool isMariaDb() const override { return connection_->isMariaDb(); }
  Result<std::optional<std::vector<std::string>>> boundary(const ChunkQuery& query) override {
    auto rows = connection_->query(boundarySelect(query));
    if (!rows) return rows.status();
    if (rows->rows.empty()) return std::optional<std::vector<std::string>>();
    std::vector<std::string> key;
    for (const auto& v : rows->rows[0]) key.push_back(v.value_or(""));
    return std::optional<std::vector<std::string>>(std::move(key));
  }
  Result<instance::StreamPoint> readChunk(const ChunkQuery& query, const std::optional<instance::StreamPoint>& notBefore,
                                          const ColumnsCallback& onColumns, const RowCallback& onRow) override {
    return snapshot::readChunk(*connection_, chunkSelect(query), lowWatermark(), notBefore, onColumns, onRow);
  }

 private:
  // The statement that marks a chunk's start in the watermark table (empty: none).
  std::string lowWatermark() const;

  std::unique_ptr<mysql::MysqlConnection> connection_;
  schema::SchemaCache definitions_;
  const std::string destination_;
  const std::string watermarkTable_;
};

std::string PrimaryTableSource::lowWatermark() const {
  const auto name = splitTableName(watermarkTable_);
  if (!name) return "";
  return "INSERT INTO " + quoteName(name->first) + "." + quoteName(name->second) +
         " (destination, chunks) VALUES (" + mysql::MysqlConnection::quote(destination_) +
         ", 1) ON DUPLICATE KEY UPDATE chunks = chunks + 1";
}

Status PrimaryTableSource::prepare() {
  mysql::MysqlConnection& connection = *connection_;
  if (watermarkTable_.empty()) {
    if (!connection.isMariaDb()) {
      moduleLogger("snapshot")->warn(
          "destination {}: MySQL does not say which binlog position a read sees: a transaction committing while "
          "a chunk is read can leave the chunk's older row after its change; set "
          "canal.instance.snapshot.watermark.table to close that window",
          destination_);
    }
    return Status::ok();
  }
  const std::string key = "the snapshot watermark table " + watermarkTable_ + " (canal.instance.snapshot.watermark.table)";
  const auto name = splitTableName(watermarkTable_);
  if (!name) return Status::invalidArgument(key + ": not database.table");
  if (!connection.isMariaDb()) {
    // Binlog order and commit order must agree, or a read can miss a transaction the binlog
    // holds before the watermark.
    auto ordered = connection.queryValue("SELECT @@binlog_order_commits");
    if (ordered && *ordered && (**ordered == "0" || asciiLower(**ordered) == "off")) {
      return Status::invalidArgument(key + ": binlog_order_commits is OFF on the primary, so a chunk read after "
                                           "the watermark may miss a transaction before it; set it ON");
    }
  }
  auto exists = connection.queryValue("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = " +
                                      mysql::MysqlConnection::quote(name->first) +
                                      " AND TABLE_NAME = " + mysql::MysqlConnection::quote(name->second));
  if (!exists) return exists.status().withContext(key);
  if (!*exists || **exists == "0") {
    CANAL_RETURN_IF_ERROR(
        connection
            .execute("CREATE TABLE IF NOT EXISTS " + quoteName(name->first) + "." + quoteName(name->second) +
                     " (destination VARCHAR(255) NOT NULL PRIMARY KEY, chunks BIGINT UNSIGNED NOT NULL)")
            .withContext(key + ": creating it"));
  }
  // Written once now: a missing privilege is said before anything is read.
  return connection.execute(lowWatermark()).withContext(key + ": writing it");
}

}  // namespace

TableSourceFactory primaryTableSource(mysql::ConnectOptions primary, std::string destination,
                                      std::string watermarkTable) {
  return [primary = std::move(primary), destination = std::move(destination),
          watermarkTable = std::move(watermarkTable)]() -> Result<std::unique_ptr<TableSource>> {
    auto connection = mysql::MysqlConnection::connect(primary);
    if (!connection) return connection.status();
    // Values as the table holds them (binary), TIMESTAMPs in UTC, as the binlog has them.
    CANAL_RETURN_IF_ERROR((*connection)->execute("SET SESSION character_set_results = binary, time_zone = '+00:00'"));
    return std::unique_ptr<TableSource>(
        new PrimaryTableSource(std::move(*connection), primary, destination, watermarkTable));
  };
}

}  // namespace canal::snapshot
