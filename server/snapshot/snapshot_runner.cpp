#include "server/snapshot/snapshot_runner.h"

#include <chrono>
#include <deque>
#include <future>
#include <set>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "canal/protocol/hex.h"
#include "server/common/clock.h"
#include "server/common/logging.h"
#include "server/common/thread_name.h"
#include "server/convert/change.h"
#include "server/convert/selected_row.h"
#include "server/snapshot/chunk_query.h"

namespace canal::snapshot {
namespace {

// A chunk's values as the primary sent them, copied out of the connection's row buffers.
class RawRows {
 public:
  void add(const std::vector<std::optional<std::string_view>>& values) {
    for (const auto& v : values) {
      cells_.emplace_back(bytes_.size(), v ? v->size() : kNull);
      if (v) bytes_.append(*v);
    }
  }
  std::size_t rows(std::size_t columns) const { return columns ? cells_.size() / columns : 0; }
  std::optional<std::string_view> at(std::size_t cell) const {
    const auto [offset, size] = cells_[cell];
    if (size == kNull) return std::nullopt;
    return std::string_view(bytes_).substr(offset, size);
  }

 private:
  static constexpr std::size_t kNull = static_cast<std::size_t>(-1);
  std::string bytes_;
  std::vector<std::pair<std::size_t, std::size_t>> cells_;  // offset, size (kNull: NULL), row after row
};

// The rows of a chunk rendered as a binlog INSERT of them would be.
Status renderRows(const binlog::TableMapEvent& map, std::size_t columns, const RawRows& raw,
                  const convert::RenderOptions& render, convert::ChangeEntry& e) {
  const std::size_t rows = raw.rows(columns);
  e.rows.resize(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    auto& image = e.rows[r].after;
    image.resize(columns);
    for (std::uint32_t c = 0; c < columns; ++c) {
      image[c].index = c;
      image[c].info = &(*e.columns)[c];
      image[c].updated = true;
      CANAL_RETURN_IF_ERROR(convert::renderSelected(map, c, raw.at(r * columns + c), render, image[c].text));
    }
  }
  return Status::ok();
}

// A chunk's entry before its rows: an INSERT of the table marked as a snapshot, with the
// watermark its rows are at (the gate puts it where the stream is then).
instance::SnapshotChunk chunkOf(const std::string& database, const std::string& table, const schema::TableSchema& def,
                                const binlog::TableMapEvent& map, std::uint32_t serverId,
                                instance::StreamPoint watermark) {
  instance::SnapshotChunk out;
  convert::ChangeEntry& e = out.entry;
  e.kind = convert::EntryKind::kRowData;
  e.type = convert::ChangeType::kInsert;
  e.isDdl = false;
  e.snapshot = true;
  e.schema = database;
  e.table = table;
  e.serverId = serverId;
  e.columns = convert::columnInfos(map, &def);
  e.executeTime = wallClockMs();
  out.watermark = std::move(watermark);
  return out;
}

}  // namespace

SnapshotRunner::SnapshotRunner(std::string destination, mysql::ConnectOptions primary, instance::SnapshotGate& gate,
                               convert::RenderOptions render, std::string watermarkTable,
                               std::shared_ptr<const void> owner)
    : SnapshotRunner(destination, primaryTableSource(std::move(primary), destination, std::move(watermarkTable)), gate,
                     render, std::move(owner)) {}

SnapshotRunner::SnapshotRunner(std::string destination, TableSourceFactory source, instance::SnapshotGate& gate,
                               convert::RenderOptions render, std::shared_ptr<const void> owner)
    : owner_(std::move(owner)),
      destination_(std::move(destination)),
      source_(std::move(source)),
      gate_(gate),
      render_(render) {}

SnapshotRunner::~SnapshotRunner() {
  cancel();
  if (thread_.joinable()) thread_.join();
}

namespace {

// What a restart needs to go on: the request and the cursor, as JSON (key values in hex).
std::string encodeProgress(const SnapshotRequest& request, std::size_t table,
                           const std::optional<std::vector<std::string>>& after) {
  nlohmann::json j;
  for (const auto& [database, name] : request.tables) j["tables"].push_back({database, name});
  j["where"] = request.where;
  j["chunkSize"] = request.chunkSize;
  j["rowsPerSecond"] = request.rowsPerSecond;
  j["parallel"] = request.parallel;
  j["table"] = table;
  if (after) {
    for (const std::string& v : *after) j["after"].push_back(protocol::toHex(v));
  } else {
    j["after"] = nullptr;
  }
  return j.dump();
}

}  // namespace

Result<std::shared_ptr<const schema::TableSchema>> SnapshotRunner::describe(const std::string& database,
                                                                            const std::string& table) const {
  auto source = source_();
  if (!source) return source.status().withContext("destination " + destination_);
  return (*source)->definition(database, table);
}

Result<std::uint64_t> SnapshotRunner::start(SnapshotRequest request) {
  return launch(std::move(request), Cursor{}, false);
}

Result<std::uint64_t> SnapshotRunner::resume(const std::string& progress) {
  const auto j = nlohmann::json::parse(progress, nullptr, false);
  SnapshotRequest request;
  Cursor from;
  try {
    for (const auto& t : j.at("tables")) request.tables.emplace_back(t.at(0).get<std::string>(), t.at(1).get<std::string>());
    request.where = j.at("where").get<std::string>();
    request.chunkSize = j.at("chunkSize").get<std::size_t>();
    request.rowsPerSecond = j.at("rowsPerSecond").get<std::uint64_t>();
    request.parallel = j.value("parallel", std::size_t{1});
    from.table = j.at("table").get<std::size_t>();
    if (!j.at("after").is_null()) {
      from.after.emplace();
      for (const auto& v : j.at("after")) {
        auto key = protocol::fromHex(v.get<std::string>());
        if (!key) return Status::corruption("the stored snapshot progress", "a key value is not hex");
        from.after->push_back(std::move(*key));
      }
    }
  } catch (const std::exception& e) {
    return Status::corruption("the stored snapshot progress", std::string("unreadable: ") + e.what());
  }
  return launch(std::move(request), std::move(from), true);
}

Result<std::uint64_t> SnapshotRunner::launch(SnapshotRequest request, Cursor from, bool resumed) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (progress_ && progress_->state == "running") {
    return Status::invalidArgument("snapshot " + std::to_string(progress_->id) + " of destination " + destination_ +
                                   " is still running");
  }
  if (request.tables.empty()) return Status::invalidArgument("no table to snapshot");
  if (request.chunkSize == 0 || request.chunkSize > SnapshotRequest::kMaxChunkSize) {
    return Status::invalidArgument("chunk size " + std::to_string(request.chunkSize) + " is not in [1, " +
                                   std::to_string(SnapshotRequest::kMaxChunkSize) + "]");
  }
  if (request.rowsPerSecond > SnapshotRequest::kMaxRowsPerSecond) {
    return Status::invalidArgument("rows per second " + std::to_string(request.rowsPerSecond) + " is over " +
                                   std::to_string(SnapshotRequest::kMaxRowsPerSecond));
  }
  if (request.parallel == 0 || request.parallel > SnapshotRequest::kMaxParallel) {
    return Status::invalidArgument("parallel reads " + std::to_string(request.parallel) + " is not in [1, " +
                                   std::to_string(SnapshotRequest::kMaxParallel) + "]");
  }
  CANAL_RETURN_IF_ERROR(checkWhere(request.where));
  lock.unlock();
  auto source = source_();
  if (!source) return source.status().withContext("snapshot of destination " + destination_);
  for (std::size_t i = from.table; i < request.tables.size(); ++i) {
    if (auto key = (*source)->key(request.tables[i].first, request.tables[i].second); !key) return key.status();
  }
  CANAL_RETURN_IF_ERROR((*source)->prepare().withContext("snapshot of destination " + destination_));
  lock.lock();
  if (thread_.joinable()) thread_.join();  // the last one ended: its thread is done
  SnapshotProgress p;
  p.id = nextId_++;
  p.state = "running";
  p.startedMs = wallClockMs();
  p.resumed = resumed;
  for (std::size_t i = 0; i < request.tables.size(); ++i) {
    p.tables.push_back({request.tables[i].first + "." + request.tables[i].second, 0, 0, 0, i < from.table});
  }
  progress_ = p;
  cancel_ = false;
  auto log = moduleLogger("snapshot");
  if (resumed) {
    log->info("destination {}: the snapshot that was running goes on at table {} ({})", destination_,
              p.tables[std::min(from.table, p.tables.size() - 1)].table,
              from.after ? "after the last chunk recorded" : "from its start");
  } else {
    log->info("destination {}: snapshot {} started: {} table(s)", destination_, p.id, p.tables.size());
  }
  thread_ = std::thread([this, request = std::move(request), from = std::move(from)]() mutable {
    nameThisThread("snapshot:" + destination_);
    run(std::move(request), std::move(from));
  });
  return p.id;
}

