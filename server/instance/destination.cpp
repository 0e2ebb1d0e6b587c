#include "server/instance/destination.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>

#include "server/common/byte_reader.h"
#include "server/common/byte_writer.h"
#include "server/common/clock.h"
#include "server/binlog/event_type.h"
#include "server/common/logging.h"
#include "server/convert/binlog_changes.h"
#include "server/convert/entry_encoder.h"
#include "server/schema/schema_cache.h"
#include "server/schema/schema_history.h"
#include "server/store/rocksdb_journal.h"

namespace canal::instance {
namespace {

bool filteredOut(const convert::ChangeEntry& e, const DestinationOptions& o) {
  using convert::ChangeType;
  if (e.kind != convert::EntryKind::kRowData) return false;
  if (e.columns) {
    if (o.filterRows) return true;
    switch (e.type) {
      case ChangeType::kInsert: return o.filterDmlInsert;
      case ChangeType::kUpdate: return o.filterDmlUpdate;
      case ChangeType::kDelete: return o.filterDmlDelete;
      default: return false;
    }
  }
  if (e.type == ChangeType::kXaCommit || e.type == ChangeType::kXaRollback) return false;
  // Statement-format DML and the statement context of row changes (ROWS_QUERY, ...).
  if (!e.isDdl) return o.filterQueryDml;
  if (e.type == ChangeType::kQuery) return o.filterQueryDcl;
  return o.filterQueryDdl;
}

// Canal's transaction grouping as clients see it: a transaction with no ROWDATA left (all of
// its rows filtered out) is dropped, BEGIN and END alike, except one every 5 s of binlog time
// (or after 8192 dropped) so positions keep moving; with filter.transaction.entry the same
// rule applies to the BEGIN/END of every transaction. BEGIN is held until the transaction
// shows it has something to send.
class TransactionGate {
 public:
  using Put = std::function<Status(const convert::ChangeEntry&)>;
  TransactionGate(bool dropTransactionEntries, Put put) : dropAll_(dropTransactionEntries), put_(std::move(put)) {}

  Status offer(const convert::ChangeEntry& e) {
    switch (e.kind) {
      case convert::EntryKind::kTransactionBegin:
        begin_ = e;
        open_ = true;
        rows_ = false;
        keep_ = dropAll_ && (e.executeTime - lastPairTime_ > 5000 || dropped_ >= 8192);
        return Status::ok();
      case convert::EntryKind::kRowData:
        if (begin_ && (!dropAll_ || keep_)) CANAL_RETURN_IF_ERROR(put_(*begin_));
        begin_.reset();
        // A DDL between transactions (MariaDB opens them without BEGIN) does not make the
        // next one non-empty.
        if (!e.isDdl || open_) rows_ = true;
        return put_(e);
      case convert::EntryKind::kTransactionEnd: {
        // Canal lets an empty pair through when more than 5 s of binlog time passed since the
        // last one it let through, or after 8192 dropped; with dropAll_ the same for every pair.
        // With dropAll_ an END goes out alone only where no BEGIN was dropped (MariaDB).
        const bool empty = dropAll_ || !rows_;
        const bool due = empty && (e.executeTime - lastPairTime_ > 5000 || dropped_ >= 8192);
        const bool send = dropAll_ ? keep_ || ((begin_ || !open_) && due) : !empty || due;
        if (send) {
          if (begin_) CANAL_RETURN_IF_ERROR(put_(*begin_));
          CANAL_RETURN_IF_ERROR(put_(e));
        }
        if (due && send) {
          lastPairTime_ = e.executeTime;
          dropped_ = 0;
        } else if (!send) {
          ++dropped_;
        }
        begin_.reset();
        open_ = rows_ = keep_ = false;
        return Status::ok();
      }
    }
    return Status::ok();
  }

