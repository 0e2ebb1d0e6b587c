#pragma once

// The event store of a destination, Canal's MemoryEventStoreWithBuffer: a ring of serialized
// entries with three cursors — put, get (handed out, not yet acknowledged) and ack. put() blocks
// while the ring is full, so memory (and disk) stay bounded by the configured size whatever the
// client does; rollback() moves the get cursor back to the ack cursor and the unacknowledged
// entries are handed out again. Sizes and the batch rules: docs/protocol.md ("GET").
//
// Memory mode keeps the ring only in memory. Durable mode gives the store a StoreJournal
// (store_journal.h; RocksDbJournal in rocksdb_journal.h): every put, resume mark and ack goes to
// it first, and a store built from a reopened journal starts with the unacknowledged entries and
// the resume mark.
// A producer that restarts from its last resume mark calls rewind(): the entries it produces
// again, up to the put cursor, are recognized by their sequence and not stored twice.
// Thread contract: all methods are thread-safe; put() and get() block.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/common/position.h"
#include "server/common/status.h"

namespace canal::store {

struct StoredEntry {
  std::string entry;  // serialized Canal Entry
  EntryPosition position;
  // A position a consumer may resume from once the batch holding it is acked: the end of a
  // transaction, a BEGIN without GTID, or a DDL (docs/protocol.md, "CLIENTACK").
  bool ackable = false;
  bool isDdl = false;
  std::uint32_t rows = 0;  // table rows the entry carries (kept in memory only, for the figures)
};

enum class BatchMode { kItemSize, kMemSize };

struct StoreOptions {
  std::size_t bufferSize = 16384;  // canal.instance.memory.buffer.size (entries, or memunits)
  std::size_t memUnit = 1024;      // canal.instance.memory.buffer.memunit (bytes)
  BatchMode mode = BatchMode::kMemSize;  // canal.instance.memory.batch.mode
  bool ddlIsolation = false;       // canal.instance.get.ddl.isolation
};

// How long get() waits (docs/protocol.md, "GET"): kNoWait takes what is there; kForever waits until
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

// The store's figures at one moment (Canal's canal_instance_store_* metrics and ours).
struct StoreStats {
  std::uint64_t putSequence = 0;
  std::uint64_t getSequence = 0;
  std::uint64_t ackSequence = 0;
  std::size_t items = 0;            // entries held (put, not acked)
  std::size_t bytes = 0;            // their serialized size
  std::size_t capacityItems = 0;    // ITEMSIZE: the ring's size in entries; MEMSIZE: 0
  std::size_t capacityBytes = 0;    // MEMSIZE: buffer.size * memunit; ITEMSIZE: 0
  std::uint64_t putBytes = 0;       // since the store was opened
  std::uint64_t ackBytes = 0;
  std::uint64_t putRows = 0;
  std::uint64_t getRows = 0;
  std::uint64_t ackRows = 0;
  std::uint64_t putBlockedNanos = 0;  // time put() waited for space, a wait in progress included
  bool putBlocked = false;            // put() is waiting for space now
  // Binlog time (ms) of the last entry put, handed out and acked; 0 before the first.
  std::int64_t putExecuteTime = 0;
  std::int64_t getExecuteTime = 0;
  std::int64_t ackExecuteTime = 0;
  bool durable = false;
  std::uint64_t journalBytes = 0;   // durable: the journal's size on disk (estimate)
};

// Where the producer goes on after a restart: `data` (opaque to the store) describes the point
// of the source after which entry `sequence` and the following ones are produced.
struct ResumeMark {
  std::uint64_t sequence = 0;
  std::string data;
};

// A journal's content when it is opened.
struct RecoveredStore {
  std::uint64_t ackSequence = 0;      // entries before it were acknowledged
  std::vector<StoredEntry> entries;   // sequences [ackSequence, ackSequence + entries.size())
  std::optional<EntryPosition> ackPosition;  // recorded with the last ack that carried one
  std::optional<ResumeMark> resume;
};

class StoreJournal;

class EventStore {
 public:
  explicit EventStore(StoreOptions options);
  // A durable store, starting with what `journal` held when it was opened.
  EventStore(StoreOptions options, std::unique_ptr<StoreJournal> journal, RecoveredStore recovered);
  ~EventStore();

