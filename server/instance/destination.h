#pragma once

// One destination (Canal's "instance"): a replica stream from the primary, turned into Canal
// entries and kept in an event store, and the consumer side Canal's embedded server offers
// clients — subscribe, getWithoutAck, ack, rollback — with its batch-id rules and its error
// texts (canal-protocol.md sections 5 and 10). A stream stopped by an error (a purged binlog) is
// started again every 5 s from the last transaction put in the store, logging the error each
// time.
//
// Modes (canal-server-ops.md section 2): without `storeDir` and MetaStore everything is in
// memory. With `storeDir` the store is journaled in RocksDB: after a restart the unacknowledged
// entries are served from it and the stream resumes after the last transaction stored, without
// re-reading what the store holds. A MetaStore (meta.dat or ZooKeeper) keeps subscriptions,
// filters and cursors; a destination without a stored resume point starts from the lowest
// client cursor it holds (the acked event itself is not delivered again).
// Thread contract: all public methods are thread-safe; subscribe, unsubscribe, ack and rollback
// may write to disk or ZooKeeper.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/common/histogram.h"
#include "server/common/status.h"
#include "server/convert/table_filter.h"
#include "server/convert/value_text.h"
#include "server/meta/meta_store.h"
#include "server/mysql/mysql_connection.h"
#include "server/replica/binlog_dump.h"
#include "server/replica/replica_stream.h"
#include "server/replica/start_position.h"
#include "server/store/event_store.h"

namespace canal::instance {

struct DestinationOptions {
  std::string name;
  mysql::ConnectOptions master;
  std::optional<mysql::ConnectOptions> standby;
  replica::DumpOptions dump;
  replica::ConfiguredStart start;
  replica::ReconnectPolicy reconnect;
  std::optional<replica::DetectingOptions> detecting;
  store::StoreOptions store;
  std::string storeDir;  // RocksDB directory of the durable store; empty: memory only
  convert::RenderOptions render;
  std::string schemaHistoryPath;  // empty: definitions are not kept across restarts
  // canal.instance.filter.regex / black.regex / field / black.field. A client subscribing
  // with a filter replaces the regex (white list) for the whole destination.
  convert::TableFilterSpec tableFilter;
  // canal.instance.filter.dml.insert / update / delete: drop those row changes.
  bool filterDmlInsert = false;
  bool filterDmlUpdate = false;
  bool filterDmlDelete = false;
  bool filterQueryDdl = false;  // canal.instance.filter.query.ddl: no DDL entries
  bool filterQueryDml = false;  // .query.dml: no statement-format DML entries
  bool filterQueryDcl = false;  // .query.dcl: no other QUERY entries
  bool filterRows = false;      // .rows: no row entries at all (DDL only)
  bool filterTableError = false;  // .table.error: skip rows of tables the primary does not know
  // .transaction.entry: no BEGIN/END entries, except one pair every 5 s (binlog time) so
  // that acks keep moving the cursor.
  bool filterTransactionEntry = false;
};

// A batch as a client receives it: id -1 and no entries when nothing was there.
struct ClientBatch {
  std::int64_t id = -1;
  std::vector<std::string> entries;  // serialized Entry each
};

// Where a destination is: kStarting until the stream has chosen its start, kFollowing while it
// reads the primary, kRetrying after an error until the stream is started again, kStopped.
enum class DestinationState { kStarting, kFollowing, kRetrying, kStopped };
const char* stateName(DestinationState state);

// Latency buckets (seconds) of client requests: Canal's 2.5, 10, 25, 100 ms and finer ones.
std::vector<double> requestLatencyBounds();

// Client requests as the network layer reports them (Canal's canal_instance_client_* metrics).
struct ClientTrafficStats {
  std::map<std::string, std::uint64_t> packets;  // by packet type; GET counts non-empty batches
  std::uint64_t bytes = 0;                       // sent, frame headers included
  std::uint64_t emptyBatches = 0;
  std::map<int, std::uint64_t> errors;           // error replies by code
  Histogram latency{requestLatencyBounds()};
};

struct ClientStats {
  std::int16_t clientId = 0;
  std::string filter;
  std::size_t unackedBatches = 0;
  std::optional<store::EntryPosition> cursor;
  Histogram getLatency{requestLatencyBounds()};  // getWithoutAck, waiting excluded
  Histogram ackLatency{requestLatencyBounds()};  // ack, meta write included
};

// A destination's figures at one moment; times are wall-clock milliseconds (0: never).
struct DestinationStats {
  std::string name;
  DestinationState state = DestinationState::kStopped;
  std::string primary;  // host:port the stream reads
  Status lastError;
  std::int64_t lastErrorTimeMs = 0;
  std::optional<replica::CommitPosition> position;  // after the last transaction stored
  std::uint64_t events = 0;       // read from the primary, heartbeats included
  std::uint64_t binlogBytes = 0;
  std::uint64_t heartbeats = 0;
  std::uint64_t transactions = 0;  // TRANSACTIONEND entries stored
  std::uint64_t streamStarts = 0;
  std::int64_t lastEventTimeMs = 0;     // binlog time of the newest event read (second resolution)
  std::int64_t lastEventArrivalMs = 0;  // when it was read
  std::int64_t lastHeartbeatMs = 0;     // when the last heartbeat was read
  std::int64_t waitingSinceMs = 0;      // the stream waits for the primary since then (0: it is not)
  std::int64_t heartbeatPeriodMs = 0;   // what the primary was asked for
  std::vector<ClientStats> clients;
  ClientTrafficStats traffic;
  store::StoreStats store;
};

class Destination {
 public:
  // Fails when the configured filters do not compile, the durable store cannot be opened or the
  // meta cannot be read (errors name the file or directory).
  static Result<std::unique_ptr<Destination>> create(DestinationOptions options,
                                                     std::unique_ptr<meta::MetaStore> meta = nullptr);
  ~Destination();

