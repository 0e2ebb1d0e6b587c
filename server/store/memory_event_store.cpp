#include "server/store/memory_event_store.h"

namespace canal::store {

MemoryEventStore::MemoryEventStore(MemoryStoreOptions options) : options_(options) {}

bool MemoryEventStore::fullLocked() const {
  if (options_.mode == BatchMode::kItemSize) return entries_.size() >= options_.bufferSize;
  return bytes_ >= options_.bufferSize * options_.memUnit;
}

bool MemoryEventStore::enoughLocked(std::int64_t fetchSize) const {
  const std::uint64_t pending = put_ - get_;
  if (options_.mode == BatchMode::kItemSize) return pending >= static_cast<std::uint64_t>(fetchSize);
  return pending > 0 && pendingBytes_ >= static_cast<std::uint64_t>(fetchSize) * options_.memUnit;
}

bool MemoryEventStore::put(StoredEntry entry) {
  std::unique_lock<std::mutex> lock(mutex_);
  // An entry is always accepted into an empty ring, even one larger than the whole budget.
  notFull_.wait(lock, [&] { return stopped_ || entries_.empty() || !fullLocked(); });
  if (stopped_) return false;
  bytes_ += entry.entry.size();
  pendingBytes_ += entry.entry.size();
  entries_.push_back(std::move(entry));
  ++put_;
  notEmpty_.notify_all();
  return true;
}

std::optional<StoreBatch> MemoryEventStore::get(std::int64_t fetchSize, GetWait wait) {
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
  for (const StoredEntry* e : batch.entries) pendingBytes_ -= e->entry.size();
  get_ = next;
  batch.end = next;
  return batch;
}

bool MemoryEventStore::ready(std::int64_t fetchSize) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopped_ || enoughLocked(fetchSize);
}

void MemoryEventStore::ack(std::uint64_t end) {
  std::lock_guard<std::mutex> lock(mutex_);
  while (first_ < end && first_ < get_) {
    bytes_ -= entries_.front().entry.size();
    entries_.pop_front();
    ++first_;
  }
  notFull_.notify_all();
}

void MemoryEventStore::rollback() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::uint64_t s = first_; s < get_; ++s) pendingBytes_ += at(s).entry.size();
  get_ = first_;
  notEmpty_.notify_all();
}

void MemoryEventStore::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
  notFull_.notify_all();
  notEmpty_.notify_all();
}

std::uint64_t MemoryEventStore::putSequence() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return put_;
}

std::uint64_t MemoryEventStore::ackSequence() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return first_;
}

std::size_t MemoryEventStore::bytesHeld() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

}  // namespace canal::store
