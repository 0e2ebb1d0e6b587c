#pragma once

// The producing half of a destination: reads runs of the primary's binlog from a BinlogSource,
// turns each event into Canal entries (docs/entries.md), drops what the filters and the
// transaction gate drop, and puts the rest into the event store. After every transaction it
// records where a restarted stream goes on (the resume mark, kept in a durable store's journal).
// A run stopped by an error (a lost primary, a purged binlog) is started again after the retry
// interval from the last transaction stored, never jumping ahead; the error stays visible until a
// run gets going again.
// Thread contract: start() and stop() from one thread; the figures from any thread. The pump's
// own thread is the only one that reads the source and puts into the store.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "server/common/clock.h"
#include "server/common/position.h"
#include "server/common/status.h"
#include "server/convert/value_text.h"
#include "server/instance/active_filter.h"
#include "server/instance/binlog_source.h"
#include "server/instance/snapshot_gate.h"
#include "server/instance/stream_marks.h"
#include "server/instance/stream_sequence.h"
#include "server/store/event_store.h"

namespace canal::instance {

struct PumpOptions {
  std::string name;
  convert::RenderOptions render;
  bool gtidMode = false;        // canal.instance.gtidon: GTIDs in entry headers and positions
  bool filterDmlInsert = false;  // canal.instance.filter.dml.*: drop those row changes
  bool filterDmlUpdate = false;
  bool filterDmlDelete = false;
  bool filterQueryDdl = false;   // .query.ddl: no DDL entries
  bool filterQueryDml = false;   // .query.dml: no statement-format DML entries
  bool filterQueryDcl = false;   // .query.dcl: no other QUERY entries
  bool filterRows = false;       // .rows: no row entries at all (DDL only)
  bool filterTableError = false;  // .table.error: skip rows of tables the primary does not know
  // .transaction.entry: no BEGIN/END entries, except one pair every 5 s (binlog time) so that
  // acks keep moving the cursor.
  bool filterTransactionEntry = false;
  std::chrono::milliseconds retryInterval{5000};  // between a failed run and the next
  // canal.instance.snapshot.mode = initial_only: the stream carries snapshot rows only (the
  // binlog is still followed, for the snapshot's watermarks).
  bool snapshotOnly = false;
  // Where the figures' times come from (it outlives the pump).
  const Clock* clock = &Clock::system();
};

// Where a destination is: kStarting until the stream reads from its start, kFollowing while it
// reads the primary, kRetrying while its link is down or after an error until a new run reads
// again, kStuck when the primary refuses the position itself (purged or invalid: retrying cannot
// help until someone resets it), kStopped.
enum class DestinationState { kStarting, kFollowing, kRetrying, kStuck, kStopped };
const char* stateName(DestinationState state);

// Where the pump starts: after the last transaction in a durable store (its resume mark), or
// after a client cursor when only the meta survived.
struct PumpStart {
  std::optional<CommitPosition> resume;
  std::uint64_t resumeSequence = 0;  // the store's producer sequence at `resume`
  // Entries of events up to this file/offset were acked and are not delivered again.
  std::optional<std::pair<std::string, std::uint64_t>> skipThrough;
  std::string snapshot;  // the progress of a snapshot the store holds chunks of (opaque)
  std::uint64_t epoch = 0;  // of this start's stream sequence (StreamSequence)
};

// The stream's figures; times are wall-clock milliseconds (0: never).
struct PumpStats {
  DestinationState state = DestinationState::kStopped;
  Status lastError;
  std::int64_t lastErrorTimeMs = 0;
  std::optional<CommitPosition> position;  // after the last transaction stored
  std::uint64_t events = 0;                // read from the primary, heartbeats included
  std::uint64_t binlogBytes = 0;
  std::uint64_t heartbeats = 0;
  std::uint64_t transactions = 0;  // TRANSACTIONEND entries stored
  std::uint64_t streamStarts = 0;
  std::uint64_t streamFailures = 0;  // runs ended by an error (each is retried)
  std::int64_t lastEventTimeMs = 0;     // binlog time of the newest event read (second resolution)
  std::int64_t lastEventArrivalMs = 0;  // when it was read
  std::int64_t lastHeartbeatMs = 0;     // when the last heartbeat was read
  std::int64_t waitingSinceMs = 0;      // the stream waits for the primary since then (0: it is not)
  std::string reading;                  // host:port of the server read now ("" between runs)
  std::vector<replica::StreamNotice> notices;  // what changed where the stream reads, oldest first
};

// The resume mark's bytes (what a durable store keeps for the pump), with the running snapshot's
// progress when there is one; nullopt when unreadable.
std::string encodeResume(const CommitPosition& p, const std::string& snapshot = {});
std::optional<CommitPosition> decodeResume(std::string_view bytes, std::string* snapshot = nullptr);

class BinlogPump {
 public:
  // `store` and `filter` outlive the pump.
  BinlogPump(PumpOptions options, std::unique_ptr<BinlogSource> source, store::EventStore& store,
             ActiveFilter& filter, PumpStart start);
  ~BinlogPump();