void SnapshotRunner::cancel() {
  cancel_ = true;
  cancelled_.notify_all();
}

void SnapshotRunner::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  cancelled_.wait(lock, [&] { return !progress_ || progress_->state != "running"; });
}

std::optional<SnapshotProgress> SnapshotRunner::progress() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return progress_;
}

void SnapshotRunner::update(const std::function<void(SnapshotProgress&)>& change) {
  std::lock_guard<std::mutex> lock(mutex_);
  change(*progress_);
}

void SnapshotRunner::run(SnapshotRequest request, Cursor from) {
  Status s;
  auto source = source_();
  if (!source) s = source.status();
  std::vector<std::unique_ptr<TableSource>> readers;  // one per range read at once
  for (std::size_t i = 0; s && request.parallel > 1 && i < request.parallel; ++i) {
    auto reader = source_();
    if (reader) readers.push_back(std::move(*reader));
    else s = reader.status();
  }
  for (std::size_t i = from.table; s && i < request.tables.size(); ++i) {
    s = snapshotTable(**source, readers, request, i, i == from.table ? from.after : std::nullopt);
  }
  gate_.unwatch();
  const bool cancelled = cancel_.load();
  // Done, failed or cancelled: nothing to go on with after a restart. (When the destination
  // stopped nothing is recorded: the progress of the last chunk stored is what a restart finds.)
  static_cast<void>(gate_.record(""));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    progress_->finishedMs = wallClockMs();
    progress_->state = s ? "done" : cancelled ? "cancelled" : "failed";
    if (!s && !cancelled) progress_->error = s.toString();
  }
  cancelled_.notify_all();
  auto log = moduleLogger("snapshot");
  if (s) {
    log->info("destination {}: snapshot done", destination_);
  } else if (cancelled) {
    log->info("destination {}: snapshot cancelled", destination_);
  } else {
    log->error("destination {}: snapshot failed: {}", destination_, s.toString());
  }
}

