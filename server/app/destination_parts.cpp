#include "server/app/destination_parts.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <utility>

#include "server/common/logging.h"
#include "server/common/position.h"
#include "server/replica/replica_stream.h"
#include "server/replica/start_position.h"
#include "server/schema/schema_cache.h"
#include "server/schema/schema_history.h"
#include "server/store/rocksdb_journal.h"

namespace canal::app {
namespace {

// The server a destination's runs read: 0 the primary, 1 the standby. A run started again after
// an error goes on where the last one was reading (its positions are that server's).
using Followed = std::shared_ptr<std::atomic<std::size_t>>;

class ReplicaRun final : public instance::BinlogRun {
 public:
  ReplicaRun(const instance::DestinationOptions& o, replica::DumpStart start, Followed followed)
      : start_(std::move(start)),
        followed_(std::move(followed)),
        stream_(o.master, o.dump, start_, o.reconnect),
        cache_(*followed_ == 1 && o.standby ? *o.standby : o.master) {
    if (o.standby) stream_.addStandby(*o.standby);
    stream_.startAt(*followed_);
    if (o.detecting) stream_.enableDetecting(*o.detecting);
    stream_.watchBinlog(o.binlogCheckInterval);
  }
  ~ReplicaRun() override { *followed_ = stream_.currentAddress(); }

  // Reads the table definitions at the start (replaying the history when there is one).
  Status loadSchemas(const std::string& historyPath) {
    if (historyPath.empty() || start_.kind != replica::DumpStart::Kind::kFilePosition) return cache_.start();
    auto opened = schema::SchemaHistory::open(historyPath);
    if (!opened) return opened.status();
    history_.emplace(std::move(*opened));
    return cache_.start(*history_, schema::SchemaPosition{start_.file, start_.position});
  }

  const replica::DumpStart& start() const override { return start_; }
  Result<replica::DumpEvent> next() override { return stream_.next(); }
  const binlog::FormatDescription& format() const override { return stream_.format(); }
  const CommitPosition& committed() const override { return stream_.committed(); }
  schema::SchemaCache& schemas() override { return cache_; }
  Status linkError(std::int64_t* sinceMs) const override { return stream_.linkError(sinceMs); }
  std::string reading() const override { return stream_.reading(); }
  std::vector<replica::StreamNotice> notices() const override { return stream_.notices(); }
  void cancel() override { stream_.cancel(); }

 private:
  const replica::DumpStart start_;
  const Followed followed_;
  replica::ReplicaStream stream_;
  std::optional<schema::SchemaHistory> history_;  // before cache_, which keeps a reference
  schema::SchemaCache cache_;
};

class ReplicaSource final : public instance::BinlogSource {
 public:
  explicit ReplicaSource(instance::DestinationOptions options) : options_(std::move(options)) {}

  std::string primary() const override { return address(options_.master); }

  Result<std::unique_ptr<instance::BinlogRun>> open(const std::optional<CommitPosition>& from) override {
    // A position is read on the server whose binlog it is in: after a switch to the standby
    // (and a restart), the standby's, whatever the process followed before.
    if (from && !from->source.empty()) {
      if (options_.standby && from->source == address(*options_.standby)) {
        *followed_ = 1;
      } else if (from->source == address(options_.master)) {
        *followed_ = 0;
      } else if (warnedSource_ != from->source) {
        warnedSource_ = from->source;
        moduleLogger("instance")->warn(
            "destination {}: the position {}:{} was recorded on {}, which is neither the primary {} nor the standby; "
            "reading it on {}",
            options_.name, from->file, from->position, from->source, address(options_.master),
            *followed_ == 1 && options_.standby ? address(*options_.standby) : address(options_.master));
      }
    }
    const bool onStandby = *followed_ == 1 && options_.standby;
    auto start = replica::chooseStart(onStandby ? *options_.standby : options_.master, from, options_.start);
    if (!start) return start.status().withContext("choosing the start position");
    auto run = std::make_unique<ReplicaRun>(options_, std::move(*start), followed_);
    CANAL_RETURN_IF_ERROR(run->loadSchemas(options_.schemaHistoryPath));
    return std::unique_ptr<instance::BinlogRun>(std::move(run));
  }

