#include "server/instance/binlog_pump.h"

#include <spdlog/spdlog.h>

#include <functional>
#include <span>

#include "server/binlog/event_type.h"
#include "server/common/byte_reader.h"
#include "server/common/byte_writer.h"
#include "server/common/clock.h"
#include "server/common/logging.h"
#include "server/common/thread_name.h"
#include "server/convert/binlog_changes.h"
#include "server/convert/entry_encoder.h"

namespace canal::instance {
namespace {

bool filteredOut(const convert::ChangeEntry& e, const PumpOptions& o) {
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

}  // namespace

std::string encodeResume(const CommitPosition& p, const std::string& snapshot) {
  std::string out;
  out.reserve(36 + p.file.size() + p.mariaGtid.size() + p.mysqlGtidSet.size() + snapshot.size() + p.source.size());
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
  if (!snapshot.empty() || !p.source.empty()) text(snapshot);
  if (!p.source.empty()) text(p.source);
  return out;
}

std::optional<CommitPosition> decodeResume(std::string_view bytes, std::string* snapshot) {
  ByteReader in(bytes);
  const auto text = [&] { return std::string(in.bytes(in.u32())); };
  CommitPosition p;
  p.file = text();
  p.position = in.u64();
  p.timestamp = in.u32();
  p.serverId = in.u32();
  p.mariaGtid = text();
  p.mysqlGtidSet = text();
  std::string progress;
  if (!in.failed() && !in.atEnd()) progress = text();
  if (!in.failed() && !in.atEnd()) p.source = text();
  if (in.failed() || !in.atEnd() || p.file.empty()) return std::nullopt;
  if (snapshot) *snapshot = std::move(progress);
  return p;
}

const char* stateName(DestinationState state) {
  switch (state) {
    case DestinationState::kStarting: return "starting";
    case DestinationState::kFollowing: return "following";
    case DestinationState::kRetrying: return "retrying";
    case DestinationState::kStuck: return "stuck";
    case DestinationState::kStopped: return "stopped";
  }
  return "stopped";
}

BinlogPump::BinlogPump(PumpOptions options, std::unique_ptr<BinlogSource> source, store::EventStore& store,
                       ActiveFilter& filter, PumpStart start)
    : options_(std::move(options)),
      source_(std::move(source)),
      store_(store),
      filter_(filter),
      start_(std::move(start)),
      sequence_(start_.epoch, store.putSequence()) {}

BinlogPump::~BinlogPump() { stop(); }

void BinlogPump::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  state_ = DestinationState::kStarting;
  moduleLogger("instance")->info("destination {}: starting, primary {}", options_.name, source_->primary());
  thread_ = std::thread([this] {
    nameThisThread("stream:" + options_.name);
    DestinationLogScope scope(options_.name);
    produce();
  });
}

void BinlogPump::stop() {
  if (!thread_.joinable()) return;
  store_.stop();
  if (snapshots_) snapshots_->stop();
  {
    std::lock_guard<std::mutex> lock(runMutex_);
    stopping_ = true;
    if (run_) run_->cancel();
  }
  stopped_.notify_all();
  thread_.join();
  state_ = DestinationState::kStopped;
}

Status BinlogPump::streamError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return streamError_;
}

