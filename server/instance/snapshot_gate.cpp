#include "server/instance/snapshot_gate.h"

#include <chrono>

#include "server/common/position.h"

namespace canal::instance {

int compareStreamPoints(const StreamPoint& a, const StreamPoint& b) {
  return compareBinlogPoints(a.file, a.position, b.file, b.position);
}

std::string SnapshotGate::keyOf(const std::vector<convert::ChangeColumn>& image,
                                const std::vector<std::uint32_t>& keyColumns) {
  std::string key;
  for (const std::uint32_t k : keyColumns) {
    for (const convert::ChangeColumn& c : image) {
      if (c.index != k) continue;
      key += c.text.isNull ? std::string("\x01", 1) : "\x02" + c.text.value;
      break;
    }
    key.push_back('\0');
  }
  return key;
}

void SnapshotGate::noteEntry(const convert::ChangeEntry& e) {
  if (e.kind == convert::EntryKind::kRowData && e.isDdl) ddlCount_.fetch_add(1);
  if (watches_.empty() || e.kind != convert::EntryKind::kRowData) return;
  // A DDL names its table in the header; one without a table (a database) voids nothing.
  if (!e.schema || *e.schema != database_ || !e.table || *e.table != table_) return;
  if (e.isDdl) {
    lastDdl_ = ++changes_;
    return;
  }
  for (const convert::ChangeRow& row : e.rows) {
    if (!row.before.empty()) changedKeys_[keyOf(row.before, keyColumns_)] = ++changes_;
    if (!row.after.empty()) changedKeys_[keyOf(row.after, keyColumns_)] = ++changes_;
  }
}

void SnapshotGate::atPoint(std::string_view file, std::uint64_t position, bool inTransaction) {
  if (!at_) at_.emplace();
  at_->file.assign(file);
  at_->position = position;
  inTransaction_ = inTransaction;
  if (!watches_.empty()) moved_.notify_all();
}

void SnapshotGate::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
  moved_.notify_all();
}

SnapshotGate::Watch SnapshotGate::watch(const std::string& database, const std::string& table,
                                        std::vector<std::uint32_t> keyColumns) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (watches_.empty() || database != database_ || table != table_ || keyColumns != keyColumns_) {
    watches_.clear();
    changedKeys_.clear();
    lastDdl_ = 0;
    database_ = database;
    table_ = table;
    keyColumns_ = std::move(keyColumns);
  }
  Watch w{at_, changes_ + 1};
  watches_.insert(w.since);
  return w;
}

void SnapshotGate::endWatch(std::uint64_t since) {
  if (auto it = watches_.find(since); it != watches_.end()) watches_.erase(it);
  if (watches_.empty()) {
    changedKeys_.clear();
    return;
  }
  // Changes older than every open watch void nothing any more.
  const std::uint64_t oldest = *watches_.begin();
  for (auto it = changedKeys_.begin(); it != changedKeys_.end();) {
    it = it->second < oldest ? changedKeys_.erase(it) : std::next(it);
  }
}

void SnapshotGate::unwatch(const Watch& watch) {
  std::lock_guard<std::mutex> lock(mutex_);
  endWatch(watch.since);
}

void SnapshotGate::unwatch() {
  std::lock_guard<std::mutex> lock(mutex_);
  watches_.clear();
  changedKeys_.clear();
}

Result<std::size_t> SnapshotGate::submit(SnapshotChunk& chunk, const Watch& watch, const std::atomic<bool>& cancel) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (stopped_ || cancel.load()) {
      endWatch(watch.since);
      return Status::aborted("the snapshot was cancelled or the destination stopped");
    }
    if (at_ && !inTransaction_ && compareStreamPoints(*at_, chunk.watermark) >= 0) break;
    moved_.wait_for(lock, std::chrono::milliseconds(100));
  }
  if (lastDdl_ >= watch.since) {
    endWatch(watch.since);
    return Status::unavailable("the definition of " + database_ + "." + table_ + " changed while its chunk was read");
  }
  auto& rows = chunk.entry.rows;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!changedKeys_.empty()) {
      const auto changed = changedKeys_.find(keyOf(rows[i].after, keyColumns_));
      if (changed != changedKeys_.end() && changed->second >= watch.since) continue;
    }
    if (kept != i) rows[kept] = std::move(rows[i]);
    ++kept;
  }
  rows.resize(kept);
  endWatch(watch.since);
  // The chunk takes its place in the stream here: its position is the stream's, never before an
  // entry already put; the watermark (the state its rows are) goes along in a prop of its own.
  chunk.entry.snapshotWatermark = chunk.watermark.file + ":" + std::to_string(chunk.watermark.position);
  chunk.entry.logfileName = at_->file;
  chunk.entry.logfileOffset = at_->position;
  CANAL_RETURN_IF_ERROR(put_(chunk.entry, chunk.progress));
  return kept;
}

Status SnapshotGate::record(const std::string& progress) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopped_) return Status::aborted("the destination stopped");
  convert::ChangeEntry none;
  return put_(none, progress);
}

}  // namespace canal::instance