  // Appends, blocking while the ring is full. Aborted once stop() was called; the journal's
  // error when it cannot keep the entry (nothing is stored then).
  Status put(StoredEntry entry);
  // Records that the producer may resume from `data` (opaque) when it restarts after this
  // point: the entries put from now on are the ones it produces from there.
  Status markResume(std::string data);
  // Whether marks are kept (by the journal of a durable store): without one, a producer need
  // not build them.
  bool keepsResumeMarks() const { return journal_ != nullptr; }
  // The mark the store was opened with, if any.
  const std::optional<ResumeMark>& recoveredResume() const { return recoveredResume_; }
  // The producer starts again from the resume mark recorded at `sequence`: the entries it puts
  // until the put cursor are already here and are skipped.
  void rewind(std::uint64_t sequence);
  // The put sequence as the producer counts it (below putSequence() while it replays).
  std::uint64_t producerSequence() const;
  // The next entries after the get cursor, which moves past them. An empty batch when none came
  // in time. `fetchSize`: entries (ITEMSIZE) or memunits (MEMSIZE). InvalidArgument-like
  // misuse (fetchSize <= 0 in ITEMSIZE, < 0 in MEMSIZE) is reported as nullopt. `whileHeld`,
  // when set, sees the batch's entries before the store's lock is released: no ack can free
  // them meanwhile, so they can be read (framed for a client, say) without a copy first.
  using BatchVisitor = std::function<void(const std::vector<const StoredEntry*>&)>;
  std::optional<StoreBatch> get(std::int64_t fetchSize, GetWait wait, const BatchVisitor& whileHeld = {});
  // True when a get(fetchSize) would find "enough" now (what a waiting get waits for).
  bool ready(std::int64_t fetchSize) const;
  // ready(fetchSize), or else `wake` runs once, on the thread that makes it ready (a put or a
  // rollback) or stops the store; it must not call back into the store. Lets a caller wait for
  // entries without holding a thread. An `owner` has one waiter at most: a new one replaces it.
  bool readyOrNotify(const void* owner, std::int64_t fetchSize, std::function<void()> wake);
  // Drops the waiter of `owner`, if any.
  void cancelNotify(const void* owner);
  // Releases everything before `end` (a batch's end); its space is free for put(). `position`:
  // what the acked batch stands for, kept with the ack cursor by a durable store. Fails (and
  // nothing is released) when the journal cannot record the ack.
  Status ack(std::uint64_t end, const std::optional<EntryPosition>& position = std::nullopt);
  // The position recorded with the last ack (after a restart too, in durable mode).
  std::optional<EntryPosition> ackPosition() const;
  // Everything handed out and not acked is handed out again by the next get().
  void rollback();
  // Wakes every blocked put()/get(); they return at once from now on.
  void stop();

  std::uint64_t putSequence() const;
  std::uint64_t ackSequence() const;
  std::size_t bytesHeld() const;
  StoreStats stats() const;

 private:
  struct Waiter {
    const void* owner;
    std::int64_t fetchSize;
    std::function<void()> wake;
  };
  bool fullLocked() const;
  // Takes the waiters whose fetch size is now enough (all of them once stopped), to be woken
  // after the lock is released.
  std::vector<Waiter> takeWakeableLocked();
  static void wakeAll(std::vector<Waiter> waiters);
  bool enoughLocked(std::int64_t fetchSize) const;
  const StoredEntry& at(std::uint64_t sequence) const { return entries_[sequence - first_]; }

  const StoreOptions options_;
  const std::unique_ptr<StoreJournal> journal_;
  std::optional<ResumeMark> recoveredResume_;
  mutable std::mutex mutex_;
  std::condition_variable notFull_;
  std::condition_variable notEmpty_;
  std::deque<StoredEntry> entries_;  // sequences [first_, put_)
  std::uint64_t first_ = 0;          // == ack_
  std::uint64_t get_ = 0;
  std::uint64_t put_ = 0;
  std::uint64_t produced_ = 0;       // == put_ unless the producer replays after rewind()
  std::optional<EntryPosition> ackPosition_;
  std::size_t bytes_ = 0;            // of entries_
  std::size_t pendingBytes_ = 0;     // of [get_, put_)
  StoreStats totals_;                // the running totals and times of stats()
  std::optional<std::chrono::steady_clock::time_point> blockedSince_;  // put() waits for space since
  std::vector<Waiter> waiters_;
  bool stopped_ = false;
};

}  // namespace canal::store
