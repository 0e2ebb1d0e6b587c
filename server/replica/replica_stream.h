#pragma once

// Follows a primary through failures: opens the dump, and when the link drops (network cut,
// primary restart) reconnects with backoff from the last complete transaction, skipping the
// events of the interrupted transaction that were already handed out, so consumers see every
// event once, in order. A purged or invalid position (1236) is returned as an error, never
// skipped over. Positions advance only at transaction boundaries. Thread contract: one thread
// calls next(); cancel() may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <string>
#include <thread>
#include <vector>

#include "server/binlog/gtid_tracker.h"
#include "server/common/logging.h"
#include "server/common/position.h"
#include "server/replica/binlog_dump.h"
#include "server/replica/transaction_tracker.h"

namespace canal::replica {

struct ReconnectPolicy {
  std::chrono::milliseconds initialDelay{100};
  std::chrono::milliseconds maxDelay{5000};
  int maxAttempts = 0;  // 0: keep trying until cancelled
  // Consecutive failed connections to one server before moving to the next address
  // (canal.instance.detecting.retry.threshold); only with a standby.
  int failoverAfter = 3;
  // Resuming on another server by time starts this much earlier (fallbackIntervalInSeconds).
  std::chrono::seconds fallbackInterval{60};
};

// canal.instance.detecting.*: the server the stream reads from is probed with `sql` on a
// connection of its own; after `retryThreshold` failures in a row it counts as down.
struct DetectingOptions {
  std::string sql = "select 1";
  std::chrono::milliseconds interval{3000};
  int retryThreshold = 3;
};

class ReplicaStream {
 public:
  ReplicaStream(mysql::ConnectOptions connect, DumpOptions dump, DumpStart start, ReconnectPolicy policy = {});
  ~ReplicaStream();

  // A server to move to when the current one stays unreachable (canal.instance.standby.address).
  // There the stream resumes by MariaDB GTID when it has one, else by time.
  void addStandby(mysql::ConnectOptions standby) { addresses_.push_back(std::move(standby)); }
  // The address the stream reads from now (0 = the primary).
  std::size_t currentAddress() const { return current_; }

  // Probes the current server with the detecting SQL from a thread of its own. When it counts
  // the server as down (a hung or unreachable primary whose dump link may still look open),
  // the stream drops its link and moves to the next address. Call before the first next().
  void enableDetecting(DetectingOptions options);
  // Detecting SQL runs that failed (timed out, refused, errored).
  std::uint64_t detectingFailures() const { return detectingFailures_; }

  // The next event, across reconnections. Errors: the primary's (1236 and such) and
  // Aborted after cancel().
  Result<DumpEvent> next();

  // The last transaction boundary seen (empty file before the first one).
  const CommitPosition& committed() const { return committed_; }
  const binlog::FormatDescription& format() const;
  int reconnects() const { return reconnects_; }
  // Heartbeats received: a quiet primary sends one every DumpOptions::heartbeatSeconds; three
  // missed ones in a row count as a lost link (the read times out and the stream reconnects).
  std::uint64_t heartbeats() const { return heartbeats_; }
  void cancel();
  // While the link is down and being re-established: why (the loss, then each failed attempt),
  // and since when (wall-clock ms); OK while connected. Thread-safe.
  Status linkError(std::int64_t* sinceMs = nullptr) const;
  // Drops the current link, as a network cut would: the stream reconnects and carries on.
  void interrupt();

 private:
  Status connect(bool resume);
  void detect(std::stop_token stop);
  // Notes transaction framing; true when `e` ends a transaction.
  bool noteBoundary(const DumpEvent& e);
  void setLinkError(Status s);

  std::vector<mysql::ConnectOptions> addresses_;
  std::atomic<std::size_t> current_{0};
  std::size_t committedAddress_ = 0;  // the server committed_ was read from
  DumpOptions dumpOptions_;
  DumpStart start_;
  ReconnectPolicy policy_;
  std::unique_ptr<BinlogDump> dump_;
  std::mutex dumpMutex_;  // guards dump_ against cancel()
  std::atomic<bool> cancelled_{false};

  CommitPosition committed_;
  TransactionTracker tracker_;
  // The executed GTIDs; MySQL's set is whole only when the stream saw a file's PREVIOUS_GTIDS
  // (or started from a GTID set).
  binlog::GtidTracker gtids_;
  // The last event handed out: after a reconnect, events up to it are not handed out again.
  std::string deliveredFile_;
  std::uint64_t deliveredPosition_ = 0;
  std::size_t deliveredInTransaction_ = 0;  // events handed out since the last boundary
  bool skipping_ = false;
  std::size_t skipCount_ = 0;  // on another server: events of the interrupted transaction to pass over
  int reconnects_ = 0;
  RepeatFilter connectFailures_;  // a primary that stays down is logged once a minute
  mutable std::mutex linkMutex_;
  Status linkError_;
  std::int64_t linkDownSinceMs_ = 0;
  std::atomic<std::uint64_t> heartbeats_{0};

  DetectingOptions detecting_;
  std::atomic<std::uint64_t> detectingFailures_{0};
  // The address the detecting SQL found down, to be left at the next connection; npos: none.
  std::atomic<std::size_t> downAddress_{static_cast<std::size_t>(-1)};
  std::mutex detectMutex_;
  std::condition_variable_any detectWake_;
  std::jthread detector_;  // last: stopped and joined before the members it reads go
};

}  // namespace canal::replica