void BinlogPump::produce() {
  auto log = moduleLogger("instance");
  RepeatFilter repeats;
  const auto every = std::to_string(options_.retryInterval.count()) + " ms";
  while (!stopping_) {
    const Status s = runOnce();
    if (stopping_) break;
    const bool stuck = s.code() == StatusCode::kPositionRefused;  // purged, missing, not a boundary
    state_ = stuck ? DestinationState::kStuck : DestinationState::kRetrying;
    if (const auto heldBack = repeats.admit(s.toString())) {
      if (*heldBack > 0) {
        log->error("destination {}: {} (and {} times more since it was last logged); retrying every {}", options_.name,
                   s.toString(), *heldBack, every);
      } else {
        log->error("destination {}: {}; retrying every {}", options_.name, s.toString(), every);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      streamError_ = s;
      streamErrorTimeMs_ = options_.clock->wallMs();
    }
    streamFailures_.fetch_add(1, std::memory_order_relaxed);
    // Tried again, and reported again, until it works or the destination stops: never a jump.
    std::unique_lock<std::mutex> lock(runMutex_);
    stopped_.wait_for(lock, options_.retryInterval, [this] { return stopping_.load(); });
  }
}

void BinlogPump::setSnapshotGate(SnapshotGate* gate, StreamMarks* marks) {
  snapshots_ = gate;
  marks_ = marks;
  // Called on the snapshot's thread while the pump waits for the gate: the store has one
  // producer at a time. The entries are kept when a run starts again from the last transaction.
  gate->setPut([this, marks, encoder = std::make_shared<convert::EntryEncoder>()](convert::ChangeEntry& e,
                                                                                 const std::string& progress) -> Status {
    // Entries of at most kRowsPerEntry rows (a chunk can be large): within batch sizes and
    // clients' buffers, as the rows events of the same rows would be.
    // The entry's rows stay as they are (the snapshot reuses them for its next chunk).
    constexpr std::size_t kRowsPerEntry = 256;
    const std::span<const convert::ChangeRow> rows(e.rows);
    for (std::size_t from = 0; from < rows.size(); from += kRowsPerEntry) {
      const auto part = rows.subspan(from, std::min(kRowsPerEntry, rows.size() - from));
      store::StoredEntry stored;
      encoder->encode(e, part, stored.entry, sequence_.number(store_.producerSequence()));
      stored.rows = static_cast<std::uint32_t>(part.size());
      stored.position = EntryPosition{e.logfileName, e.logfileOffset, e.executeTime, e.serverId, e.gtid, 0};
      CANAL_RETURN_IF_ERROR(store_.put(std::move(stored)));
    }
    // The progress goes with the resume mark: a restart finds the chunks in the store and the
    // snapshot's next key beside them. Without a store journal it goes with the client's cursor
    // once the chunk is acked.
    marks->snapshot.note(store_.producerSequence(), progress);
    std::lock_guard<std::mutex> lock(mutex_);
    start_.resumeSequence = store_.producerSequence();
    start_.snapshot = progress;
    if (start_.resume) CANAL_RETURN_IF_ERROR(store_.markResume(encodeResume(*start_.resume, start_.snapshot)));
    return Status::ok();
  });
}

// One run's state: where it started, what it skips, the assembler and encoder, and where the
// stream is within a transaction.
struct BinlogPump::Run {
  Run(BinlogRun& r, const PumpOptions& o) : run(r), assembler(o.render) {}
  BinlogRun& run;
  std::optional<CommitPosition> from;
  std::optional<std::pair<std::string, std::uint64_t>> skip;  // acked before a restart
  convert::ChangeAssembler assembler;
  convert::EntryEncoder encoder;
  convert::ChangeEntry entry;
  std::optional<TransactionGate> gate;
  std::uint64_t filterGeneration = 0;
  std::uint64_t nextPosition = 0;
  bool ackablePut = false;  // since the last commit, by the gate
  bool reading = false;     // the primary accepted the position
  bool inTransaction = false;
  std::string where;        // file:offset of the event, for errors (a buffer kept across events)
  std::string notedSource;  // the server of the stored positions
};

Status BinlogPump::runOnce() {
  std::optional<CommitPosition> from;
  std::optional<std::pair<std::string, std::uint64_t>> skip;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    from = start_.resume;
    skip = start_.skipThrough;
    store_.rewind(start_.resumeSequence);  // what the stream produces again is already stored
  }
  auto opened = source_->open(from);
  if (!opened) return opened.status();
  BinlogRun& run = **opened;
  const replica::DumpStart& start = run.start();
  if (!from && start.kind == replica::DumpStart::Kind::kFilePosition) {
    // The first start: recorded, so that a restart produces the same entries again.
    CommitPosition first{start.file, start.position, 0, 0, {}, {}, {}};
    std::lock_guard<std::mutex> lock(mutex_);
    start_.resume = first;
    start_.resumeSequence = store_.producerSequence();
    CANAL_RETURN_IF_ERROR(store_.markResume(encodeResume(first, start_.snapshot)));
  }
  {
    std::lock_guard<std::mutex> lock(runMutex_);
    if (stopping_) return Status::aborted("stopping");
    run_ = &run;
  }
  struct Detach {
    BinlogPump* pump;
    ~Detach() {
      std::lock_guard<std::mutex> lock(pump->runMutex_);
      pump->run_ = nullptr;
    }
  } detach{this};
  ++streamStarts_;

  Run r(run, options_);
  r.from = from;
  r.skip = skip;
  r.notedSource = from ? from->source : std::string();
  CANAL_RETURN_IF_ERROR(prepare(r));
  if (snapshots_ && start.kind == replica::DumpStart::Kind::kFilePosition) {
    // Between transactions at the start: a chunk read now need not wait for the next event.
    auto lock = snapshots_->lockForEvent();
    snapshots_->atPoint(start.file, start.position, false);
  }
  for (;;) {
    waitingSinceMs_.store(options_.clock->coarseWallMs(), std::memory_order_relaxed);
    auto e = run.next();
    waitingSinceMs_.store(0, std::memory_order_relaxed);
    if (!e) return e.status();
    std::unique_lock<std::mutex> gateLock;
    if (snapshots_) gateLock = snapshots_->lockForEvent();
    CANAL_RETURN_IF_ERROR(onEvent(r, *e));
  }
}

