#include "server/instance/destination.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <utility>

#include "server/common/clock.h"
#include "server/common/logging.h"

namespace canal::instance {

Result<std::unique_ptr<Destination>> Destination::create(DestinationOptions options,
                                                         std::unique_ptr<store::EventStore> store,
                                                         std::unique_ptr<meta::MetaStore> meta,
                                                         std::unique_ptr<BinlogSource> source,
                                                         const meta::DestinationMeta& stored) {
  const std::string context = "destination " + options.name;
  if (!options.snapshotWatermarkTable.empty()) {
    // The snapshot's own writes are not the application's changes.
    std::string& black = options.tableFilter.blackRegex;
    std::string escaped;
    for (const char c : options.snapshotWatermarkTable) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') escaped.push_back('\\');
      escaped.push_back(c);
    }
    black += (black.empty() ? "" : ",") + escaped;
  }
  auto filter = ActiveFilter::create(options.tableFilter);
  if (!filter) return filter.status().withContext(context);
  options.pump.name = options.name;
  options.pump.gtidMode = options.start.gtidMode;
  std::unique_ptr<Destination> d(new Destination(std::move(options), std::move(*filter), std::move(store)));
  const DestinationOptions& o = d->options_;
  auto log = moduleLogger("instance");

  PumpStart start;
  if (const auto& mark = d->store_->recoveredResume()) {
    start.resume = decodeResume(mark->data, &start.snapshot);
    if (!start.resume) return Status::corruption(o.storeDir, "the stored resume position is unreadable");
    start.resumeSequence = mark->sequence;
    d->store_->rewind(mark->sequence);
    log->info("destination {}: {} unacked entries in the store; the stream resumes at {}:{}", o.name,
              d->store_->putSequence() - d->store_->ackSequence(), start.resume->file, start.resume->position);
  }
  const meta::ClientMeta* lowest = meta::lowestCursor(stored);
  if (!start.resume && lowest) {
    const EntryPosition& p = lowest->cursor->position;
    start.resume = CommitPosition{p.journalName, p.position, static_cast<std::uint32_t>(p.timestamp / 1000),
                                  p.serverId, {}, {},
                                  lowest->cursor->sourceHost + ":" + std::to_string(lowest->cursor->sourcePort)};
    start.skipThrough = std::max(std::make_pair(lowest->cursor->ackedThroughFile, lowest->cursor->ackedThroughOffset),
                                 std::make_pair(p.journalName, p.position));
    start.snapshot = lowest->cursor->snapshot;
    log->info("destination {}: starting from the lowest client cursor {}:{}", o.name, p.journalName, p.position);
  }

  // A new epoch of the stream sequence, recorded before anything is produced under it.
  std::uint64_t recordedEpoch = 0;
  if (meta) {
    auto loaded = meta->loadEpoch();
    if (!loaded) return loaded.status().withContext(context + ": the stream epoch");
    recordedEpoch = *loaded;
  }
  start.epoch = StreamSequence::nextEpoch(recordedEpoch, static_cast<std::uint64_t>(wallClockMs() / 1000));
  if (meta) CANAL_RETURN_IF_ERROR(meta->recordEpoch(start.epoch).withContext(context + ": the stream epoch"));
  d->startedWithoutPosition_ = !start.resume;
  d->recoveredSnapshot_ = start.snapshot;
  d->clients_ = std::make_unique<DestinationClients>(o.name, o.master.host, o.master.port, *d->store_, *d->filter_,
                                                     std::move(meta));
  CANAL_RETURN_IF_ERROR(d->clients_->restore(stored).withContext(context));
  d->pump_ = std::make_unique<BinlogPump>(o.pump, std::move(source), *d->store_, *d->filter_, std::move(start));
  d->pump_->setSnapshotGate(&d->snapshots_, &d->marks_);
  d->clients_->setMarks(&d->marks_);
  return d;
}

Destination::Destination(DestinationOptions options, std::unique_ptr<ActiveFilter> filter,
                         std::unique_ptr<store::EventStore> store)
    : options_(std::move(options)), filter_(std::move(filter)), store_(std::move(store)) {}

Destination::~Destination() { stop(); }

void Destination::start() {
  if (clients_->running()) return;
  clients_->open();
  pump_->start();
}

void Destination::stop() {
  if (!clients_ || !clients_->running()) return;
  clients_->close();
  pump_->stop();
  moduleLogger("instance")->info("destination {}: stopped", options_.name);
}

DestinationStats Destination::stats() const {
  DestinationStats s;
  static_cast<PumpStats&>(s) = pump_->stats();
  s.name = options_.name;
  s.primary = pump_->primary();
  s.heartbeatPeriodMs = std::int64_t{options_.dump.heartbeatSeconds} * 1000;
  s.store = store_->stats();
  s.clients = clients_->clientStats();
  s.traffic = clients_->traffic();
  return s;
}

std::shared_ptr<ClientSessions> sessionsOf(const std::shared_ptr<Destination>& d) {
  if (!d) return nullptr;
  return std::shared_ptr<ClientSessions>(d, &d->clients());
}

}  // namespace canal::instance