 private:
  const bool dropAll_;
  Put put_;
  std::optional<convert::ChangeEntry> begin_;  // held until the transaction has something to send
  bool open_ = false;                          // between BEGIN and END
  bool rows_ = false;
  bool keep_ = false;  // this transaction's BEGIN/END go out even with dropAll_
  std::int64_t lastPairTime_ = 0;
  std::uint64_t dropped_ = 0;
};

// The stream's resume point as the durable store keeps it.
std::string encodeResume(const replica::CommitPosition& p) {
  std::string out;
  const auto text = [&](const std::string& s) {
    appendLe(out, s.size(), 4);
    out += s;
  };
  text(p.file);
  appendLe(out, p.position, 8);
  appendLe(out, p.timestamp, 4);
  appendLe(out, p.serverId, 4);
  text(p.mariaGtid);
  text(p.mysqlGtidSet);
  return out;
}

std::optional<replica::CommitPosition> decodeResume(std::string_view bytes) {
  ByteReader in(bytes);
  const auto text = [&] { return std::string(in.bytes(in.u32())); };
  replica::CommitPosition p;
  p.file = text();
  p.position = in.u64();
  p.timestamp = in.u32();
  p.serverId = in.u32();
  p.mariaGtid = text();
  p.mysqlGtidSet = text();
  if (in.failed() || !in.atEnd() || p.file.empty()) return std::nullopt;
  return p;
}

bool before(const store::EntryPosition& a, const store::EntryPosition& b) {
  return std::tie(a.journalName, a.position) < std::tie(b.journalName, b.position);
}

// The client whose cursor is the lowest binlog position; null when no client has a cursor.
const meta::ClientMeta* lowestCursor(const meta::DestinationMeta& m) {
  const meta::ClientMeta* lowest = nullptr;
  for (const meta::ClientMeta& c : m.clients) {
    if (c.cursor && (!lowest || before(c.cursor->position, lowest->cursor->position))) lowest = &c;
  }
  return lowest;
}

}  // namespace

const char* stateName(DestinationState state) {
  switch (state) {
    case DestinationState::kStarting: return "starting";
    case DestinationState::kFollowing: return "following";
    case DestinationState::kRetrying: return "retrying";
    case DestinationState::kStopped: return "stopped";
  }
  return "stopped";
}

std::vector<double> requestLatencyBounds() { return {0.0001, 0.0005, 0.001, 0.0025, 0.01, 0.025, 0.1, 1}; }

Result<std::unique_ptr<Destination>> Destination::create(DestinationOptions options,
                                                         std::unique_ptr<meta::MetaStore> meta) {
  const std::string context = "destination " + options.name;
  auto filter = convert::TableFilter::create(options.tableFilter);
  if (!filter) return filter.status().withContext(context);
  meta::DestinationMeta stored{options.name, {}};
  if (meta) {
    auto loaded = meta->load();
    if (!loaded) return loaded.status().withContext(context);
    stored = std::move(*loaded);
  }
  std::unique_ptr<store::EventStore> store;
  if (options.storeDir.empty()) {
    store = std::make_unique<store::EventStore>(options.store);
  } else {
    store::RecoveredStore recovered;
    auto journal = store::RocksDbJournal::open(options.storeDir, recovered);
    if (!journal) return journal.status().withContext(context);
    if (meta && meta->shared()) {
      // Another server may have run the destination since this store was written: it is only
      // used when its ack cursor is where the shared cursors are.
      const meta::ClientMeta* lowest = lowestCursor(stored);
      const auto& acked = recovered.ackPosition;
      const bool current = lowest ? acked && lowest->cursor->position.journalName == acked->journalName &&
                                        lowest->cursor->position.position == acked->position
                                  : !acked && recovered.ackSequence == 0;
      if (!current) {
        moduleLogger("instance")->info("destination {}: the local store is behind the shared cursor; starting it afresh",
                                       options.name);
        journal->reset();
        CANAL_RETURN_IF_ERROR(store::RocksDbJournal::destroy(options.storeDir).withContext(context));
        journal = store::RocksDbJournal::open(options.storeDir, recovered);
        if (!journal) return journal.status().withContext(context);
      }
    }
    store = std::make_unique<store::EventStore>(options.store, std::move(*journal), std::move(recovered));
  }
  std::unique_ptr<Destination> d(
      new Destination(std::move(options), std::move(*filter), std::move(store), std::move(meta)));
  CANAL_RETURN_IF_ERROR(d->restore(stored).withContext(context));
  return d;
}

Destination::Destination(DestinationOptions options, std::shared_ptr<const convert::TableFilter> filter,
                         std::unique_ptr<store::EventStore> store, std::unique_ptr<meta::MetaStore> meta)
    : options_(std::move(options)), store_(std::move(store)), meta_(std::move(meta)), filter_(std::move(filter)) {}

Status Destination::restore(const meta::DestinationMeta& stored) {
  auto log = moduleLogger("instance");
  std::lock_guard<std::mutex> lock(mutex_);
  if (const auto& mark = store_->recoveredResume()) {
    resume_ = decodeResume(mark->data);
    if (!resume_) return Status::corruption(options_.storeDir, "the stored resume position is unreadable");
    resumeSequence_ = mark->sequence;
    store_->rewind(mark->sequence);
    log->info("destination {}: {} unacked entries in the store; the stream resumes at {}:{}", options_.name,
              store_->putSequence() - store_->ackSequence(), resume_->file, resume_->position);
  }
  for (const meta::ClientMeta& c : stored.clients) {
    Client& client = clients_[c.clientId];
    if (c.filter && !c.filter->empty()) {
      client.filter = *c.filter;
      CANAL_RETURN_IF_ERROR(replaceFilterLocked(*c.filter));
    }
    if (!c.cursor) continue;
    client.cursor = c.cursor->position;
    client.ackedThrough = {c.cursor->ackedThroughFile, c.cursor->ackedThroughOffset};
    if (c.cursor->sourceHost != options_.master.host || c.cursor->sourcePort != options_.master.port) {
      log->warn("destination {}: the cursor of client {} was recorded against {}:{}, the primary is {}:{}",
                options_.name, c.clientId, c.cursor->sourceHost, c.cursor->sourcePort, options_.master.host,
                options_.master.port);
    }
  }
  const meta::ClientMeta* lowest = lowestCursor(stored);
  if (!resume_ && lowest) {
    const store::EntryPosition& p = lowest->cursor->position;
    resume_ = replica::CommitPosition{p.journalName, p.position, static_cast<std::uint32_t>(p.timestamp / 1000),
                                      p.serverId, {}, {}};
    skipAt_ = std::max(std::make_pair(lowest->cursor->ackedThroughFile, lowest->cursor->ackedThroughOffset),
                       std::make_pair(p.journalName, p.position));
    log->info("destination {}: starting from the lowest client cursor {}:{}", options_.name, p.journalName, p.position);
  }
  return Status::ok();
}

std::shared_ptr<const convert::TableFilter> Destination::tableFilter() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return filter_;
}

