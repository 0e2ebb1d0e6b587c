#pragma once

// Where a destination keeps its consumers' state — which clients subscribed, with which filter,
// and the position of each one's last acknowledged batch — so that a restarted (or taken over)
// destination knows them: Canal's meta managers. Memory mode keeps it in the destination only
// (no MetaStore); file mode writes meta.dat (FileMetaStore); default mode writes Canal's
// ZooKeeper nodes (ZooKeeperMetaStore, zookeeper_meta_store.h).
// Thread contract: implementations are thread-safe; calls may block on disk or network and are
// never made on a network thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server/common/status.h"
#include "server/meta/meta_dat.h"

namespace canal::meta {

struct MetaChange {
  enum class Kind { kSubscribe, kUnsubscribe, kCursor } kind = Kind::kCursor;
  std::int16_t clientId = 0;
};

class MetaStore {
 public:
  virtual ~MetaStore() = default;
  // What was stored for the destination (no clients when nothing was).
  virtual Result<DestinationMeta> load() = 0;
  // `meta` is the destination's whole state after `change`. Subscriptions are durable when this
  // returns; cursors too, unless the store flushes them periodically.
  virtual Status record(const DestinationMeta& meta, const MetaChange& change) = 0;
  // Writes what a periodic store still holds (on stop).
  virtual Status flush() = 0;
  // True when other servers read and write the same meta (ZooKeeper): a local durable store
  // that does not end where the meta's cursors do was left behind by a takeover.
  virtual bool shared() const { return false; }
  // The epoch of the destination's stream sequence (StreamSequence) its last start recorded,
  // 0 when none did; and records a new one (durable when this returns).
  virtual Result<std::uint64_t> loadEpoch() = 0;
  virtual Status recordEpoch(std::uint64_t epoch) = 0;
};

// Cursors recorded by a periodic store: every `period` (0: at once, on every ack) the last
// state is written if it changed.
class PeriodicWriter {
 public:
  using Write = std::function<Status(const DestinationMeta&)>;
  PeriodicWriter(std::chrono::milliseconds period, Write write);
  ~PeriodicWriter();
  Status record(const DestinationMeta& meta, bool now);
  Status flush();

 private:
  void run();
  const std::chrono::milliseconds period_;
  const Write write_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<DestinationMeta> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

// meta.dat under `dir` (canal.file.data.dir/<destination>), written tmp -> fsync -> rename on
// every subscription change and, every `flushPeriod` (canal.file.flush.period; 0 = on every
// ack), when a cursor moved. A snapshot's progress goes to snapshot.dat beside it (before
// meta.dat, the same way), which is removed when no snapshot runs.
class FileMetaStore final : public MetaStore {
 public:
  FileMetaStore(std::string destination, std::string path, std::chrono::milliseconds flushPeriod);
  Result<DestinationMeta> load() override;
  Status record(const DestinationMeta& meta, const MetaChange& change) override;
  Status flush() override;
  // In `epoch` beside meta.dat.
  Result<std::uint64_t> loadEpoch() override;
  Status recordEpoch(std::uint64_t epoch) override;
  const std::string& path() const { return path_; }

 private:
  Status write(const DestinationMeta& meta);

  const std::string destination_;
  const std::string path_;
  const std::string snapshotPath_;
  const std::string epochPath_;
  std::string written_;  // the file's content as last written (guarded by writer_)
  std::string snapshotWritten_;  // snapshot.dat's, "" when there is none
  PeriodicWriter writer_;
};

// The decimal epoch `text` (a file's or a node's content) holds; Corruption naming `where`.
Result<std::uint64_t> parseEpoch(const std::string& text, const std::string& where);

}  // namespace canal::meta
