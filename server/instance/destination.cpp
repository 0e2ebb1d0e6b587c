#include "server/instance/destination.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "server/common/logging.h"
#include "server/convert/binlog_changes.h"
#include "server/convert/entry_encoder.h"
#include "server/schema/schema_cache.h"
#include "server/schema/schema_history.h"

namespace canal::instance {
namespace {

bool filteredOut(const convert::ChangeEntry& e, const DestinationOptions& o) {
  if (e.kind != convert::EntryKind::kRowData) return false;
  if (!e.columns) return e.isDdl && o.filterQueryDdl;
  switch (e.type) {
    case convert::ChangeType::kInsert: return o.filterDmlInsert;
    case convert::ChangeType::kUpdate: return o.filterDmlUpdate;
    case convert::ChangeType::kDelete: return o.filterDmlDelete;
    default: return false;
  }
}

}  // namespace

Destination::Destination(DestinationOptions options) : options_(std::move(options)), store_(options_.store) {}

Destination::~Destination() { stop(); }

void Destination::start() {
  if (running_.exchange(true)) return;
  stopping_ = false;
  producer_ = std::thread([this] { produce(); });
}

void Destination::stop() {
  if (!running_.exchange(false)) return;
  stopping_ = true;
  store_.stop();
  {
    std::lock_guard<std::mutex> lock(streamMutex_);
    if (stream_) stream_->cancel();
  }
  if (producer_.joinable()) producer_.join();
}

Status Destination::streamError() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return streamError_;
}

void Destination::produce() {
  auto log = moduleLogger("instance");
  while (!stopping_) {
    std::optional<replica::CommitPosition> from;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      from = resume_;
    }
    const Status s = runStream(from);
    if (stopping_) break;
    log->error("destination {}: {}", options_.name, s.toString());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      streamError_ = s;
    }
    // Tried again, and reported again, until it works or the destination stops: never a jump.
    for (int i = 0; i < 50 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status Destination::runStream(const std::optional<replica::CommitPosition>& from) {
  auto start = replica::chooseStart(options_.master, from, options_.start);
  if (!start) return start.status().withContext("choosing the start position");
  following_ = true;
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
  }
  convert::ChangeAssembler assembler(options_.render);
  assembler.setSchemaCache(&cache);
  assembler.setTransactionEntries(true);
  convert::EntryEncoder encoder;
  convert::ChangeEntry entry;

  for (;;) {
    auto e = stream.next();
    if (!e) return e.status();
    if (e->artificial) continue;
    const std::uint64_t nextPosition = e->nextPosition;
    CANAL_RETURN_IF_ERROR(assembler.handleEach(
        e->raw, stream.format(), e->file, e->file + ":" + std::to_string(e->raw.offset), entry, [&]() -> Status {
          if (filteredOut(entry, options_)) return Status::ok();
          store::StoredEntry stored;
          encoder.encode(entry, stored.entry);
          stored.position = store::EntryPosition{entry.logfileName, entry.logfileOffset, entry.executeTime,
                                                 entry.serverId,      entry.gtid,          nextPosition};
          stored.isDdl = entry.kind == convert::EntryKind::kRowData && entry.isDdl;
          stored.ackable = entry.kind == convert::EntryKind::kTransactionEnd ||
                           (entry.kind == convert::EntryKind::kTransactionBegin && entry.gtid.empty()) ||
                           stored.isDdl;
          const bool ackable = stored.ackable;
          if (!store_.put(std::move(stored))) return Status::aborted("stopping");
          if (ackable) {  // a stream started again after an error goes on from here
            std::lock_guard<std::mutex> lock(mutex_);
            resume_ = stream.committed();
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

Status Destination::subscribe(std::int16_t clientId, const std::string& filter) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  std::lock_guard<std::mutex> lock(mutex_);
  Client& c = clients_[clientId];
  if (!filter.empty()) c.filter = filter;
  return Status::ok();
}

Status Destination::unsubscribe(std::int16_t clientId) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  std::lock_guard<std::mutex> lock(mutex_);
  clients_.erase(clientId);
  return Status::ok();
}

Result<ClientBatch> Destination::getWithoutAck(std::int16_t clientId, std::int64_t fetchSize, store::GetWait wait) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!clients_.count(clientId)) return Status::invalidArgument(identity(clientId) + " should subscribe first");
  }
  auto got = store_.get(fetchSize, wait);
  if (!got) return Status::invalidArgument("fetch size " + std::to_string(fetchSize) + " is out of range");
  ClientBatch out;
  if (got->entries.empty()) return out;
  Batch batch;
  batch.end = got->end;
  out.entries.reserve(got->entries.size());
  for (const store::StoredEntry* e : got->entries) {
    out.entries.push_back(e->entry);
    if (e->ackable) batch.ackPosition = e->position;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  Client& c = clients_[clientId];
  out.id = c.nextBatchId++;
  c.batches[out.id] = std::move(batch);
  return out;
}

Status Destination::ack(std::int16_t clientId, std::int64_t batchId) {
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
  if (found->second.ackPosition) c.cursor = found->second.ackPosition;
  store_.ack(found->second.end);
  c.batches.erase(found);
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
  store_.rollback();
  return Status::ok();
}

std::optional<store::EntryPosition> Destination::cursor(std::int16_t clientId) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  return it == clients_.end() ? std::nullopt : it->second.cursor;
}

}  // namespace canal::instance
