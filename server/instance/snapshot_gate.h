#pragma once

// Where snapshot chunks meet the live stream (the watermark algorithm, docs/snapshots.md).
// The snapshot side watches a table, reads a chunk of its rows in a transaction whose binlog
// position is known (the chunk's watermark: its rows are the table's state there), and submits
// it. Meanwhile the pump notes the key of every row change of the watched table it handles. The
// chunk is put into the store once the stream is past the watermark and between transactions,
// without the rows whose key changed since the watch began: the stream already carried their
// newer version, so a consumer applying entries in order ends equal to the table. A DDL on the
// table since the watch began voids the chunk (it was read under the old definition).
//
// Thread contract: the pump calls the pump-side functions holding lockForEvent(); the snapshot
// side's functions take the lock themselves, from any thread (the runner watches and reads on
// one, submits on another), and submits chunks one at a time, in order.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/common/status.h"
#include "server/convert/change.h"

namespace canal::instance {

struct StreamPoint {
  std::string file;
  std::uint64_t position = 0;
};

// -1, 0, 1 as compareBinlogPoints orders them.
int compareStreamPoints(const StreamPoint& a, const StreamPoint& b);

struct SnapshotChunk {
  convert::ChangeEntry entry;  // INSERT rows (after images), snapshot = true; submit() sets its position
  StreamPoint watermark;
  std::string progress;  // where the snapshot goes on once this chunk is stored (kept for restarts)
};

class SnapshotGate {
 public:
  // Pump side. Puts the rows of an entry into the store (the pump's encoder and store; the rows
  // are left as they are) and keeps `progress` with the stream's resume mark; set before start.
  using Put = std::function<Status(convert::ChangeEntry&, const std::string& progress)>;
  void setPut(Put put) { put_ = std::move(put); }
  // Held while the pump handles one event: a chunk is never put in the middle of one.
  std::unique_lock<std::mutex> lockForEvent() { return std::unique_lock<std::mutex>(mutex_); }
  // A row entry or DDL the pump produced (lock held).
  void noteEntry(const convert::ChangeEntry& e);
  // The stream is at `at`, inside or outside a transaction (lock held).
  void atPoint(std::string_view file, std::uint64_t position, bool inTransaction);
  // The pump stops: submitters are released with Aborted.
  void stop();

  // Snapshot side. From now on, keys of rows changed in `database`.`table` are recorded (the
  // columns at `keyColumns`, table ordinals). Returns where the stream is (`at`, nullopt: it has
  // not read anything yet): changes before it are not recorded, so the chunk must be read at or
  // after it (the primary streams a transaction before its commit is visible to readers). Watches
  // of one table may overlap (the next chunk is read while the last is put); each chunk is
  // compared with the changes since its own watch began.
  struct Watch {
    std::optional<StreamPoint> at;
    std::uint64_t since = 0;  // the first change recorded for this watch
  };
  Watch watch(const std::string& database, const std::string& table, std::vector<std::uint32_t> keyColumns);
  // Waits until the chunk (read under `watch`) can be put, puts it without the rows whose key
  // changed since the watch began, and returns how many rows were put. Unavailable (read it
  // again) when a DDL on the table came since the watch began; Aborted when `cancel` is set or
  // the pump stops. Ends the watch either way. The chunk's rows are left to the caller (those
  // put, or all of them when none were).
  Result<std::size_t> submit(SnapshotChunk& chunk, const Watch& watch, const std::atomic<bool>& cancel);
  // Ends one watch without a chunk.
  void unwatch(const Watch& watch);
  // Ends every watch.
  void unwatch();
  // Keeps `progress` with the resume mark (empty: no snapshot runs any more).
  Status record(const std::string& progress);


  // DDL statements the pump has handled (any table): definitions read before a change of it
  // may be stale.
  std::uint64_t ddlCount() const { return ddlCount_.load(); }

  // Row keys of an entry's image as the gate compares them.
  static std::string keyOf(const std::vector<convert::ChangeColumn>& image, const std::vector<std::uint32_t>& keyColumns);

 private:
  Put put_;
  std::mutex mutex_;
  std::condition_variable moved_;  // the stream moved, or the pump stopped
  bool stopped_ = false;
  void endWatch(std::uint64_t since);  // lock held

  std::multiset<std::uint64_t> watches_;  // the `since` of every open watch
  std::string database_;
  std::string table_;
  std::vector<std::uint32_t> keyColumns_;
  std::uint64_t changes_ = 0;  // changes of the watched table recorded (rows and DDL)
  std::unordered_map<std::string, std::uint64_t> changedKeys_;  // key -> its last change
  std::uint64_t lastDdl_ = 0;  // the last DDL on the watched table (0: none)
  std::atomic<std::uint64_t> ddlCount_{0};
  std::optional<StreamPoint> at_;
  bool inTransaction_ = false;
};

}  // namespace canal::instance