struct SnapshotRunner::ReadChunk {
  bool voided = false;  // a DDL on the table came before it was read: nothing else is set
  instance::SnapshotGate::Watch watch;
  instance::SnapshotChunk chunk;  // its rows rendered when asked
  std::shared_ptr<const binlog::TableMapEvent> map;
  RawRows raw;  // the rows as read, when not rendered
  std::size_t read = 0;
  std::vector<std::string> last;  // the last row's key
};

Result<SnapshotRunner::ReadChunk> SnapshotRunner::readChunk(TableSource& source, const ChunkQuery& query,
                                                            std::uint64_t definitionDdls, std::uint32_t primaryId,
                                                            bool render) {
  const schema::TableSchema& def = *query.definition;
  const std::vector<std::uint32_t>& keyIndexes = query.key->indexes;
  ReadChunk out;
  out.watch = gate_.watch(query.database, query.table, keyIndexes);
  if (gate_.ddlCount() != definitionDdls) {  // a DDL passed since the definition was read
    gate_.unwatch(out.watch);
    out.voided = true;
    return out;
  }
  out.map = std::make_shared<const binlog::TableMapEvent>(convert::tableMapFromSchema(def, source.isMariaDb()));
  const std::size_t columnCount = def.columns.size();
  bool stale = false;
  out.last.resize(keyIndexes.size());
  auto watermark = source.readChunk(
      query, out.watch.at,
      [&](unsigned count) {
        // The primary changed the table before the stream passed the DDL: read it again.
        stale = count != columnCount;
        return stale ? Status::aborted("the table's definition changed") : Status::ok();
      },
      [&](const std::vector<std::optional<std::string_view>>& values) {
        out.raw.add(values);
        for (std::size_t k = 0; k < keyIndexes.size(); ++k) out.last[k] = values[keyIndexes[k]].value_or("");
        return Status::ok();
      });
  if (stale || !watermark) {
    gate_.unwatch(out.watch);
    if (stale) {
      out.voided = true;
      return out;
    }
    return watermark.status().withContext("snapshot of " + query.database + "." + query.table);
  }
  out.read = out.raw.rows(columnCount);
  out.chunk = chunkOf(query.database, query.table, def, *out.map, primaryId, *watermark);
  if (render) CANAL_RETURN_IF_ERROR(renderChunk(out));
  return out;
}

