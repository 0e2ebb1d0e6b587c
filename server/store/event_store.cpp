#include "server/store/event_store.h"

#include "server/store/store_journal.h"

namespace canal::store {

EventStore::EventStore(StoreOptions options) : options_(options) {}

EventStore::EventStore(StoreOptions options, std::unique_ptr<StoreJournal> journal, RecoveredStore recovered)
    : options_(options), journal_(std::move(journal)), recoveredResume_(std::move(recovered.resume)) {
  first_ = get_ = recovered.ackSequence;
  for (StoredEntry& e : recovered.entries) {
    bytes_ += e.entry.size();
    pendingBytes_ += e.entry.size();
    entries_.push_back(std::move(e));
  }
  put_ = produced_ = first_ + entries_.size();
  ackPosition_ = std::move(recovered.ackPosition);
}

EventStore::~EventStore() {
  if (journal_) journal_->drain();  // it may still read entries_
}

bool EventStore::fullLocked() const {
  if (options_.mode == BatchMode::kItemSize) return entries_.size() >= options_.bufferSize;
  return bytes_ >= options_.bufferSize * options_.memUnit;
}

bool EventStore::enoughLocked(std::int64_t fetchSize) const {
  const std::uint64_t pending = put_ - get_;
  if (options_.mode == BatchMode::kItemSize) return pending >= static_cast<std::uint64_t>(fetchSize);
  return pending > 0 && pendingBytes_ >= static_cast<std::uint64_t>(fetchSize) * options_.memUnit;
}

Status EventStore::put(StoredEntry entry) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (produced_ < put_) {  // produced again after a restart: already stored
    ++produced_;
    return Status::ok();
  }
  // An entry is always accepted into an empty ring, even one larger than the whole budget.
  const auto admitted = [&] { return stopped_ || entries_.empty() || !fullLocked(); };
  if (!admitted()) {
    blockedSince_ = std::chrono::steady_clock::now();
    notFull_.wait(lock, admitted);
    totals_.putBlockedNanos += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - *blockedSince_).count());
    blockedSince_.reset();
  }
  if (stopped_) return Status::aborted("the event store is stopped");
  if (journal_) {
    // The journal writes the entry where it stays until acked (a deque keeps its address), on
    // its own thread.
    entries_.push_back(std::move(entry));
    const Status journaled = journal_->append(put_, entries_.back());
    if (!journaled.isOk()) {
      entries_.pop_back();
      return journaled;
    }
  } else {
    entries_.push_back(std::move(entry));
  }
  const StoredEntry& stored = entries_.back();
  bytes_ += stored.entry.size();
  pendingBytes_ += stored.entry.size();
  totals_.putBytes += stored.entry.size();
  totals_.putRows += stored.rows;
  totals_.putExecuteTime = stored.position.timestamp;
  produced_ = ++put_;
  notEmpty_.notify_all();
  auto wake = takeWakeableLocked();
  lock.unlock();
  wakeAll(std::move(wake));
  return Status::ok();
}

std::vector<EventStore::Waiter> EventStore::takeWakeableLocked() {
  std::vector<Waiter> wake;
  if (waiters_.empty()) return wake;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (stopped_ || enoughLocked(it->fetchSize)) {
      wake.push_back(std::move(*it));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  return wake;
}

void EventStore::wakeAll(std::vector<Waiter> waiters) {
  for (auto& w : waiters) w.wake();
}

bool EventStore::readyOrNotify(const void* owner, std::int64_t fetchSize, std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(waiters_, [owner](const Waiter& w) { return w.owner == owner; });
  if (stopped_ || enoughLocked(fetchSize)) return true;
  waiters_.push_back(Waiter{owner, fetchSize, std::move(wake)});
  return false;
}

void EventStore::cancelNotify(const void* owner) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(waiters_, [owner](const Waiter& w) { return w.owner == owner; });
}

Status EventStore::markResume(std::string data) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!journal_) return Status::ok();
  return journal_->markResume(ResumeMark{produced_, std::move(data)});
}

void EventStore::rewind(std::uint64_t sequence) {
  std::lock_guard<std::mutex> lock(mutex_);
  produced_ = std::min(sequence, put_);
}

std::uint64_t EventStore::producerSequence() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return produced_;
}

