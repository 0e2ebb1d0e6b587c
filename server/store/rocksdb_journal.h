#pragma once

// The durable side of the event store (RocksDbEventStore in the design): one RocksDB per
// destination holding the serialized entries keyed by sequence, the ack cursor with the position
// it stands for, and the producer's resume mark. Entries and marks are written without fsync
// (the write-ahead log keeps them across a process crash; after a power loss the store comes
// back at an earlier consistent point, since the log is replayed in order); acks are synced
// before they return, so an acknowledged batch never comes again. Acked entries go with one
// range delete each.
// Thread contract: calls are serialized by the owning store.

#include <memory>
#include <string>

#include "server/common/status.h"
#include "server/store/store_journal.h"

namespace rocksdb {
class DB;
class WriteBatch;
}

namespace canal::store {

class RocksDbJournal final : public StoreJournal {
 public:
  // Opens (creating when missing) the store in directory `dir`; `recovered` receives what it
  // holds. Errors name the directory.
  static Result<std::unique_ptr<RocksDbJournal>> open(const std::string& dir, RecoveredStore& recovered);
  // Removes the store in `dir` (a standby's local copy that no longer matches the shared cursor).
  static Status destroy(const std::string& dir);
  ~RocksDbJournal() override;

  Status append(std::uint64_t sequence, const StoredEntry& entry) override;
  Status markResume(const ResumeMark& mark) override;
  Status release(std::uint64_t end, const std::optional<EntryPosition>& position) override;
  std::uint64_t diskBytes() const override;

 private:
  RocksDbJournal(std::string dir, std::unique_ptr<rocksdb::DB> db);
  // Writes what is pending (entries, then a mark or an ack) in one write.
  Status write(bool sync, const char* what);

  const std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<rocksdb::WriteBatch> pending_;  // entries appended, not written yet
  std::uint64_t released_ = 0;  // entries before it are deleted
};

// The binary form of a stored entry (exposed for the decoder tests and the fuzzer).
std::string encodeStoredEntry(const StoredEntry& entry);
Result<StoredEntry> decodeStoredEntry(std::string_view bytes);

}  // namespace canal::store