Status SnapshotRunner::renderChunk(ReadChunk& chunk) {
  convert::ChangeEntry& e = chunk.chunk.entry;
  e.rows = takeRows();
  const Status rendered = renderRows(*chunk.map, e.columns->size(), chunk.raw, render_, e);
  chunk.raw = RawRows();
  if (!rendered) gate_.unwatch(chunk.watch);
  return rendered;
}

Result<std::size_t> SnapshotRunner::submitChunk(ReadChunk& chunk) {
  auto put = gate_.submit(chunk.chunk, chunk.watch, cancel_);
  keepRows(std::move(chunk.chunk.entry.rows));
  return put;
}

std::vector<convert::ChangeRow> SnapshotRunner::takeRows() {
  std::lock_guard<std::mutex> lock(rowsMutex_);
  if (spareRows_.empty()) return {};
  std::vector<convert::ChangeRow> rows = std::move(spareRows_.back());
  spareRows_.pop_back();
  return rows;
}

void SnapshotRunner::keepRows(std::vector<convert::ChangeRow> rows) {
  // As many as chunks are rendered at once: the one put, the ranges read in parallel.
  constexpr std::size_t kKept = 4;
  std::lock_guard<std::mutex> lock(rowsMutex_);
  if (spareRows_.size() < kKept && rows.capacity() > 0) spareRows_.push_back(std::move(rows));
}

Status SnapshotRunner::refreshDefinition(TableSource& source, const std::string& database, const std::string& table,
                                         std::shared_ptr<const schema::TableSchema>& definition, std::uint64_t& ddls) {
  if (definition && gate_.ddlCount() == ddls) return Status::ok();
  // Read again after any DDL the stream has passed since (the chunk's own watch catches one that
  // comes while it is read).
  ddls = gate_.ddlCount();
  auto current = source.definition(database, table);
  if (!current) return current.status();
  definition = *current;
  return Status::ok();
}

void SnapshotRunner::pace(const SnapshotRequest& request, std::chrono::steady_clock::time_point started,
                          std::uint64_t rows) {
  if (request.rowsPerSecond == 0) return;
  // The next chunk starts when the rows so far fit the rate.
  const auto due = started + std::chrono::microseconds(rows * 1000000 / request.rowsPerSecond);
  std::unique_lock<std::mutex> lock(mutex_);
  cancelled_.wait_until(lock, due, [&] { return cancel_.load(); });
}

