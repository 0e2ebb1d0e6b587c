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

// Something that changed where the stream reads, for people (/status, the log).
struct StreamNotice {
  std::int64_t timeMs = 0;  // wall clock
  std::string what;
};

// The reason the server's binlog list `logs` ({name, size}, oldest first, as SHOW BINARY LOGS
// gives it) shows that its binlog was started again (RESET MASTER, a restored backup) while the
// stream read `file` up to `position`: the file is gone and no newer one exists, or it is
// shorter than what was read of it. nullopt otherwise (a purged older file is not a restart).
// The server refused the dump's position (error 1236: purged, invalid, a log it cannot find).
bool isPositionRefused(const Status& s);

std::optional<std::string> binlogStartedAgain(const std::vector<std::pair<std::string, std::uint64_t>>& logs,
                                              const std::string& file, std::uint64_t position);

class ReplicaStream {
 public:
  ReplicaStream(mysql::ConnectOptions connect, DumpOptions dump, DumpStart start, ReconnectPolicy policy = {});
  ~ReplicaStream();

  // A server to move to when the current one stays unreachable (canal.instance.standby.address).
  // There the stream resumes by MariaDB GTID when it has one, else by time.
  void addStandby(mysql::ConnectOptions standby) { addresses_.push_back(std::move(standby)); }
  // The address the stream reads from now (0 = the primary).
  std::size_t currentAddress() const { return current_; }
  // Starts on `address` (an index as above) instead of the primary: a stream started again after
  // one that had switched to the standby goes on there, where its positions are. Call before the
  // first next().
  void startAt(std::size_t address) {
    if (address < addresses_.size()) current_ = committedAddress_ = address;
  }

  // Probes the current server with the detecting SQL from a thread of its own. When it counts
  // the server as down (a hung or unreachable primary whose dump link may still look open),
  // the stream drops its link and moves to the next address. Call before the first next().
  void enableDetecting(DetectingOptions options);
  // Detecting SQL runs that failed (timed out, refused, errored).
  std::uint64_t detectingFailures() const { return detectingFailures_; }
  // Checks every `interval`, from a thread of its own, that the server read still has the
  // binlog the stream reads (binlogStartedAgain). When its binlog was started again, the
  // stream follows the new binlog from its first file's start (a notice and an error in the
  // log say so). Call before the first next().
  void watchBinlog(std::chrono::milliseconds interval);
  // host:port of the server read now, and what changed where the stream reads, oldest first
  // (switches to another address, binlogs started again). Thread-safe.
  std::string reading() const;
  std::vector<StreamNotice> notices() const;

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
  void watch(std::stop_token stop);
  // One detecting SQL run; `failures` counts those in a row.
  void probe(std::unique_ptr<mysql::MysqlConnection>& connection, std::size_t address, int& failures);
  // One look at the server's binlog list against where the stream read.
  void checkBinlog(std::unique_ptr<mysql::MysqlConnection>& connection, std::size_t address);
  // True, with the restart set up, noticed and logged, when the binlog list of `address` shows
  // its binlog started again after `file`:`position`.
  bool detectRestart(std::unique_ptr<mysql::MysqlConnection>& connection, std::size_t address,
                     const std::string& file, std::uint64_t position);
  void notice(std::string what);
  void startWatcher();  // the watch thread, when something is to be watched (first next())
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
  DumpStart connectedFrom_;  // where the last connection's dump started
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

  std::optional<DetectingOptions> detecting_;
  std::optional<std::chrono::milliseconds> binlogCheck_;
  std::atomic<std::uint64_t> detectingFailures_{0};
  // Where the stream read to (file, next position), for the binlog check; and the first file of
  // a binlog started again, to be read from its start at the next connection (empty: none).
  mutable std::mutex readMutex_;
  std::string readFile_;
  std::uint64_t readPosition_ = 0;
  std::string restartFrom_;
  std::vector<StreamNotice> notices_;
  // The address the detecting SQL found down, to be left at the next connection; npos: none.
  std::atomic<std::size_t> downAddress_{static_cast<std::size_t>(-1)};
  std::mutex detectMutex_;
  std::condition_variable_any detectWake_;
  std::jthread watcher_;  // last: stopped and joined before the members it reads go
};

}  // namespace canal::replica