Status BinlogPump::prepare(Run& r) {
  const replica::DumpStart& start = r.run.start();
  r.assembler.setTableDefinitions(&r.run.schemas());
  r.assembler.setTransactionEntries(true);
  r.assembler.setSkipUnknownTables(options_.filterTableError);
  r.assembler.setContextEntries(true);
  if (options_.gtidMode) {
    const bool byGtid = start.kind != replica::DumpStart::Kind::kFilePosition;
    CANAL_RETURN_IF_ERROR(r.assembler.setGtidMode(byGtid ? start.gtid : "").withContext("canal.instance.gtidon"));
  }
  r.filterGeneration = filter_.generation() + 1;
  r.gate.emplace(options_.filterTransactionEntry, [this, &r](const convert::ChangeEntry& e) -> Status {
    store::StoredEntry stored;
    r.encoder.encode(e, stored.entry, sequence_.number(store_.producerSequence()));
    stored.rows = static_cast<std::uint32_t>(e.rows.size());
    if (e.kind == convert::EntryKind::kTransactionEnd) transactions_.fetch_add(1, std::memory_order_relaxed);
    stored.position = EntryPosition{e.logfileName, e.logfileOffset, e.executeTime, e.serverId, e.gtid, r.nextPosition};
    stored.isDdl = e.kind == convert::EntryKind::kRowData && e.isDdl;
    stored.ackable = e.kind == convert::EntryKind::kTransactionEnd ||
                     (e.kind == convert::EntryKind::kTransactionBegin && e.gtid.empty()) || stored.isDdl;
    r.ackablePut = r.ackablePut || stored.ackable;
    return store_.put(std::move(stored));
  });
  return Status::ok();
}

void BinlogPump::noteFollowing(const BinlogRun& run) {
  // Said once, not on every retry.
  following_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    streamError_ = Status::ok();
  }
  if (state_.exchange(DestinationState::kFollowing) != DestinationState::kFollowing) {
    moduleLogger("instance")->info("destination {}: following {} from {}", options_.name, run.reading(),
                                   run.start().toString());
  }
}

Status BinlogPump::onEvent(Run& r, const replica::DumpEvent& e) {
  if (!r.reading) {
    r.reading = true;  // the primary accepted the position: following from here
    noteFollowing(r.run);
  }
  const std::int64_t now = options_.clock->coarseWallMs();
  events_.fetch_add(1, std::memory_order_relaxed);
  binlogBytes_.fetch_add(e.raw.bytes.size(), std::memory_order_relaxed);
  const bool heartbeat =
      e.raw.header.type == binlog::kHeartbeatLogEvent || e.raw.header.type == binlog::kHeartbeatLogEventV2;
  if (heartbeat) {
    heartbeats_.fetch_add(1, std::memory_order_relaxed);
    lastHeartbeatMs_.store(now, std::memory_order_relaxed);
  }
  if (e.artificial) {
    if (snapshots_ && heartbeat) snapshots_->atPoint(e.file, e.raw.header.logPos, r.inTransaction);
    return Status::ok();
  }
  lastEventTimeMs_.store(std::int64_t{e.raw.header.timestamp} * 1000, std::memory_order_relaxed);
  lastEventArrivalMs_.store(now, std::memory_order_relaxed);
  if (filter_.generation() != r.filterGeneration) {  // a client subscribed with a new filter
    r.filterGeneration = filter_.generation();
    r.assembler.setTableFilter(filter_.current());
  }
  r.nextPosition = e.nextPosition;
  r.where.assign(e.file).append(":").append(std::to_string(e.raw.offset));
  CANAL_RETURN_IF_ERROR(r.assembler.handleEach(e.raw, r.run.format(), e.file, r.where, r.entry,
                                               [&]() -> Status { return onEntry(r, e); }));
  if (snapshots_) snapshots_->atPoint(e.file, e.nextPosition, r.inTransaction);
  return Status::ok();
}