Status SnapshotRunner::snapshotTable(TableSource& source, std::vector<std::unique_ptr<TableSource>>& readers,
                                     const SnapshotRequest& request, std::size_t index,
                                     std::optional<std::vector<std::string>> after) {
  const auto& [database, table] = request.tables[index];
  auto key = source.key(database, table);
  if (!key) return key.status();
  if (const auto estimate = source.estimatedRows(database, table)) {
    update([&](SnapshotProgress& p) { p.tables[index].estimated = *estimate; });
  }
  const std::uint32_t primaryId = source.serverId();
  if (!readers.empty()) return snapshotTableInRanges(source, readers, request, index, std::move(after), *key, primaryId);
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t done = 0;
  std::shared_ptr<const schema::TableSchema> definition;
  std::uint64_t definitionDdls = 0;

  // Two stages: while one chunk is rendered and put into the stream (on a thread of its own),
  // the next is read. A chunk is put only after the one before it.
  struct InFlight {
    std::future<Result<std::size_t>> put;
    std::optional<std::vector<std::string>> after;  // where it was read from
    std::size_t read = 0;
  };
  std::optional<InFlight> inFlight;
  // Waits for the chunk in flight and counts it. Unavailable: a DDL voided it; `after` is set
  // back to read it again.
  const auto settle = [&]() -> Status {
    if (!inFlight) return Status::ok();
    InFlight chunk = std::move(*inFlight);
    inFlight.reset();
    auto put = chunk.put.get();
    if (!put) {
      if (put.status().code() == StatusCode::kUnavailable) {
        update([&](SnapshotProgress& p) { ++p.chunksReread; });
        definition.reset();
        after = std::move(chunk.after);
      }
      return put.status();
    }
    done += chunk.read;
    update([&](SnapshotProgress& p) {
      ++p.chunks;
      p.tables[index].rows += *put;
      p.tables[index].dropped += chunk.read - *put;
    });
    return Status::ok();
  };
  bool lastRead = false;  // the table's last chunk is read
  for (;;) {
    if (cancel_) return Status::aborted("cancelled");
    if (lastRead) {
      const Status s = settle();
      if (s) break;
      if (s.code() != StatusCode::kUnavailable) return s;
      lastRead = false;
    }
    CANAL_RETURN_IF_ERROR(refreshDefinition(source, database, table, definition, definitionDdls));
    auto keyed = keyColumns(*definition, *key);
    if (!keyed) return keyed.status();
    const ChunkQuery query{database, table, definition.get(), &*keyed, &after, request.where, request.chunkSize};
    auto chunk = readChunk(source, query, definitionDdls, primaryId, false);
    if (!chunk) return chunk.status();
    if (chunk->voided) {
      definition.reset();
      continue;
    }
    // The chunk before goes into the stream first (or, voided by a DDL, is read again with this one).
    if (const Status s = settle(); !s) {
      gate_.unwatch(chunk->watch);
      if (s.code() == StatusCode::kUnavailable) continue;
      return s;
    }
    const std::size_t read = chunk->read;
    std::vector<std::string> last = std::move(chunk->last);
    // Stored with the chunk: after it, this table goes on after its last key, or the next starts.
    chunk->chunk.progress = read < request.chunkSize ? encodeProgress(request, index + 1, std::nullopt)
                                                     : encodeProgress(request, index, last);
    inFlight.emplace();
    inFlight->after = after;
    inFlight->read = read;
    inFlight->put = std::async(std::launch::async, [this, chunk = std::move(*chunk)]() mutable -> Result<std::size_t> {
      CANAL_RETURN_IF_ERROR(renderChunk(chunk));
      return submitChunk(chunk);
    });
    if (read < request.chunkSize) {
      lastRead = true;
      continue;
    }
    after = std::move(last);
    pace(request, started, done);
  }
  update([&](SnapshotProgress& p) { p.tables[index].done = true; });
  return Status::ok();
}

