#include "server/instance/destination_clients.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "server/common/logging.h"

namespace canal::instance {

std::vector<double> requestLatencyBounds() { return {0.0001, 0.0005, 0.001, 0.0025, 0.01, 0.025, 0.1, 1}; }

DestinationClients::DestinationClients(std::string name, std::string sourceHost, int sourcePort,
                                       store::EventStore& store, ActiveFilter& filter,
                                       std::unique_ptr<meta::MetaStore> meta)
    : name_(std::move(name)),
      sourceHost_(std::move(sourceHost)),
      sourcePort_(sourcePort),
      store_(store),
      filter_(filter),
      meta_(std::move(meta)) {}

Status DestinationClients::restore(const meta::DestinationMeta& stored) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const meta::ClientMeta& c : stored.clients) {
    Client& client = clients_[c.clientId];
    if (c.filter && !c.filter->empty()) {
      client.filter = *c.filter;
      CANAL_RETURN_IF_ERROR(filter_.replaceRegex(*c.filter, name_));
    }
    if (!c.cursor) continue;
    client.cursor = c.cursor->position;
    client.ackedThrough = {c.cursor->ackedThroughFile, c.cursor->ackedThroughOffset};
    client.snapshot = c.cursor->snapshot;
    client.source = {c.cursor->sourceHost, c.cursor->sourcePort};
  }
  return Status::ok();
}

void DestinationClients::close() {
  running_ = false;
  if (!meta_) return;
  std::lock_guard<std::mutex> writing(metaMutex_);
  const Status s = meta_->flush();
  if (!s.isOk()) moduleLogger("instance")->error("destination {}: {}", name_, s.toString());
}

std::string DestinationClients::identity(std::int16_t clientId) const {
  return "ClientIdentity:ClientIdentity[destination=" + name_ + ",clientId=" + std::to_string(clientId) +
         ",filter=<null>]";
}

Status DestinationClients::checkRunning() const {
  if (!running_) return Status::unavailable("destination:" + name_ + " should start first");
  return Status::ok();
}

meta::DestinationMeta DestinationClients::metaLocked() const {
  meta::DestinationMeta m;
  m.destination = name_;
  for (const auto& [id, c] : clients_) {
    meta::ClientMeta cm;
    cm.clientId = id;
    cm.filter = c.filter;
    if (c.cursor) {
      const bool known = !c.source.first.empty();
      cm.cursor = meta::ClientCursor{known ? c.source.first : sourceHost_, known ? c.source.second : sourcePort_,
                                     *c.cursor,  c.ackedThrough.first,
                                     c.ackedThrough.second, c.snapshot};
    }
    m.clients.push_back(std::move(cm));
  }
  return m;
}

Status DestinationClients::recordLocked(meta::MetaChange::Kind kind, std::int16_t clientId) {
  if (!meta_) return Status::ok();
  return meta_->record(metaLocked(), meta::MetaChange{kind, clientId});
}

Status DestinationClients::subscribe(std::int16_t clientId, const std::string& filter) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  std::lock_guard<std::mutex> writing(metaMutex_);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!filter.empty()) CANAL_RETURN_IF_ERROR(filter_.replaceRegex(filter, name_));
  Client& c = clients_[clientId];
  if (!filter.empty()) c.filter = filter;
  return recordLocked(meta::MetaChange::Kind::kSubscribe, clientId);
}

Status DestinationClients::unsubscribe(std::int16_t clientId) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  std::lock_guard<std::mutex> writing(metaMutex_);
  std::lock_guard<std::mutex> lock(mutex_);
  if (clients_.erase(clientId) == 0) return Status::ok();
  return recordLocked(meta::MetaChange::Kind::kUnsubscribe, clientId);
}

Result<std::int64_t> DestinationClients::take(std::int16_t clientId, std::int64_t fetchSize, store::GetWait wait,
                                              std::uint64_t epoch, const store::EventStore::BatchVisitor& visit) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  const auto began = std::chrono::steady_clock::now();
  // The clients' lock is held from the epoch check until the batch is recorded, so no rollback
  // comes in between; a get that waits in the store (epoch 0 only) does not hold it meanwhile.
  std::unique_lock<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  if (it == clients_.end()) return Status::invalidArgument(identity(clientId) + " should subscribe first");
  if (epoch != 0 && epoch != it->second.epoch) {
    return Status::aborted("clientId:" + std::to_string(clientId) +
                           " rolled back on a newer connection; this connection's get is refused");
  }
  if (wait.kind != store::GetWait::Kind::kNoWait) lock.unlock();
  Batch batch;
  auto got = store_.get(fetchSize, wait, [&](const std::vector<const store::StoredEntry*>& entries) {
    for (const store::StoredEntry* e : entries) {
      if (e->ackable) batch.ackPosition = e->position;
      batch.last = {e->position.journalName, e->position.position};
    }
    if (!entries.empty()) visit(entries);
  });
  if (!got) return Status::invalidArgument("fetch size " + std::to_string(fetchSize) + " is out of range");
  const auto waited = std::chrono::steady_clock::now();
  if (got->entries.empty()) return std::int64_t{-1};
  batch.end = got->end;
  if (!lock.owns_lock()) lock.lock();
  Client& c = clients_[clientId];
  const std::int64_t id = c.nextBatchId++;
  c.batches[id] = std::move(batch);
  // The time the store waited for entries is not the request's cost.
  const auto now = std::chrono::steady_clock::now();
  c.getLatency.observe(wait.kind == store::GetWait::Kind::kNoWait ? now - began : now - waited);
  return id;
}