Destination::~Destination() { stop(); }

void Destination::start() {
  if (running_.exchange(true)) return;
  stopping_ = false;
  state_ = DestinationState::kStarting;
  moduleLogger("instance")->info("destination {}: starting, primary {}:{}", options_.name, options_.master.host,
                                 options_.master.port);
  producer_ = std::thread([this] {
    DestinationLogScope scope(options_.name);
    produce();
  });
}

void Destination::stop() {
  if (!running_.exchange(false)) return;
  stopping_ = true;
  store_->stop();
  {
    std::lock_guard<std::mutex> lock(streamMutex_);
    if (stream_) stream_->cancel();
  }
  if (producer_.joinable()) producer_.join();
  if (meta_) {
    const Status s = meta_->flush();
    if (!s.isOk()) moduleLogger("instance")->error("destination {}: {}", options_.name, s.toString());
  }
  state_ = DestinationState::kStopped;
  moduleLogger("instance")->info("destination {}: stopped", options_.name);
}

Status Destination::streamError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return streamError_;
}

void Destination::produce() {
  auto log = moduleLogger("instance");
  RepeatFilter repeats;
  while (!stopping_) {
    std::optional<replica::CommitPosition> from;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      from = resume_;
      store_->rewind(resumeSequence_);  // what the stream produces again is already stored
    }
    const Status s = runStream(from);
    if (stopping_) break;
    state_ = DestinationState::kRetrying;
    if (const auto heldBack = repeats.admit(s.toString())) {
      if (*heldBack > 0) {
        log->error("destination {}: {} (and {} times more since it was last logged); retrying every 5 s", options_.name,
                   s.toString(), *heldBack);
      } else {
        log->error("destination {}: {}; retrying every 5 s", options_.name, s.toString());
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      streamError_ = s;
      streamErrorTimeMs_ = wallClockMs();
    }
    // Tried again, and reported again, until it works or the destination stops: never a jump.
    for (int i = 0; i < 50 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status Destination::runStream(const std::optional<replica::CommitPosition>& from) {
  auto start = replica::chooseStart(options_.master, from, options_.start);
  if (!start) return start.status().withContext("choosing the start position");
  std::optional<std::pair<std::string, std::uint64_t>> skip;
  if (!from && start->kind == replica::DumpStart::Kind::kFilePosition) {
    // The first start: recorded, so that a restart produces the same entries again.
    replica::CommitPosition first{start->file, start->position, 0, 0, {}, {}};
    std::lock_guard<std::mutex> lock(mutex_);
    resume_ = first;
    resumeSequence_ = store_->producerSequence();
    CANAL_RETURN_IF_ERROR(store_->markResume(encodeResume(first)));
  } else {
    std::lock_guard<std::mutex> lock(mutex_);
    skip = skipAt_;
  }
  following_ = true;
  ++streamStarts_;
  if (state_.exchange(DestinationState::kFollowing) != DestinationState::kFollowing) {
    moduleLogger("instance")->info("destination {}: following {}:{} from {}", options_.name, options_.master.host,
                                   options_.master.port, start->toString());
  }
  replica::ReplicaStream stream(options_.master, options_.dump, *start, options_.reconnect);
  if (options_.standby) stream.addStandby(*options_.standby);
  if (options_.detecting) stream.enableDetecting(*options_.detecting);
  {
    std::lock_guard<std::mutex> lock(streamMutex_);
    if (stopping_) return Status::aborted("stopping");
    stream_ = &stream;
  }
  struct Detach {
    Destination* d;
    ~Detach() {
      std::lock_guard<std::mutex> lock(d->streamMutex_);
      d->stream_ = nullptr;
    }
  } detach{this};

  schema::SchemaCache cache(options_.master);
  std::optional<schema::SchemaHistory> history;
  if (!options_.schemaHistoryPath.empty() && start->kind == replica::DumpStart::Kind::kFilePosition) {
    auto opened = schema::SchemaHistory::open(options_.schemaHistoryPath);
    if (!opened) return opened.status();
    history.emplace(std::move(*opened));
    CANAL_RETURN_IF_ERROR(cache.start(*history, schema::SchemaPosition{start->file, start->position}));
  } else {
    CANAL_RETURN_IF_ERROR(cache.start());
  }
  convert::ChangeAssembler assembler(options_.render);
  assembler.setSchemaCache(&cache);
  assembler.setTransactionEntries(true);
  assembler.setSkipUnknownTables(options_.filterTableError);
  assembler.setContextEntries(true);
  if (options_.start.gtidMode) {
    const bool byGtid = start->kind != replica::DumpStart::Kind::kFilePosition;
    CANAL_RETURN_IF_ERROR(assembler.setGtidMode(byGtid ? start->gtid : "").withContext("canal.instance.gtidon"));
  }
  std::uint64_t filterGeneration = filterGeneration_.load() + 1;
  convert::EntryEncoder encoder;
  convert::ChangeEntry entry;
  std::uint64_t nextPosition = 0;
  TransactionGate gate(options_.filterTransactionEntry, [&](const convert::ChangeEntry& e) -> Status {
    store::StoredEntry stored;
    encoder.encode(e, stored.entry);
    stored.rows = static_cast<std::uint32_t>(e.rows.size());
    if (e.kind == convert::EntryKind::kTransactionEnd) transactions_.fetch_add(1, std::memory_order_relaxed);
    stored.position =
        store::EntryPosition{e.logfileName, e.logfileOffset, e.executeTime, e.serverId, e.gtid, nextPosition};
    stored.isDdl = e.kind == convert::EntryKind::kRowData && e.isDdl;
    stored.ackable = e.kind == convert::EntryKind::kTransactionEnd ||
                     (e.kind == convert::EntryKind::kTransactionBegin && e.gtid.empty()) || stored.isDdl;
    return store_->put(std::move(stored));
  });

  for (;;) {
    waitingSinceMs_.store(wallClockMs(), std::memory_order_relaxed);
    auto e = stream.next();
    waitingSinceMs_.store(0, std::memory_order_relaxed);
    if (!e) return e.status();
    const std::int64_t now = wallClockMs();
    events_.fetch_add(1, std::memory_order_relaxed);
    binlogBytes_.fetch_add(e->raw.bytes.size(), std::memory_order_relaxed);
    if (e->raw.header.type == binlog::kHeartbeatLogEvent || e->raw.header.type == binlog::kHeartbeatLogEventV2) {
      heartbeats_.fetch_add(1, std::memory_order_relaxed);
      lastHeartbeatMs_.store(now, std::memory_order_relaxed);
    }
    if (e->artificial) continue;
    lastEventTimeMs_.store(std::int64_t{e->raw.header.timestamp} * 1000, std::memory_order_relaxed);
    lastEventArrivalMs_.store(now, std::memory_order_relaxed);
    if (filterGeneration_.load() != filterGeneration) {  // a client subscribed with a new filter
      std::lock_guard<std::mutex> lock(mutex_);
      filterGeneration = filterGeneration_.load();
      assembler.setTableFilter(filter_);
    }
    nextPosition = e->nextPosition;
    CANAL_RETURN_IF_ERROR(assembler.handleEach(
        e->raw, stream.format(), e->file, e->file + ":" + std::to_string(e->raw.offset), entry, [&]() -> Status {
          const bool commit = entry.kind == convert::EntryKind::kTransactionEnd ||
                              (entry.kind == convert::EntryKind::kRowData && entry.isDdl);
          if (skip && std::make_pair(e->file, e->raw.offset) <= *skip) {
            return Status::ok();  // acked before the restart
          }
          if (filteredOut(entry, options_)) return Status::ok();
          CANAL_RETURN_IF_ERROR(gate.offer(entry));
          if (commit) {
            // Everything up to here is in the store (or was dropped by the filters): a stream
            // started again (after an error, or a restart with a durable store) goes on from here.
            std::lock_guard<std::mutex> lock(mutex_);
            resume_ = stream.committed();
            resumeSequence_ = store_->producerSequence();
            skipAt_.reset();
            CANAL_RETURN_IF_ERROR(store_->markResume(encodeResume(*resume_)));
          }
          return Status::ok();
        }));
  }
}

std::string Destination::identity(std::int16_t clientId) const {
  return "ClientIdentity:ClientIdentity[destination=" + options_.name + ",clientId=" + std::to_string(clientId) + ",filter=<null>]";
}

Status Destination::checkRunning() const {
  if (!running_) return Status::unavailable("destination:" + options_.name + " should start first");
  return Status::ok();
}

Status Destination::replaceFilterLocked(const std::string& filter) {
  if (filter == filter_->spec().regex) return Status::ok();
  convert::TableFilterSpec spec = filter_->spec();
  spec.regex = filter;
  auto replaced = convert::TableFilter::create(spec);
  if (!replaced) return replaced.status();
  filter_ = std::move(*replaced);
  ++filterGeneration_;
  moduleLogger("instance")->info("destination {}: subscribe filter change to {}", options_.name, filter);
  return Status::ok();
}

meta::DestinationMeta Destination::metaLocked() const {
  meta::DestinationMeta m;
  m.destination = options_.name;
  for (const auto& [id, c] : clients_) {
    meta::ClientMeta cm;
    cm.clientId = id;
    cm.filter = c.filter;
    if (c.cursor) {
      cm.cursor = meta::ClientCursor{options_.master.host, options_.master.port, *c.cursor, c.ackedThrough.first,
                                     c.ackedThrough.second};
    }
    m.clients.push_back(std::move(cm));
  }
  return m;
}

Status Destination::recordLocked(meta::MetaChange::Kind kind, std::int16_t clientId) {
  if (!meta_) return Status::ok();
  return meta_->record(metaLocked(), meta::MetaChange{kind, clientId});
}

Status Destination::subscribe(std::int16_t clientId, const std::string& filter) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  std::lock_guard<std::mutex> writing(metaMutex_);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!filter.empty()) CANAL_RETURN_IF_ERROR(replaceFilterLocked(filter));
  Client& c = clients_[clientId];
  if (!filter.empty()) c.filter = filter;
  return recordLocked(meta::MetaChange::Kind::kSubscribe, clientId);
}

Status Destination::unsubscribe(std::int16_t clientId) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  std::lock_guard<std::mutex> writing(metaMutex_);
  std::lock_guard<std::mutex> lock(mutex_);
  if (clients_.erase(clientId) == 0) return Status::ok();
  return recordLocked(meta::MetaChange::Kind::kUnsubscribe, clientId);
}