 private:
  static std::string address(const mysql::ConnectOptions& c) { return c.host + ":" + std::to_string(c.port); }

  const instance::DestinationOptions options_;
  const Followed followed_ = std::make_shared<std::atomic<std::size_t>>(0);
  std::string warnedSource_;
};

Result<std::unique_ptr<store::EventStore>> openStore(const instance::DestinationOptions& options,
                                                     const meta::DestinationMeta& stored, bool durableMeta,
                                                     bool sharedMeta) {
  if (options.storeDir.empty()) return std::make_unique<store::EventStore>(options.store);
  // With a durable meta, the cursor there is what an ack promises: the journal's copy of it is
  // not synced (that would force every entry before it to disk), and a store that came back
  // behind the meta's cursor is not used.
  const bool syncAcks = !durableMeta;
  store::RecoveredStore recovered;
  auto journal = store::RocksDbJournal::open(options.storeDir, recovered, syncAcks);
  if (!journal) return journal.status();
  if (durableMeta) {
    const meta::ClientMeta* lowest = meta::lowestCursor(stored);
    const auto& acked = recovered.ackPosition;
    // The meta's lowest cursor against the store's ack cursor (-1, 0, 1).
    const auto order = [&] {
      const EntryPosition& m = lowest->cursor->position;
      return compareBinlogPoints(m.journalName, m.position, acked->journalName, acked->position);
    };
    bool current = true;
    if (sharedMeta) {
      // Another server may have run the destination since this store was written: it is only
      // used when its ack cursor is where the shared cursors are.
      current = lowest ? acked && order() == 0 : !acked && recovered.ackSequence == 0;
    } else if (lowest) {
      // meta.dat is written before the store on every ack: a store behind it, or with no ack
      // position at all, lost its last writes (a power loss) and would hand out again what was
      // acked. One ahead of it is the newer record (meta.dat flushed periodically). A store that
      // holds nothing and marks no resume point has nothing to hand out: it is used.
      const bool pristine = !acked && recovered.ackSequence == 0 && recovered.entries.empty() && !recovered.resume;
      current = pristine || (acked && order() <= 0);
    }
    if (!current) {
      moduleLogger("instance")->info("destination {}: the local store is behind the {} cursor; starting it afresh",
                                     options.name, sharedMeta ? "shared" : "meta.dat");
      journal->reset();
      CANAL_RETURN_IF_ERROR(store::RocksDbJournal::destroy(options.storeDir));
      journal = store::RocksDbJournal::open(options.storeDir, recovered, syncAcks);
      if (!journal) return journal.status();
    }
  }
  return std::make_unique<store::EventStore>(options.store, std::move(*journal), std::move(recovered));
}

}  // namespace

std::unique_ptr<instance::BinlogSource> replicaSource(const instance::DestinationOptions& options) {
  return std::make_unique<ReplicaSource>(options);
}

Result<std::unique_ptr<instance::Destination>> makeDestination(instance::DestinationOptions options,
                                                               std::unique_ptr<meta::MetaStore> meta) {
  const std::string context = "destination " + options.name;
  meta::DestinationMeta stored{options.name, {}};
  if (meta) {
    auto loaded = meta->load();
    if (!loaded) return loaded.status().withContext(context);
    stored = std::move(*loaded);
  }
  auto store = openStore(options, stored, meta != nullptr, meta && meta->shared());
  if (!store) return store.status().withContext(context);
  auto source = replicaSource(options);
  return instance::Destination::create(std::move(options), std::move(*store), std::move(meta), std::move(source),
                                       stored);
}

}  // namespace canal::app