Result<std::int64_t> DestinationClients::getWithoutAck(std::int16_t clientId, std::int64_t fetchSize,
                                                       std::uint64_t epoch, const BatchVisitor& visit) {
  BatchEntries views;
  return take(clientId, fetchSize, store::GetWait{}, epoch, [&](const std::vector<const store::StoredEntry*>& entries) {
    if (!visit) return;
    views.reserve(entries.size());
    for (const store::StoredEntry* e : entries) views.emplace_back(e->entry);
    visit(views);
  });
}

Result<ClientBatch> DestinationClients::get(std::int16_t clientId, std::int64_t fetchSize, store::GetWait wait) {
  ClientBatch out;
  auto id = take(clientId, fetchSize, wait, 0, [&](const std::vector<const store::StoredEntry*>& entries) {
    out.entries.reserve(entries.size());
    for (const store::StoredEntry* e : entries) out.entries.push_back(e->entry);
  });
  if (!id) return id.status();
  out.id = *id;
  return out;
}

bool DestinationClients::readyOrNotify(const void* waiter, std::int64_t fetchSize, std::function<void()> wake) {
  return !running_ || store_.readyOrNotify(waiter, fetchSize, std::move(wake));
}

void DestinationClients::cancelNotify(const void* waiter) { store_.cancelNotify(waiter); }

Status DestinationClients::ack(std::int16_t clientId, std::int64_t batchId) {
  CANAL_RETURN_IF_ERROR(takeForAck(clientId, batchId));
  return commitAcks(clientId);
}

Status DestinationClients::takeForAck(std::int16_t clientId, std::int64_t batchId) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  if (batchId == -1) return Status::ok();
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  if (it == clients_.end()) return Status::invalidArgument(identity(clientId) + " should subscribe first");
  Client& c = it->second;
  const auto found = c.batches.find(batchId);
  if (found == c.batches.end()) {
    return Status::notFound("ack error , clientId:" + std::to_string(clientId) + " batchId:" +
                            std::to_string(batchId) + " is not exist , please check");
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

Status DestinationClients::commitAcks(std::int16_t clientId) {
  // One writer of the meta and the journal at a time; gets and the stream go on meanwhile.
  std::lock_guard<std::mutex> writing(metaMutex_);
  std::vector<std::pair<std::int64_t, Batch>> taken;
  std::optional<EntryPosition> moved;  // the last ackable position among them
  struct Recorded {
    std::optional<EntryPosition> cursor;
    std::pair<std::string, std::uint64_t> ackedThrough;
    std::string snapshot;
    std::pair<std::string, int> source;
  } previous;
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
    // A snapshot's progress is kept with a cursor only: without one a restart starts the
    // snapshot again (docs/snapshots.md).
    if (moved || c.cursor) {
      previous = {c.cursor, c.ackedThrough, c.snapshot, c.source};
      if (moved) c.cursor = moved;
      c.ackedThrough = taken.back().second.last;
      if (marks_) {
        const std::uint64_t end = taken.back().second.end;
        if (auto progress = marks_->snapshot.through(end)) c.snapshot = std::move(*progress);
        if (auto source = marks_->source.through(end); source && moved) c.source = splitHostPort(*source);
      }
      snapshot = metaLocked();
    }
  }
  Status recorded;
  if (snapshot && meta_) {
    recorded = meta_->record(*snapshot, meta::MetaChange{meta::MetaChange::Kind::kCursor, clientId});
  }
  const Status done = recorded.isOk() ? store_.ack(taken.back().second.end, moved) : recorded;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  if (it == clients_.end()) return done;  // unsubscribed meanwhile
  Client& c = it->second;
  if (!done.isOk()) {
    // The batches stay unacknowledged, and so do those set aside since (acked after them); the
    // cursor too unless it was recorded.
    if (snapshot && !recorded.isOk()) {
      c.cursor = previous.cursor;
      c.ackedThrough = previous.ackedThrough;
      c.snapshot = previous.snapshot;
      c.source = previous.source;
    }
    for (auto& [id, batch] : taken) c.batches.emplace(id, std::move(batch));
    for (auto& [id, batch] : c.acking) c.batches.emplace(id, std::move(batch));
    c.acking.clear();
    c.ackingSince = {};
    return done;
  }
  if (marks_) {
    marks_->snapshot.trim(store_.ackSequence());
    marks_->source.trim(store_.ackSequence());
  }
  const auto took = std::chrono::steady_clock::now() - since;
  for (std::size_t i = 0; i < taken.size(); ++i) c.ackLatency.observe(took);
  return Status::ok();
}

Result<std::uint64_t> DestinationClients::rollback(std::int16_t clientId, std::int64_t batchId) {
  CANAL_RETURN_IF_ERROR(checkRunning());
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  if (it == clients_.end()) return std::uint64_t{0};  // rollback before subscribe: nothing to do
  Client& c = it->second;
  if (batchId == 0) {
    c.batches.clear();
    ++c.epoch;
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
  return c.epoch;
}

void DestinationClients::recordRequest(const std::string& packetType, std::chrono::nanoseconds latency,
                                       std::size_t bytesSent, int errorCode, bool emptyBatch) {
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

std::optional<EntryPosition> DestinationClients::cursor(std::int16_t clientId) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = clients_.find(clientId);
  return it == clients_.end() ? std::nullopt : it->second.cursor;
}

std::vector<ClientStats> DestinationClients::clientStats() const {
  std::vector<ClientStats> out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, c] : clients_) {
    ClientStats cs;
    cs.clientId = id;
    cs.filter = c.filter;
    cs.unackedBatches = c.batches.size();
    cs.cursor = c.cursor;
    cs.getLatency = c.getLatency;
    cs.ackLatency = c.ackLatency;
    out.push_back(std::move(cs));
  }
  return out;
}

ClientTrafficStats DestinationClients::traffic() const {
  std::lock_guard<std::mutex> lock(trafficMutex_);
  return traffic_;
}

}  // namespace canal::instance
