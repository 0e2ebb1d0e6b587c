#include "server/snapshot/snapshot_runner.h"

#include <chrono>
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

std::string SnapshotProgress::toJson() const {
  nlohmann::json j;
  j["id"] = id;
  j["state"] = state;
  j["error"] = error.empty() ? nlohmann::json() : nlohmann::json(error);
  j["startedMs"] = startedMs;
  j["finishedMs"] = finishedMs ? nlohmann::json(finishedMs) : nlohmann::json();
  j["chunks"] = chunks;
  j["chunksReread"] = chunksReread;
  std::uint64_t rows = 0;
  std::uint64_t estimated = 0;
  for (const TableProgress& t : tables) {
    j["tables"].push_back({{"table", t.table}, {"rows", t.rows}, {"dropped", t.dropped}, {"estimatedRows", t.estimated},
                           {"done", t.done}});
    rows += t.rows + t.dropped;
    estimated += std::max(t.estimated, t.rows + t.dropped);
  }
  j["rows"] = rows;
  j["estimatedRows"] = estimated;
  const std::int64_t elapsed = (finishedMs ? finishedMs : wallClockMs()) - startedMs;
  if (state == "running" && rows > 0 && estimated > rows) {
    j["etaMs"] = static_cast<std::int64_t>(static_cast<double>(elapsed) * static_cast<double>(estimated - rows) /
                                           static_cast<double>(rows));
  } else {
    j["etaMs"] = nullptr;
  }
  return j.dump();
}

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
  j["table"] = table;
  if (after) {
    for (const std::string& v : *after) j["after"].push_back(protocol::toHex(v));
  } else {
    j["after"] = nullptr;
  }
  return j.dump();
}

}  // namespace

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

Status checkWhere(std::string_view where) {
  const auto bad = [&](std::size_t at, const std::string& what) {
    return Status::invalidArgument("\"where\" is not one boolean expression: " + what + " at character " +
                                   std::to_string(at + 1));
  };
  int depth = 0;
  char quote = 0;
  std::size_t quoteStart = 0;
  for (std::size_t i = 0; i < where.size(); ++i) {
    const char c = where[i];
    if (quote) {
      if (c == '\\' && quote != '`') {
        ++i;  // the escaped character, whatever it is
      } else if (c == quote) {
        if (i + 1 < where.size() && where[i + 1] == quote) ++i;  // a doubled quote stays inside
        else quote = 0;
      }
      continue;
    }
    const char next = i + 1 < where.size() ? where[i + 1] : '\0';
    switch (c) {
      case '\'': case '"': case '`':
        quote = c;
        quoteStart = i;
        break;
      case '(':
        ++depth;
        break;
      case ')':
        if (--depth < 0) return bad(i, "a ')' closes what it did not open");
        break;
      case ';':
        return bad(i, "a ';'");
      case '#':
        return bad(i, "a comment ('#')");
      case '-':
        if (next == '-') return bad(i, "a comment ('--')");
        break;
      case '/':
        if (next == '*') return bad(i, "a comment ('/*')");
        break;
      case '*':
        if (next == '/') return bad(i, "a comment's end ('*/')");
        break;
      default:
        break;
    }
  }
  if (quote) return bad(quoteStart, std::string("a quote (") + quote + ") that is not closed");
  if (depth != 0) return bad(where.size() - 1, std::to_string(depth) + " '(' not closed");
  return Status::ok();
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
  for (std::size_t i = from.table; s && i < request.tables.size(); ++i) {
    s = snapshotTable(**source, request, i, i == from.table ? from.after : std::nullopt);
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

Status SnapshotRunner::snapshotTable(TableSource& source, const SnapshotRequest& request, std::size_t index,
                                     std::optional<std::vector<std::string>> after) {
  const auto& [database, table] = request.tables[index];
  const std::string name = database + "." + table;
  auto key = source.key(database, table);
  if (!key) return key.status();
  if (const auto estimate = source.estimatedRows(database, table)) {
    update([&](SnapshotProgress& p) { p.tables[index].estimated = *estimate; });
  }
  const std::uint32_t primaryId = source.serverId();
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
    if (!definition || gate_.ddlCount() != definitionDdls) {
      // Read again after any DDL the stream has passed since (the chunk's own watch catches one
      // that comes while it is read).
      definitionDdls = gate_.ddlCount();
      auto current = source.definition(database, table);
      if (!current) return current.status();
      definition = *current;
    }
    const schema::TableSchema& def = *definition;
    auto keyed = keyColumns(def, *key);
    if (!keyed) return keyed.status();
    const std::vector<std::uint32_t>& keyIndexes = keyed->indexes;
    const ChunkQuery query{database, table, &def, &*keyed, &after, request.where, request.chunkSize};

    const auto watch = gate_.watch(database, table, keyIndexes);
    if (gate_.ddlCount() != definitionDdls) {  // a DDL passed since the definition was read
      gate_.unwatch(watch);
      definition.reset();
      continue;
    }
    auto map = std::make_shared<const binlog::TableMapEvent>(convert::tableMapFromSchema(def, source.isMariaDb()));
    const std::size_t columnCount = def.columns.size();
    RawRows raw;
    bool stale = false;
    std::vector<std::string> last(keyIndexes.size());
    auto watermark = source.readChunk(
        query, watch.at,
        [&](unsigned count) {
          // The primary changed the table before the stream passed the DDL: read it again.
          stale = count != columnCount;
          return stale ? Status::aborted("the table's definition changed") : Status::ok();
        },
        [&](const std::vector<std::optional<std::string_view>>& values) {
          raw.add(values);
          for (std::size_t k = 0; k < keyIndexes.size(); ++k) last[k] = values[keyIndexes[k]].value_or("");
          return Status::ok();
        });
    if (stale) {
      gate_.unwatch(watch);
      definition.reset();
      continue;
    }
    if (!watermark) {
      gate_.unwatch(watch);
      return watermark.status().withContext("snapshot of " + name);
    }
    // The chunk before goes into the stream first (or, voided by a DDL, is read again with this one).
    if (const Status s = settle(); !s) {
      gate_.unwatch(watch);
      if (s.code() == StatusCode::kUnavailable) continue;
      return s;
    }
    const std::size_t read = raw.rows(columnCount);
    instance::SnapshotChunk out = chunkOf(database, table, def, *map, primaryId, *watermark);
    // Stored with the chunk: after it, this table goes on after its last key, or the next starts.
    out.progress = read < request.chunkSize ? encodeProgress(request, index + 1, std::nullopt)
                                            : encodeProgress(request, index, last);
    inFlight.emplace();
    inFlight->after = after;
    inFlight->read = read;
    inFlight->put = std::async(std::launch::async, [this, out = std::move(out), raw = std::move(raw), map, columnCount,
                                                    watch]() mutable -> Result<std::size_t> {
      if (const Status s = renderRows(*map, columnCount, raw, render_, out.entry); !s) {
        gate_.unwatch(watch);
        return s;
      }
      return gate_.submit(std::move(out), watch, cancel_);
    });
    if (read < request.chunkSize) {
      lastRead = true;
      continue;
    }
    after = std::move(last);
    if (request.rowsPerSecond > 0) {
      // Paced: the next chunk starts when the rows so far fit the rate.
      const auto due = started + std::chrono::microseconds(done * 1000000 / request.rowsPerSecond);
      std::unique_lock<std::mutex> lock(mutex_);
      cancelled_.wait_until(lock, due, [&] { return cancel_.load(); });
    }
  }
  update([&](SnapshotProgress& p) { p.tables[index].done = true; });
  return Status::ok();
}

}  // namespace canal::snapshot