Status SnapshotRunner::snapshotTableInRanges(TableSource& source, std::vector<std::unique_ptr<TableSource>>& readers,
                                             const SnapshotRequest& request, std::size_t index,
                                             std::optional<std::vector<std::string>> after,
                                             const std::vector<std::string>& key, std::uint32_t primaryId) {
  const auto& [database, table] = request.tables[index];
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t done = 0;
  std::shared_ptr<const schema::TableSchema> definition;
  std::uint64_t definitionDdls = 0;

  // Ranges of about a chunk's rows: `source` finds where each ends (the key of its chunkSize-th
  // row), a reader reads it (up to that key, however many rows it holds by then; the last range,
  // to the table's end, at most a chunk), and they are put into the stream in key order, so the
  // progress kept with each is where the table goes on.
  struct Range {
    std::optional<std::vector<std::string>> after;
    std::optional<std::vector<std::string>> upTo;  // nullopt: to the table's end
    std::future<Result<ReadChunk>> read;
  };
  std::deque<Range> ranges;
  std::size_t slot = 0;
  bool planned = false;  // the range to the table's end is planned
  // Ends the ranges read but not put.
  const auto drop = [&] {
    for (Range& r : ranges) {
      auto chunk = r.read.get();
      if (chunk && !chunk->voided) gate_.unwatch(chunk->watch);
    }
    ranges.clear();
  };
  for (;;) {
    if (cancel_) {
      drop();
      return Status::aborted("cancelled");
    }
    while (!planned && ranges.size() < readers.size()) {
      std::shared_ptr<const KeyColumns> keyed;
      Status s = refreshDefinition(source, database, table, definition, definitionDdls);
      if (s) {
        auto columns = keyColumns(*definition, key);
        if (columns) keyed = std::make_shared<const KeyColumns>(std::move(*columns));
        else s = columns.status();
      }
      Result<std::optional<std::vector<std::string>>> end = s;
      if (s) end = source.boundary({database, table, definition.get(), keyed.get(), &after, request.where, request.chunkSize});
      if (!end) {
        drop();
        return end.status().withContext("snapshot of " + database + "." + table);
      }
      Range r;
      r.after = after;
      r.upTo = *end;
      if (r.upTo) after = r.upTo;
      else planned = true;
      TableSource& reader = *readers[slot++ % readers.size()];
      r.read = std::async(std::launch::async, [this, &reader, &request, &database, &table, definition, keyed,
                                               from = r.after, upTo = r.upTo, ddls = definitionDdls, primaryId] {
        const ChunkQuery query{database, table, definition.get(), keyed.get(), &from,
                               request.where, upTo ? 0 : request.chunkSize, &upTo};
        return readChunk(reader, query, ddls, primaryId, true);
      });
      ranges.push_back(std::move(r));
    }
    if (ranges.empty()) break;
    Range r = std::move(ranges.front());
    ranges.pop_front();
    auto chunk = r.read.get();
    if (!chunk) {
      drop();
      return chunk.status();
    }
    Result<std::size_t> put = Status::unavailable("a DDL on the table voided the chunk");
    const bool toTheEnd = !r.upTo;
    if (!chunk->voided) {
      // After it: the next range, or after its last row (the range to the end held a full
      // chunk: rows came after the last boundary), or the next table.
      chunk->chunk.progress = r.upTo ? encodeProgress(request, index, r.upTo)
                              : chunk->read < request.chunkSize ? encodeProgress(request, index + 1, std::nullopt)
                                                                : encodeProgress(request, index, chunk->last);
      put = submitChunk(*chunk);
    }
    if (!put) {
      drop();
      if (put.status().code() != StatusCode::kUnavailable) return put.status();
      // Read under a definition a DDL voided: this range and the ones after it again.
      if (!chunk->voided) update([&](SnapshotProgress& p) { ++p.chunksReread; });
      definition.reset();
      after = std::move(r.after);
      planned = false;
      continue;
    }
    done += chunk->read;
    update([&](SnapshotProgress& p) {
      ++p.chunks;
      p.tables[index].rows += *put;
      p.tables[index].dropped += chunk->read - *put;
    });
    if (toTheEnd && chunk->read == request.chunkSize) {
      after = std::move(chunk->last);
      planned = false;
    }
    pace(request, started, done);
  }
  update([&](SnapshotProgress& p) { p.tables[index].done = true; });
  return Status::ok();
}

}  // namespace canal::snapshot