  // Snapshot chunks are put between the stream's transactions through `gate`, and the store
  // sequence after each noted in `marks` with the progress; the first transaction read from
  // another server is noted there too (set before start; both outlive the pump).
  void setSnapshotGate(SnapshotGate* gate, StreamMarks* marks);
  // Starts following the primary on a thread of its own.
  void start();
  // Stops the store, cancels the run and joins the thread.
  void stop();
  // True once a run has read from where it starts (rows committed from then on arrive).
  bool following() const { return following_; }
  // The error that stopped the last run, if one did.
  Status streamError() const;
  std::string primary() const { return source_->primary(); }
  PumpStats stats() const;

 private:
  struct Run;
  void produce();
  // One run of the binlog: opened after the last transaction stored, read until it fails.
  Status runOnce();
  Status prepare(Run& r);  // the assembler and the gate of the run
  void noteFollowing(const BinlogRun& run);
  // An event: counted, then decoded into entries (the dump's own events only counted).
  Status onEvent(Run& r, const replica::DumpEvent& e);
  // An entry: shown to the snapshot gate, filtered, put; at a commit, the resume point moves.
  Status onEntry(Run& r, const replica::DumpEvent& e);
  Status recordCommit(Run& r);

  const PumpOptions options_;
  const std::unique_ptr<BinlogSource> source_;
  store::EventStore& store_;
  ActiveFilter& filter_;
  std::atomic<bool> following_{false};
  std::atomic<DestinationState> state_{DestinationState::kStopped};
  // Figures of the stream, written by the pump's thread only.
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> binlogBytes_{0};
  std::atomic<std::uint64_t> heartbeats_{0};
  std::atomic<std::uint64_t> transactions_{0};
  std::atomic<std::uint64_t> streamStarts_{0};
  std::atomic<std::uint64_t> streamFailures_{0};
  std::atomic<std::int64_t> lastEventTimeMs_{0};
  std::atomic<std::int64_t> lastEventArrivalMs_{0};
  std::atomic<std::int64_t> lastHeartbeatMs_{0};
  std::atomic<std::int64_t> waitingSinceMs_{0};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex runMutex_;  // guards run_ against stop() and stats(); the retry wait
  std::condition_variable stopped_;
  BinlogRun* run_ = nullptr;
  mutable std::mutex mutex_;  // streamError_, start_
  Status streamError_;
  std::int64_t streamErrorTimeMs_ = 0;
  PumpStart start_;  // resume advances after every transaction put in the store
  SnapshotGate* snapshots_ = nullptr;
  StreamMarks* marks_ = nullptr;
  StreamSequence sequence_;  // numbers every entry put (one producer at a time)
};

}  // namespace canal::instance
