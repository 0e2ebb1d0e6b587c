#pragma once

// Follows a primary through failures: opens the dump, and when the link drops (network cut,
// primary restart) reconnects with backoff from the last complete transaction, skipping the
// events of the interrupted transaction that were already handed out, so consumers see every
// event once, in order. A purged or invalid position (1236) is returned as an error, never
// skipped over. Positions advance only at transaction boundaries. Thread contract: one thread
// calls next(); cancel() may be called from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "server/replica/binlog_dump.h"

namespace canal::replica {

struct ReconnectPolicy {
  std::chrono::milliseconds initialDelay{100};
  std::chrono::milliseconds maxDelay{5000};
  int maxAttempts = 0;  // 0: keep trying until cancelled
};

// A transaction boundary in the primary's binlog: where the next transaction starts.
struct CommitPosition {
  std::string file;
  std::uint64_t position = 0;
  std::uint32_t timestamp = 0;  // of the committing event
  std::uint32_t serverId = 0;
  std::string mariaGtid;        // "domain-server-sequence" of the committed group, if any
};

class ReplicaStream {
 public:
  ReplicaStream(mysql::ConnectOptions connect, DumpOptions dump, DumpStart start, ReconnectPolicy policy = {});

  // The next event, across reconnections. Errors: the primary's (1236 and such) and
  // Aborted after cancel().
  Result<DumpEvent> next();

  // The last transaction boundary seen (empty file before the first one).
  const CommitPosition& committed() const { return committed_; }
  const binlog::FormatDescription& format() const;
  int reconnects() const { return reconnects_; }
  void cancel();
  // Drops the current link, as a network cut would: the stream reconnects and carries on.
  void interrupt();

 private:
  Status connect(bool resume);
  void noteBoundary(const DumpEvent& e);

  mysql::ConnectOptions connectOptions_;
  DumpOptions dumpOptions_;
  DumpStart start_;
  ReconnectPolicy policy_;
  std::unique_ptr<BinlogDump> dump_;
  std::mutex dumpMutex_;  // guards dump_ against cancel()
  std::atomic<bool> cancelled_{false};

  CommitPosition committed_;
  bool inTransaction_ = false;
  std::string pendingMariaGtid_;
  // The last event handed out: after a reconnect, events up to it are not handed out again.
  std::string deliveredFile_;
  std::uint64_t deliveredPosition_ = 0;
  bool skipping_ = false;
  int reconnects_ = 0;
};

}  // namespace canal::replica