  const std::string& name() const { return options_.name; }
  // Starts following the primary on a thread of its own.
  void start();
  void stop();
  bool running() const { return running_; }
  // True once the stream has chosen where it starts (rows committed from then on arrive).
  bool following() const { return following_; }
  // The error that stopped the stream, if one did (a purged binlog, a schema mismatch...).
  Status streamError() const;

  // Canal's client operations; errors carry Canal's exception texts.
  Status subscribe(std::int16_t clientId, const std::string& filter);
  Status unsubscribe(std::int16_t clientId);
  // With `render` set, the entries are handed to it while the store holds them (see
  // EventStore::get) and ClientBatch::entries stays empty; otherwise they are copied there.
  Result<ClientBatch> getWithoutAck(std::int16_t clientId, std::int64_t fetchSize, store::GetWait wait,
                                    const store::EventStore::BatchVisitor& render = {});
  Status ack(std::int16_t clientId, std::int64_t batchId);
  // ack() in two steps, for a caller that serves gets while acks are written: takeForAck()
  // checks the batch (Canal's errors) and sets it aside at once; commitAcks() records the cursor
  // and releases the store for every batch set aside, with one meta write and one synced journal
  // write. When that fails, these batches and any set aside meanwhile are the client's
  // unacknowledged ones again.
  Status takeForAck(std::int16_t clientId, std::int64_t batchId);
  Status commitAcks(std::int16_t clientId);
  Status rollback(std::int16_t clientId, std::int64_t batchId);

  // The table filter in force (the configured one, or the last client's subscribe filter).
  std::shared_ptr<const convert::TableFilter> tableFilter() const;

  DestinationStats stats() const;
  // Counts one client request handled by the network layer: `packetType` is Canal's name
  // (GET, SUBSCRIPTION, ...), `errorCode` 0 for success.
  void recordRequest(const std::string& packetType, std::chrono::nanoseconds latency, std::size_t bytesSent,
                     int errorCode, bool emptyBatch);

  // The position of the last acked batch of `clientId`.
  std::optional<store::EntryPosition> cursor(std::int16_t clientId) const;
  store::EventStore& store() { return *store_; }

 private:
  struct Batch {
    std::uint64_t end = 0;
    std::optional<store::EntryPosition> ackPosition;
    std::pair<std::string, std::uint64_t> last;  // binlog file and offset of the last entry
  };
  struct Client {
    std::string filter;
    std::int64_t nextBatchId = 1;
    std::map<std::int64_t, Batch> batches;
    std::optional<store::EntryPosition> cursor;
    std::pair<std::string, std::uint64_t> ackedThrough;  // the last entry acked
    std::vector<std::pair<std::int64_t, Batch>> acking;  // taken for ack, not committed yet
    std::chrono::steady_clock::time_point ackingSince;
    Histogram getLatency{requestLatencyBounds()};
    Histogram ackLatency{requestLatencyBounds()};
  };
  Destination(DestinationOptions options, std::shared_ptr<const convert::TableFilter> filter,
              std::unique_ptr<store::EventStore> store, std::unique_ptr<meta::MetaStore> meta);
  // Takes up the store's resume mark and the stored subscriptions, filters and cursors.
  Status restore(const meta::DestinationMeta& stored);
  void produce();
  Status runStream(const std::optional<replica::CommitPosition>& from);
  std::string identity(std::int16_t clientId) const;
  Status checkRunning() const;
  Status replaceFilterLocked(const std::string& filter);
  meta::DestinationMeta metaLocked() const;
  Status recordLocked(meta::MetaChange::Kind kind, std::int16_t clientId);

  const DestinationOptions options_;
  const std::unique_ptr<store::EventStore> store_;
  const std::unique_ptr<meta::MetaStore> meta_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> following_{false};
  std::atomic<DestinationState> state_{DestinationState::kStopped};
  // Figures of the stream, written by the producer thread only.
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> binlogBytes_{0};
  std::atomic<std::uint64_t> heartbeats_{0};
  std::atomic<std::uint64_t> transactions_{0};
  std::atomic<std::uint64_t> streamStarts_{0};
  std::atomic<std::int64_t> lastEventTimeMs_{0};
  std::atomic<std::int64_t> lastEventArrivalMs_{0};
  std::atomic<std::int64_t> lastHeartbeatMs_{0};
  std::atomic<std::int64_t> waitingSinceMs_{0};
  mutable std::mutex trafficMutex_;
  ClientTrafficStats traffic_;
  std::thread producer_;
  std::mutex streamMutex_;  // guards stream_ against stop()
  replica::ReplicaStream* stream_ = nullptr;
  std::mutex metaMutex_;      // serializes meta writes (subscriptions, acks); taken before mutex_
  mutable std::mutex mutex_;  // clients_, streamError_, resume_
  std::map<std::int16_t, Client> clients_;
  Status streamError_;
  std::int64_t streamErrorTimeMs_ = 0;
  std::optional<replica::CommitPosition> resume_;  // after the last transaction put in the store
  std::uint64_t resumeSequence_ = 0;               // the store's producer sequence at resume_
  // Starting from a client cursor: entries of events up to this file/offset were acked and are
  // not delivered again.
  std::optional<std::pair<std::string, std::uint64_t>> skipAt_;
  std::shared_ptr<const convert::TableFilter> filter_;
  std::atomic<std::uint64_t> filterGeneration_{0};
};

}  // namespace canal::instance
