#pragma once

// One destination (Canal's "instance"), in two halves over one event store: the BinlogPump
// (primary -> entries -> store) and the DestinationClients (subscribe, get, ack, rollback ->
// meta). The store, the meta and the binlog source are made by the composition root and handed
// in; this class restores both halves from what they kept and starts and stops them together.
//
// Modes (docs/configuration.md, "Instance modes"): with a plain EventStore and no MetaStore
// everything is in memory. With a journaled store, after a restart the unacknowledged entries are
// served from it and the stream resumes after the last transaction stored, without re-reading
// what the store holds. A MetaStore (meta.dat or ZooKeeper) keeps subscriptions, filters and
// cursors; a destination without a stored resume point starts from the lowest client cursor it
// holds (the acked event itself is not delivered again).
// Thread contract: start() and stop() from one thread; everything else from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/convert/table_filter.h"
#include "server/convert/value_text.h"
#include "server/instance/active_filter.h"
#include "server/instance/binlog_pump.h"
#include "server/instance/binlog_source.h"
#include "server/instance/destination_clients.h"
#include "server/meta/meta_store.h"
#include "server/mysql/mysql_connection.h"
#include "server/replica/binlog_dump.h"
#include "server/replica/replica_stream.h"
#include "server/replica/start_position.h"
#include "server/store/event_store.h"

namespace canal::instance {

// A destination's configuration, as the server's configuration gives it.
struct DestinationOptions {
  std::string name;
  mysql::ConnectOptions master;
  std::optional<mysql::ConnectOptions> standby;
  replica::DumpOptions dump;
  replica::ConfiguredStart start;
  replica::ReconnectPolicy reconnect;
  std::optional<replica::DetectingOptions> detecting;
  // How often the server read is checked for a binlog started again (RESET MASTER).
  std::chrono::milliseconds binlogCheckInterval{2000};
  store::StoreOptions store;
  std::string storeDir;  // RocksDB directory of the durable store; empty: memory only
  std::string schemaHistoryPath;  // empty: definitions are not kept across restarts
  // canal.instance.filter.regex / black.regex / field / black.field. A client subscribing
  // with a filter replaces the regex (white list) for the whole destination.
  convert::TableFilterSpec tableFilter;
  PumpOptions pump;  // rendering, the other filters, the retry interval (name is set from `name`)
  // canal.instance.snapshot.*: the existing rows of `snapshotTables` (a Canal regex; empty: the
  // table filter) first, when the destination starts without a stored position.
  bool initialSnapshot = false;
  std::string snapshotTables;
  std::size_t snapshotChunkSize = 4096;
  std::uint64_t snapshotRowsPerSecond = 0;
  std::size_t snapshotParallel = 1;  // chunks read at once (canal.instance.snapshot.parallel)
  // canal.instance.snapshot.watermark.table ("database.table", empty: none): written before each
  // chunk; its changes are left out of the stream.
  std::string snapshotWatermarkTable;
};

// A destination's figures at one moment; times are wall-clock milliseconds (0: never).
struct DestinationStats : PumpStats {
  std::string name;
  std::string primary;  // host:port the stream reads
  std::int64_t heartbeatPeriodMs = 0;  // what the primary was asked for
  std::vector<ClientStats> clients;
  ClientTrafficStats traffic;
  store::StoreStats store;
};

class Destination {
 public:
  // `store` holds what a durable journal kept (its resume mark, unacked entries); `stored` is
  // what `meta` (may be null: memory mode) held, and `source` is where the pump reads the binlog.
  // Fails when the filters do not compile or the resume mark cannot be read.
  static Result<std::unique_ptr<Destination>> create(DestinationOptions options, std::unique_ptr<store::EventStore> store,
                                                     std::unique_ptr<meta::MetaStore> meta,
                                                     std::unique_ptr<BinlogSource> source,
                                                     const meta::DestinationMeta& stored);
  ~Destination();

  const std::string& name() const { return options_.name; }
  // Starts following the primary and serving clients.
  void start();
  void stop();
  bool running() const { return clients_->running(); }
  // True once the stream has chosen where it starts (rows committed from then on arrive).
  bool following() const { return pump_->following(); }
  // The error that stopped the stream, if one did (a purged binlog, a schema mismatch...).
  Status streamError() const { return pump_->streamError(); }
  // True when nothing told where to start (no store journal, no client cursor).
  bool startedWithoutPosition() const { return startedWithoutPosition_; }
  // The progress of a snapshot that was running when the destination stopped, as the store's
  // journal kept it (empty: none).
  const std::string& recoveredSnapshot() const { return recoveredSnapshot_; }

  DestinationClients& clients() { return *clients_; }
  store::EventStore& store() { return *store_; }
  // Where snapshot chunks enter the stream.
  SnapshotGate& snapshots() { return snapshots_; }
  const DestinationOptions& options() const { return options_; }
  // The table filter in force (the configured one, or the last client's subscribe filter).
  std::shared_ptr<const convert::TableFilter> tableFilter() const { return filter_->current(); }
  DestinationStats stats() const;

 private:
  Destination(DestinationOptions options, std::unique_ptr<ActiveFilter> filter, std::unique_ptr<store::EventStore> store);

  const DestinationOptions options_;
  // Declared in the order they are built; the halves refer to the store and the filter.
  const std::unique_ptr<ActiveFilter> filter_;
  const std::unique_ptr<store::EventStore> store_;
  StreamMarks marks_;  // written by the pump, read by the clients
  std::unique_ptr<DestinationClients> clients_;
  SnapshotGate snapshots_;
  bool startedWithoutPosition_ = false;
  std::string recoveredSnapshot_;
  std::unique_ptr<BinlogPump> pump_;
};

// The client sessions of `d`, keeping the destination alive as long as they are held; null for null.
std::shared_ptr<ClientSessions> sessionsOf(const std::shared_ptr<Destination>& d);

}  // namespace canal::instance