std::optional<StoreBatch> EventStore::get(std::int64_t fetchSize, GetWait wait, const BatchVisitor& whileHeld) {
  if ((options_.mode == BatchMode::kItemSize && fetchSize <= 0) || fetchSize < 0) return std::nullopt;
  std::unique_lock<std::mutex> lock(mutex_);
  const auto ready = [&] { return stopped_ || enoughLocked(fetchSize); };
  if (wait.kind == GetWait::Kind::kForever) {
    notEmpty_.wait(lock, ready);
  } else if (wait.kind == GetWait::Kind::kFor) {
    notEmpty_.wait_for(lock, wait.duration, ready);
  }
  StoreBatch batch;
  batch.start = get_;
  const std::uint64_t budget = static_cast<std::uint64_t>(fetchSize) * options_.memUnit;
  std::uint64_t taken = 0;
  std::uint64_t next = get_;
  while (next < put_) {
    const StoredEntry& e = at(next);
    if (options_.mode == BatchMode::kItemSize && batch.entries.size() >= static_cast<std::size_t>(fetchSize)) break;
    if (options_.mode == BatchMode::kMemSize && !batch.entries.empty() && taken > budget) break;
    if (options_.ddlIsolation && e.isDdl && !batch.entries.empty()) break;
    batch.entries.push_back(&e);
    taken += e.entry.size();
    ++next;
    if (options_.ddlIsolation && e.isDdl) break;
  }
  for (const StoredEntry* e : batch.entries) {
    pendingBytes_ -= e->entry.size();
    totals_.getRows += e->rows;
    totals_.getExecuteTime = e->position.timestamp;
  }
  get_ = next;
  batch.end = next;
  if (whileHeld) whileHeld(batch.entries);
  return batch;
}

bool EventStore::ready(std::int64_t fetchSize) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopped_ || enoughLocked(fetchSize);
}

Status EventStore::ack(std::uint64_t end, const std::optional<EntryPosition>& position) {
  std::unique_lock<std::mutex> lock(mutex_);
  end = std::min(end, get_);
  if (journal_ && end > first_) {
    // The journal syncs the ack: puts and gets go on meanwhile.
    const std::optional<EntryPosition> recorded = position ? position : ackPosition_;
    lock.unlock();
    CANAL_RETURN_IF_ERROR(journal_->release(end, recorded));
    lock.lock();
  }
  if (position) ackPosition_ = position;
  while (first_ < end) {
    const StoredEntry& e = entries_.front();
    bytes_ -= e.entry.size();
    totals_.ackBytes += e.entry.size();
    totals_.ackRows += e.rows;
    totals_.ackExecuteTime = e.position.timestamp;
    entries_.pop_front();
    ++first_;
  }
  notFull_.notify_all();
  return Status::ok();
}

std::optional<EntryPosition> EventStore::ackPosition() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ackPosition_;
}

void EventStore::rollback() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (std::uint64_t s = first_; s < get_; ++s) pendingBytes_ += at(s).entry.size();
  get_ = first_;
  notEmpty_.notify_all();
  auto wake = takeWakeableLocked();
  lock.unlock();
  wakeAll(std::move(wake));
}

void EventStore::stop() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopped_ = true;
  notFull_.notify_all();
  notEmpty_.notify_all();
  auto wake = takeWakeableLocked();
  lock.unlock();
  wakeAll(std::move(wake));
}

std::uint64_t EventStore::putSequence() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return put_;
}

std::uint64_t EventStore::ackSequence() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return first_;
}

std::size_t EventStore::bytesHeld() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

StoreStats EventStore::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  StoreStats s = totals_;
  s.putSequence = put_;
  s.getSequence = get_;
  s.ackSequence = first_;
  s.items = entries_.size();
  s.bytes = bytes_;
  if (blockedSince_) {  // a block in progress counts as it goes
    s.putBlocked = true;
    s.putBlockedNanos += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - *blockedSince_).count());
  }
  if (options_.mode == BatchMode::kItemSize) {
    s.capacityItems = options_.bufferSize;
  } else {
    s.capacityBytes = options_.bufferSize * options_.memUnit;
  }
  s.durable = journal_ != nullptr;
  if (journal_) s.journalBytes = journal_->diskBytes();
  return s;
}

}  // namespace canal::store