Status BinlogPump::onEntry(Run& r, const replica::DumpEvent& e) {
  const convert::ChangeEntry& entry = r.entry;
  const bool commit = entry.kind == convert::EntryKind::kTransactionEnd ||
                      (entry.kind == convert::EntryKind::kRowData && entry.isDdl);
  if (snapshots_) {
    // initial_only delivers nothing of the binlog, so no snapshot row is dropped for a change.
    if (!options_.snapshotOnly) snapshots_->noteEntry(entry);
    if (entry.kind == convert::EntryKind::kTransactionBegin) r.inTransaction = true;
    if (commit) r.inTransaction = false;
  }
  if (r.skip && std::make_pair(e.file, e.raw.offset) <= *r.skip) return Status::ok();  // acked before the restart
  if (filteredOut(entry, options_)) return Status::ok();
  if (!options_.snapshotOnly) CANAL_RETURN_IF_ERROR(r.gate->offer(entry));
  return commit ? recordCommit(r) : Status::ok();
}

Status BinlogPump::recordCommit(Run& r) {
  // Everything up to here is in the store (or was dropped by the filters): a run started again
  // (after an error, or a restart with a durable store) goes on from here.
  std::lock_guard<std::mutex> lock(mutex_);
  if (marks_ && r.run.committed().source != r.notedSource && r.ackablePut) {
    // The first position stored from another server: a cursor there is its position.
    r.notedSource = r.run.committed().source;
    marks_->source.note(store_.producerSequence(), r.notedSource);
  }
  r.ackablePut = false;
  start_.resume = r.run.committed();
  start_.resumeSequence = store_.producerSequence();
  start_.skipThrough.reset();
  r.skip.reset();
  if (!store_.keepsResumeMarks()) return Status::ok();
  return store_.markResume(encodeResume(*start_.resume, start_.snapshot));
}

PumpStats BinlogPump::stats() const {
  PumpStats s;
  s.state = state_.load();
  s.events = events_.load(std::memory_order_relaxed);
  s.binlogBytes = binlogBytes_.load(std::memory_order_relaxed);
  s.heartbeats = heartbeats_.load(std::memory_order_relaxed);
  s.transactions = transactions_.load(std::memory_order_relaxed);
  s.streamStarts = streamStarts_.load(std::memory_order_relaxed);
  s.streamFailures = streamFailures_.load(std::memory_order_relaxed);
  s.lastEventTimeMs = lastEventTimeMs_.load(std::memory_order_relaxed);
  s.lastEventArrivalMs = lastEventArrivalMs_.load(std::memory_order_relaxed);
  s.lastHeartbeatMs = lastHeartbeatMs_.load(std::memory_order_relaxed);
  s.waitingSinceMs = waitingSinceMs_.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s.lastError = streamError_;
    s.lastErrorTimeMs = streamErrorTimeMs_;
    s.position = start_.resume;
  }
  // A link that dropped shows at once, not only when the run gives up.
  std::lock_guard<std::mutex> lock(runMutex_);
  if (run_) {
    s.reading = run_->reading();
    s.notices = run_->notices();
  }
  if (run_ && s.state == DestinationState::kFollowing) {
    std::int64_t since = 0;
    if (Status link = run_->linkError(&since); !link.isOk()) {
      s.state = DestinationState::kRetrying;
      s.lastError = std::move(link);
      s.lastErrorTimeMs = since;
    }
  }
  return s;
}

}  // namespace canal::instance
