#pragma once

// Snapshots of a destination's tables into its stream (docs/snapshots.md): table after table,
// chunks of `chunkSize` rows in key order, each read in a short transaction whose binlog position
// is known (its watermark) and handed to the destination's SnapshotGate, which puts it into the
// stream in the right place. Lock-free on the primary: no FLUSH TABLES, no long transaction,
// reads only — or, with a watermark table, one row written before each chunk. One snapshot at a
// time per destination, on a thread of its own.
// Thread contract: every function from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/common/status.h"
#include "server/convert/table_filter.h"
#include "server/convert/value_text.h"
#include "server/instance/snapshot_gate.h"
#include "server/mysql/mysql_connection.h"
#include "server/snapshot/table_source.h"

namespace canal::snapshot {

struct SnapshotRequest {
  // The bounds of canal.instance.snapshot.chunk.size and .rows.per.second.
  static constexpr std::size_t kMaxChunkSize = 1000000;
  static constexpr std::uint64_t kMaxRowsPerSecond = 100000000;
  // The bound of canal.instance.snapshot.parallel.
  static constexpr std::size_t kMaxParallel = 16;

  std::vector<std::pair<std::string, std::string>> tables;  // database, table
  std::string where;             // optional condition on every table's rows (checkWhere)
  std::size_t chunkSize = 4096;
  std::uint64_t rowsPerSecond = 0;  // 0: as fast as the stream takes them
  // Chunks read at once, each over a connection of its own, by key range (1: one after another
  // over one connection). Put into the stream in key order either way.
  std::size_t parallel = 1;
};

// A `where` is one boolean expression, placed in parentheses after the chunk's key range: no
// unbalanced parentheses, comments, semicolons or unterminated quotes outside string literals.
// InvalidArgument naming what is wrong and where.
Status checkWhere(std::string_view where);

struct TableProgress {
  std::string table;  // database.table
  std::uint64_t rows = 0;       // read and put into the stream
  std::uint64_t dropped = 0;    // read, but the stream carried a newer version
  std::uint64_t estimated = 0;  // the primary's estimate of the table's rows
  bool done = false;
};

struct SnapshotProgress {
  std::uint64_t id = 0;
  std::string state;  // running, done, failed, cancelled
  std::string error;
  std::int64_t startedMs = 0;
  std::int64_t finishedMs = 0;
  std::uint64_t chunks = 0;
  std::uint64_t chunksReread = 0;  // read again after a DDL on the table
  bool resumed = false;            // went on from where a stopped destination left it
  std::vector<TableProgress> tables;
  std::string toJson() const;
};

class SnapshotRunner {
 public:
  // `gate` outlives the runner, or `owner` (when given) keeps it alive as long as the runner.
  // `watermarkTable` ("database.table", empty: none) is written before each chunk is read: the
  // read then sees every transaction the stream carried before it, where the primary does not
  // name the binlog position of a read (MySQL). It is created when missing.
  SnapshotRunner(std::string destination, mysql::ConnectOptions primary, instance::SnapshotGate& gate,
                 convert::RenderOptions render, std::string watermarkTable = "",
                 std::shared_ptr<const void> owner = nullptr);
  // Reading through sources `source` makes (one to check a request, one per run).
  SnapshotRunner(std::string destination, TableSourceFactory source, instance::SnapshotGate& gate,
                 convert::RenderOptions render, std::shared_ptr<const void> owner = nullptr);
  ~SnapshotRunner();

  // Starts a snapshot; InvalidArgument while one runs, or for a table without a primary key
  // or a unique key on NOT NULL columns (checked before anything is read).
  Result<std::uint64_t> start(SnapshotRequest request);
  // Goes on with a snapshot from the progress a stopped destination kept (SnapshotChunk::progress).
  Result<std::uint64_t> resume(const std::string& progress);
  // Cancels the running snapshot (the stream stays correct: a chunk is put whole or not at all).
  void cancel();
  // Blocks until the running snapshot (if any) ends.
  void wait();
  // The last snapshot's progress; nullopt before the first.
  std::optional<SnapshotProgress> progress() const;
  // A table's definition as the primary has it now, read through a source of its own (for a
  // copy made before its first row); NotFound when the primary has no such table.
  Result<std::shared_ptr<const schema::TableSchema>> describe(const std::string& database, const std::string& table) const;

 private:
  // Where a snapshot goes on: the table and the last key put in it (none: from its start).
  struct Cursor {
    std::size_t table = 0;
    std::optional<std::vector<std::string>> after;
  };
  Result<std::uint64_t> launch(SnapshotRequest request, Cursor from, bool resumed);
  void run(SnapshotRequest request, Cursor from);
  // One table from `after`: chunk after chunk over `source`, or, with readers, ranges whose ends
  // `source` finds read over the readers at once.
  Status snapshotTable(TableSource& source, std::vector<std::unique_ptr<TableSource>>& readers,
                       const SnapshotRequest& request, std::size_t index, std::optional<std::vector<std::string>> after);
  Status snapshotTableInRanges(TableSource& source, std::vector<std::unique_ptr<TableSource>>& readers,
                               const SnapshotRequest& request, std::size_t index,
                               std::optional<std::vector<std::string>> after, const std::vector<std::string>& key,
                               std::uint32_t primaryId);
  // The table's definition, read again when the stream passed a DDL since `ddls` was taken.
  Status refreshDefinition(TableSource& source, const std::string& database, const std::string& table,
                           std::shared_ptr<const schema::TableSchema>& definition, std::uint64_t& ddls);
  // Waits until the rows so far fit request.rowsPerSecond (or a cancel).
  void pace(const SnapshotRequest& request, std::chrono::steady_clock::time_point started, std::uint64_t rows);
  struct ReadChunk;
  // Watches the table, reads `query` and makes the chunk's entry (rendered when `render`);
  // Unavailable when a DDL voided it before it was read (read the definition again).
  Result<ReadChunk> readChunk(TableSource& source, const ChunkQuery& query, std::uint64_t definitionDdls,
                              std::uint32_t primaryId, bool render);
  void update(const std::function<void(SnapshotProgress&)>& change);
  // The chunk's entry rendered from `raw`, in rows of chunks put before when there are some.
  Status renderChunk(ReadChunk& chunk);
  // Puts the chunk into the stream (SnapshotGate::submit), then keeps its rows for a next one.
  Result<std::size_t> submitChunk(ReadChunk& chunk);
  // Rows of chunks already put, their columns' strings with them: a chunk is rendered into them
  // instead of new ones.
  std::vector<convert::ChangeRow> takeRows();
  void keepRows(std::vector<convert::ChangeRow> rows);

  const std::shared_ptr<const void> owner_;
  const std::string destination_;
  const TableSourceFactory source_;
  instance::SnapshotGate& gate_;
  const convert::RenderOptions render_;
  mutable std::mutex mutex_;
  std::optional<SnapshotProgress> progress_;
  std::uint64_t nextId_ = 1;
  std::atomic<bool> cancel_{false};
  std::condition_variable cancelled_;
  std::thread thread_;
  std::mutex rowsMutex_;
  std::vector<std::vector<convert::ChangeRow>> spareRows_;
};

}  // namespace canal::snapshot
