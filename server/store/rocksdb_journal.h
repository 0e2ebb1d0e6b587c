#pragma once

// The durable side of the event store, the StoreJournal of a durable EventStore: one RocksDB per
// destination holding the serialized entries keyed by sequence, the ack cursor with the position
// it stands for, and the producer's resume mark. Entries and marks are written without fsync
// (the write-ahead log keeps them across a process crash; after a power loss the store comes
// back at an earlier consistent point, since the log is replayed in order). Acks are written
// before they return, and synced too unless the destination's meta keeps the cursor durably
// (file and default modes): then a store that came back behind the meta's cursor is not used
// (destination_parts.cpp), and syncing the ack would only force every entry before it to disk.
// Either way an acknowledged batch never comes again. Acked entries go with one range delete
// each.
// Thread contract: calls are serialized by the owning store.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/common/status.h"
#include "server/store/store_journal.h"

namespace rocksdb {
class DB;
}

namespace canal::store {

class RocksDbJournal final : public StoreJournal {
 public:
  // Opens (creating when missing) the store in directory `dir`; `recovered` receives what it
  // holds. `syncAcks`: release() syncs (when nothing else keeps the cursor). Errors name the
  // directory.
  static Result<std::unique_ptr<RocksDbJournal>> open(const std::string& dir, RecoveredStore& recovered,
                                                      bool syncAcks = true);
  // Removes the store in `dir` (a standby's local copy that no longer matches the shared cursor).
  static Status destroy(const std::string& dir);
  ~RocksDbJournal() override;

  // Queued for the writer thread; `entry` must stay where it is until a later release() or
  // drain() returned. A failed write is reported by every call after it.
  Status append(std::uint64_t sequence, const StoredEntry& entry) override;
  Status markResume(const ResumeMark& mark) override;
  // Waits until it, and everything queued before it, is written (and synced with syncAcks).
  Status release(std::uint64_t end, const std::optional<EntryPosition>& position) override;
  void drain() override;
  std::uint64_t diskBytes() const override;

 private:
  struct Op {
    enum class Kind { kEntry, kMark, kRelease } kind;
    std::uint64_t sequence = 0;         // entry; release: the end
    const StoredEntry* entry = nullptr;
    std::string value;                  // mark, release: the value written
  };
  RocksDbJournal(std::string dir, std::unique_ptr<rocksdb::DB> db, std::uint64_t released, bool syncAcks);
  Status enqueue(Op op, bool wait);
  void run();

  const std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  const bool syncAcks_;
  std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable written_;
  std::deque<Op> queue_;
  std::uint64_t queued_ = 0;   // ops queued so far
  std::uint64_t done_ = 0;     // ops written so far
  Status error_;               // the first failed write: every later call reports it
  bool stopping_ = false;
  std::uint64_t released_;     // entries before it are deleted (writer thread)
  std::thread writer_;
};

// The binary form of a stored entry (exposed for the decoder tests and the fuzzer).
std::string encodeStoredEntry(const StoredEntry& entry);
Result<StoredEntry> decodeStoredEntry(std::string_view bytes);

}  // namespace canal::store