Result<ClientBatch> Destination::getWithoutAck(std::int16_t clientId, std::int64_t fetchSize, store::GetWait wait,
                                               const store::EventStore::BatchVisitor& render) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  const auto began = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!clients_.count(clientId)) return Status::invalidArgument(identity(clientId) + " should subscribe first");
  }
  ClientBatch out;
  Batch batch;
  auto got = store_->get(fetchSize, wait, [&](const std::vector<const store::StoredEntry*>& entries) {
    for (const store::StoredEntry* e : entries) {
      if (e->ackable) batch.ackPosition = e->position;
      batch.last = {e->position.journalName, e->position.position};
    }
    if (render) {
      if (!entries.empty()) render(entries);
      return;
    }
    out.entries.reserve(entries.size());
    for (const store::StoredEntry* e : entries) out.entries.push_back(e->entry);
  });
  if (!got) return Status::invalidArgument("fetch size " + std::to_string(fetchSize) + " is out of range");
  const auto waited = std::chrono::steady_clock::now();
  if (got->entries.empty()) return out;
  batch.end = got->end;
  std::lock_guard<std::mutex> lock(mutex_);
  Client& c = clients_[clientId];
  out.id = c.nextBatchId++;
  c.batches[out.id] = std::move(batch);
  // The time the store waited for entries is not the request's cost.
  const auto now = std::chrono::steady_clock::now();
  c.getLatency.observe(wait.kind == store::GetWait::Kind::kNoWait ? now - began : now - waited);
  return out;
}

