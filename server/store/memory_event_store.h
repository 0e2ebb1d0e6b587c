#pragma once

// Canal's in-memory event store (MemoryEventStoreWithBuffer): a ring of serialized entries with
// three cursors — put, get (handed out, not yet acknowledged) and ack. put() blocks while the
// ring is full, so memory stays bounded by the configured size whatever the client does;
// rollback() moves the get cursor back to the ack cursor and the unacknowledged entries are
// handed out again. Sizes and the batch rules follow canal-protocol.md section 5.3.
// Thread contract: all methods are thread-safe; put() and get() block.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace canal::store {

// Where an entry is in the primary's binlog; what a cursor records when its batch is acked.
struct EntryPosition {
  std::string journalName;
  std::uint64_t position = 0;
  std::int64_t timestamp = 0;  // ms
  std::uint32_t serverId = 0;
  std::string gtid;
  std::uint64_t nextPosition = 0;  // where the event after it starts: the resume point
};

struct StoredEntry {
  std::string entry;  // serialized Canal Entry
  EntryPosition position;
  // A position a consumer may resume from once the batch holding it is acked: the end of a
  // transaction, a BEGIN without GTID, or a DDL (protocol section 5.4).
  bool ackable = false;
  bool isDdl = false;
};

enum class BatchMode { kItemSize, kMemSize };

struct MemoryStoreOptions {
  std::size_t bufferSize = 16384;  // canal.instance.memory.buffer.size (entries, or memunits)
  std::size_t memUnit = 1024;      // canal.instance.memory.buffer.memunit (bytes)
  BatchMode mode = BatchMode::kMemSize;  // canal.instance.memory.batch.mode
  bool ddlIsolation = false;       // canal.instance.get.ddl.isolation
};

// How long get() waits (protocol section 5.3): kNoWait takes what is there; kForever waits until
// the batch is "enough"; kFor waits up to `duration`, then takes what is there.
struct GetWait {
  enum class Kind { kNoWait, kForever, kFor } kind = Kind::kNoWait;
  std::chrono::nanoseconds duration{0};
};

struct StoreBatch {
  std::vector<const StoredEntry*> entries;  // valid until the batch is acked or rolled back
  std::uint64_t start = 0;                  // sequence of the first entry
  std::uint64_t end = 0;                    // one past the last
};

class MemoryEventStore {
 public:
  explicit MemoryEventStore(MemoryStoreOptions options);

  // Appends, blocking while the ring is full. False once stop() was called.
  bool put(StoredEntry entry);
  // The next entries after the get cursor, which moves past them. An empty batch when none came
  // in time. `fetchSize`: entries (ITEMSIZE) or memunits (MEMSIZE). InvalidArgument-like
  // misuse (fetchSize <= 0 in ITEMSIZE, < 0 in MEMSIZE) is reported as nullopt.
  std::optional<StoreBatch> get(std::int64_t fetchSize, GetWait wait);
  // True when a get(fetchSize) would find "enough" now (what a waiting get waits for).
  bool ready(std::int64_t fetchSize) const;
  // Releases everything before `end` (a batch's end); its space is free for put().
  void ack(std::uint64_t end);
  // Everything handed out and not acked is handed out again by the next get().
  void rollback();
  // Wakes every blocked put()/get(); they return at once from now on.
  void stop();

  std::uint64_t putSequence() const;
  std::uint64_t ackSequence() const;
  std::size_t bytesHeld() const;

 private:
  bool fullLocked() const;
  bool enoughLocked(std::int64_t fetchSize) const;
  const StoredEntry& at(std::uint64_t sequence) const { return entries_[sequence - first_]; }

  const MemoryStoreOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable notFull_;
  std::condition_variable notEmpty_;
  std::deque<StoredEntry> entries_;  // sequences [first_, put_)
  std::uint64_t first_ = 0;          // == ack_
  std::uint64_t get_ = 0;
  std::uint64_t put_ = 0;
  std::size_t bytes_ = 0;            // of entries_
  std::size_t pendingBytes_ = 0;     // of [get_, put_)
  bool stopped_ = false;
};

}  // namespace canal::store