Status Destination::ack(std::int16_t clientId, std::int64_t batchId) {
  CANAL_RETURN_IF_ERROR(takeForAck(clientId, batchId));
  return commitAcks(clientId);
}

Status Destination::takeForAck(std::int16_t clientId, std::int64_t batchId) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  if (batchId == -1) return Status::ok();
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  if (it == clients_.end()) return Status::invalidArgument(identity(clientId) + " should subscribe first");
  Client& c = it->second;
  const auto found = c.batches.find(batchId);
  if (found == c.batches.end()) {
    return Status::notFound("ack error , clientId:" + std::to_string(clientId) + " batchId:" + std::to_string(batchId) +
                            " is not exist , please check");
  }
  if (found != c.batches.begin()) {
    return Status::invalidArgument("batchId:" + std::to_string(batchId) + " is not the firstly:" +
                                   std::to_string(c.batches.begin()->first));
  }
  c.acking.emplace_back(batchId, std::move(found->second));
  c.batches.erase(found);
  if (c.ackingSince == std::chrono::steady_clock::time_point{}) c.ackingSince = std::chrono::steady_clock::now();
  return Status::ok();
}

Status Destination::commitAcks(std::int16_t clientId) {
  // One writer of the meta and the journal at a time; gets and the stream go on meanwhile.
  std::lock_guard<std::mutex> writing(metaMutex_);
  std::vector<std::pair<std::int64_t, Batch>> taken;
  std::optional<store::EntryPosition> moved;  // the last ackable position among them
  std::pair<std::optional<store::EntryPosition>, std::pair<std::string, std::uint64_t>> previous;
  std::optional<meta::DestinationMeta> snapshot;
  std::chrono::steady_clock::time_point since;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = clients_.find(clientId);
    if (it == clients_.end() || it->second.acking.empty()) return Status::ok();
    Client& c = it->second;
    taken = std::move(c.acking);
    c.acking.clear();
    since = std::exchange(c.ackingSince, {});
    for (const auto& [id, batch] : taken) {
      if (batch.ackPosition) moved = batch.ackPosition;
    }
    // The cursor is recorded first: once the meta (ZooKeeper for a standby taking over) has it,
    // the batches are not delivered again; then the store lets their entries go.
    if (moved || c.cursor) {
      previous = {c.cursor, c.ackedThrough};
      if (moved) c.cursor = moved;
      c.ackedThrough = taken.back().second.last;
      snapshot = metaLocked();
    }
  }
  Status recorded;
  if (snapshot && meta_) recorded = meta_->record(*snapshot, meta::MetaChange{meta::MetaChange::Kind::kCursor, clientId});
  const Status done = recorded.isOk() ? store_->ack(taken.back().second.end, moved) : recorded;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  if (it == clients_.end()) return done;  // unsubscribed meanwhile
  Client& c = it->second;
  if (!done.isOk()) {
    // The batches stay unacknowledged, and so do those set aside since (acked after them); the
    // cursor too unless it was recorded.
    if (snapshot && !recorded.isOk()) std::tie(c.cursor, c.ackedThrough) = previous;
    for (auto& [id, batch] : taken) c.batches.emplace(id, std::move(batch));
    for (auto& [id, batch] : c.acking) c.batches.emplace(id, std::move(batch));
    c.acking.clear();
    c.ackingSince = {};
    return done;
  }
  const auto took = std::chrono::steady_clock::now() - since;
  for (std::size_t i = 0; i < taken.size(); ++i) c.ackLatency.observe(took);
  return Status::ok();
}

Status Destination::rollback(std::int16_t clientId, std::int64_t batchId) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  if (it == clients_.end()) return Status::ok();  // rollback before subscribe: nothing to do
  Client& c = it->second;
  if (batchId == 0) {
    c.batches.clear();
  } else {
    const auto found = c.batches.find(batchId);
    if (found == c.batches.end()) {
      return Status::notFound("rollback error, clientId:" + std::to_string(clientId) +
                              " batchId:" + std::to_string(batchId) + " is not exist , please check");
    }
    if (found != c.batches.begin()) {
      return Status::invalidArgument("batchId:" + std::to_string(batchId) + " is not the firstly:" +
                                     std::to_string(c.batches.begin()->first));
    }
    c.batches.erase(found);
  }
  store_->rollback();
  return Status::ok();
}

DestinationStats Destination::stats() const {
  DestinationStats s;
  s.name = options_.name;
  s.state = state_.load();
  s.primary = options_.master.host + ":" + std::to_string(options_.master.port);
  s.events = events_.load(std::memory_order_relaxed);
  s.binlogBytes = binlogBytes_.load(std::memory_order_relaxed);
  s.heartbeats = heartbeats_.load(std::memory_order_relaxed);
  s.transactions = transactions_.load(std::memory_order_relaxed);
  s.streamStarts = streamStarts_.load(std::memory_order_relaxed);
  s.lastEventTimeMs = lastEventTimeMs_.load(std::memory_order_relaxed);
  s.lastEventArrivalMs = lastEventArrivalMs_.load(std::memory_order_relaxed);
  s.lastHeartbeatMs = lastHeartbeatMs_.load(std::memory_order_relaxed);
  s.waitingSinceMs = waitingSinceMs_.load(std::memory_order_relaxed);
  s.heartbeatPeriodMs = std::int64_t{options_.dump.heartbeatSeconds} * 1000;
  s.store = store_->stats();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s.lastError = streamError_;
    s.lastErrorTimeMs = streamErrorTimeMs_;
    s.position = resume_;
    for (const auto& [id, c] : clients_) {
      ClientStats cs;
      cs.clientId = id;
      cs.filter = c.filter;
      cs.unackedBatches = c.batches.size();
      cs.cursor = c.cursor;
      cs.getLatency = c.getLatency;
      cs.ackLatency = c.ackLatency;
      s.clients.push_back(std::move(cs));
    }
  }
  std::lock_guard<std::mutex> lock(trafficMutex_);
  s.traffic = traffic_;
  return s;
}

void Destination::recordRequest(const std::string& packetType, std::chrono::nanoseconds latency, std::size_t bytesSent,
                                int errorCode, bool emptyBatch) {
  std::lock_guard<std::mutex> lock(trafficMutex_);
  if (errorCode != 0) {
    ++traffic_.errors[errorCode];
  } else if (emptyBatch) {
    ++traffic_.emptyBatches;
  } else {
    ++traffic_.packets[packetType];
  }
  traffic_.bytes += bytesSent;
  traffic_.latency.observe(latency);
}

std::optional<store::EntryPosition> Destination::cursor(std::int16_t clientId) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  return it == clients_.end() ? std::nullopt : it->second.cursor;
}

}  // namespace canal::instance
