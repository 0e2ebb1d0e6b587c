#include "server/replica/replica_stream.h"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "server/binlog/event_type.h"
#include "server/binlog/events.h"
#include "server/common/clock.h"
#include "server/common/logging.h"
#include "server/common/position.h"
#include "server/common/thread_name.h"
#include "server/replica/start_position.h"

namespace canal::replica {

ReplicaStream::ReplicaStream(mysql::ConnectOptions connect, DumpOptions dump, DumpStart start, ReconnectPolicy policy)
    : addresses_{std::move(connect)}, dumpOptions_(dump), start_(std::move(start)), policy_(policy) {
  if (start_.kind == DumpStart::Kind::kMysqlGtid && !gtids_.start(start_.gtid).isOk()) gtids_ = {};
}

ReplicaStream::~ReplicaStream() {
  if (watcher_.joinable()) {
    watcher_.request_stop();
    watcher_.join();
  }
}

bool isPositionRefused(const Status& s) { return s.code() == StatusCode::kPositionRefused; }

std::optional<std::string> binlogStartedAgain(const std::vector<std::pair<std::string, std::uint64_t>>& logs,
                                              const std::string& file, std::uint64_t position) {
  if (logs.empty() || file.empty()) return std::nullopt;
  for (const auto& [name, size] : logs) {
    if (name != file) continue;
    if (size >= position) return std::nullopt;
    return file + " is " + std::to_string(size) + " bytes, shorter than the " + std::to_string(position) +
           " read of it";
  }
  // Gone: purged (older than the files there, the dump will say so) or started again.
  const std::string& newest = logs.back().first;
  if (compareBinlogPoints(file, 0, newest, 0) <= 0) return std::nullopt;
  return file + " is gone and the newest binlog is " + newest;
}

void ReplicaStream::enableDetecting(DetectingOptions options) {
  if (options.retryThreshold < 1) options.retryThreshold = 1;
  detecting_ = std::move(options);
}

void ReplicaStream::watchBinlog(std::chrono::milliseconds interval) { binlogCheck_ = interval; }

void ReplicaStream::startWatcher() {
  if (watcher_.joinable() || (!detecting_ && !binlogCheck_)) return;
  watcher_ = std::jthread([this](std::stop_token stop) {
    nameThisThread("detect");
    watch(stop);
  });
}

std::string ReplicaStream::reading() const {
  const auto& a = addresses_[current_];
  return a.host + ":" + std::to_string(a.port);
}

std::vector<StreamNotice> ReplicaStream::notices() const {
  std::lock_guard<std::mutex> lock(readMutex_);
  return notices_;
}

void ReplicaStream::notice(std::string what) {
  std::lock_guard<std::mutex> lock(readMutex_);
  notices_.push_back(StreamNotice{wallClockMs(), std::move(what)});
  if (notices_.size() > 20) notices_.erase(notices_.begin());
}

void ReplicaStream::watch(std::stop_token stop) {
  std::unique_ptr<mysql::MysqlConnection> prober;
  std::unique_ptr<mysql::MysqlConnection> lister;
  std::size_t watched = current_;
  int failures = 0;
  const auto interval = std::min(detecting_ ? detecting_->interval : std::chrono::milliseconds::max(),
                                 binlogCheck_ ? *binlogCheck_ : std::chrono::milliseconds::max());
  while (!stop.stop_requested()) {
    const std::size_t address = current_;
    if (address != watched) {  // the stream moved: watch its new server
      prober.reset();
      lister.reset();
      watched = address;
      failures = 0;
    }
    if (detecting_) probe(prober, address, failures);
    if (binlogCheck_) checkBinlog(lister, address);
    std::unique_lock<std::mutex> lock(detectMutex_);
    detectWake_.wait_for(lock, stop, interval, [] { return false; });
  }
}

void ReplicaStream::probe(std::unique_ptr<mysql::MysqlConnection>& connection, std::size_t address, int& failures) {
  const int timeout = std::max<int>(
      1, static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(detecting_->interval).count()));
  Status result = Status::ok();
  if (!connection) {
    mysql::ConnectOptions options = addresses_[address];
    options.connectTimeoutSeconds = timeout;
    options.readTimeoutSeconds = timeout;
    auto c = mysql::MysqlConnection::connect(options);
    if (c) connection = std::move(*c);
    else result = c.status();
  }
  if (connection) {
    auto rows = connection->query(detecting_->sql);
    if (!rows) result = rows.status();
  }
  if (result.isOk()) {
    failures = 0;
    return;
  }
  connection.reset();
  ++detectingFailures_;
  ++failures;
  const auto& a = addresses_[address];
  moduleLogger("replica")->warn("detecting SQL '{}' failed on {}:{} ({} of {}): {}", detecting_->sql, a.host, a.port,
                                failures, detecting_->retryThreshold, result.toString());
  if (failures >= detecting_->retryThreshold && addresses_.size() > 1) {
    moduleLogger("replica")->error("{}:{} counts as down after {} failed detecting SQL runs; moving to the next address",
                                   a.host, a.port, failures);
    downAddress_ = address;
    interrupt();
    failures = 0;
  }
}

void ReplicaStream::checkBinlog(std::unique_ptr<mysql::MysqlConnection>& connection, std::size_t address) {
  std::string file;
  std::uint64_t position = 0;
  {
    std::lock_guard<std::mutex> lock(readMutex_);
    if (!restartFrom_.empty()) return;  // a restart is under way
    file = readFile_;
    position = readPosition_;
  }
  if (!file.empty() && detectRestart(connection, address, file, position)) interrupt();
}

bool ReplicaStream::detectRestart(std::unique_ptr<mysql::MysqlConnection>& connection, std::size_t address,
                                  const std::string& file, std::uint64_t position) {
  if (!connection) {
    mysql::ConnectOptions options = addresses_[address];
    options.connectTimeoutSeconds = options.readTimeoutSeconds = 5;
    auto c = mysql::MysqlConnection::connect(options);
    if (!c) return false;  // unreachable: the stream's own link will say so
    connection = std::move(*c);
  }
  auto rows = connection->query("SHOW BINARY LOGS");
  if (!rows) {
    connection.reset();
    return false;
  }
  std::vector<std::pair<std::string, std::uint64_t>> logs;
  for (const auto& row : rows->rows) {
    if (row.size() >= 2 && row[0]) logs.emplace_back(*row[0], std::strtoull(row[1].value_or("0").c_str(), nullptr, 10));
  }
  const auto reason = binlogStartedAgain(logs, file, position);
  if (!reason) return false;
  const auto& a = addresses_[address];
  const std::string what = "the binlog of " + a.host + ":" + std::to_string(a.port) +
                           " was started again (RESET MASTER or a restored backup): " + *reason +
                           "; following the new binlog from " + logs.front().first + ":4";
  {
    std::lock_guard<std::mutex> lock(readMutex_);
    if (!restartFrom_.empty()) return true;  // noticed already
    restartFrom_ = logs.front().first;
  }
  moduleLogger("replica")->error("{}", what);
  notice(what);
  return true;
}

const binlog::FormatDescription& ReplicaStream::format() const {
  static const binlog::FormatDescription kNone;
  return dump_ ? dump_->format() : kNone;
}

void ReplicaStream::cancel() {
  cancelled_ = true;
  std::lock_guard<std::mutex> lock(dumpMutex_);
  if (dump_) dump_->cancel();
}

void ReplicaStream::interrupt() {
  std::lock_guard<std::mutex> lock(dumpMutex_);
  if (dump_) dump_->cancel();
}

Status ReplicaStream::connect(bool resume) {
  const mysql::ConnectOptions& address = addresses_[current_];
  DumpStart from = start_;
  bool sameServer = current_ == committedAddress_;
  if (resume && !committed_.file.empty() && sameServer) {
    from = DumpStart::at(committed_.file, committed_.position);
  } else if (resume && !sameServer) {
    // Another server: its files and positions are its own. Resume after the last committed
    // MariaDB GTID, else by time (a little earlier; Canal does the same).
    if (!committed_.mariaGtid.empty()) {
      from = DumpStart::mariaGtid(committed_.mariaGtid);
    } else if (gtids_.mysqlWhole()) {
      from = DumpStart::mysqlGtid(gtids_.mysqlExecuted());
    } else {
      const std::int64_t ms = (std::int64_t{committed_.timestamp} - policy_.fallbackInterval.count()) * 1000;
      auto found = findByTimestamp(address, ms < 0 ? 0 : ms);
      if (!found) return found.status();
      from = *found;
    }
  }
  mysql::ConnectOptions options = address;
  if (options.readTimeoutSeconds == 0 && dumpOptions_.heartbeatSeconds > 0) {
    options.readTimeoutSeconds = 3 * dumpOptions_.heartbeatSeconds;  // a silent link is a lost link
  }
  auto connection = mysql::MysqlConnection::connect(options);
  if (!connection) return connection.status();
  connectedFrom_ = from;
  auto dump = BinlogDump::open(std::move(*connection), dumpOptions_, from);
  if (!dump) return dump.status();
  std::lock_guard<std::mutex> lock(dumpMutex_);
  dump_ = std::move(*dump);
  if (cancelled_) dump_->cancel();
  // Events of the interrupted transaction already handed out come again: pass over them (by
  // position on the same server, by count on another, where the group starts at its GTID).
  skipping_ = resume && sameServer && !deliveredFile_.empty();
  skipCount_ = resume && !sameServer && from.kind != DumpStart::Kind::kFilePosition ? deliveredInTransaction_ : 0;
  tracker_ = TransactionTracker{};
  if (resume) gtids_.discardPending();  // the interrupted transaction comes again, or not at all
  return Status::ok();
}

bool ReplicaStream::noteBoundary(const DumpEvent& e) {
  const auto type = e.raw.header.type;
  const bool boundary = tracker_.note(e.raw, format()).ends;
  if (type == binlog::kMariaGtidEvent && tracker_.mariaGtid()) {
    gtids_.note(*tracker_.mariaGtid(), e.raw.header.serverId);
  } else if (type == binlog::kGtidLogEvent || type == binlog::kGtidTaggedLogEvent) {
    auto g = type == binlog::kGtidLogEvent ? binlog::decodeGtid(e.raw.body, false, "gtid")
                                           : binlog::decodeGtidTagged(e.raw.body, "gtid");
    if (g) gtids_.note(*g);
  } else if (type == binlog::kPreviousGtidsLogEvent) {
    if (auto p = binlog::decodePreviousGtids(e.raw.body, "previous gtids")) gtids_.note(*p);
  }
  if (boundary) {
    gtids_.commit();
    if (binlogCheck_) {
      std::lock_guard<std::mutex> lock(readMutex_);
      readFile_ = e.file;
      readPosition_ = e.nextPosition;
    }
    committed_.file = e.file;
    committed_.position = e.nextPosition;
    committed_.timestamp = e.raw.header.timestamp;
    committed_.serverId = e.raw.header.serverId;
    if (committedAddress_ != current_ || committed_.source.empty()) {
      committed_.source = addresses_[current_].host + ":" + std::to_string(addresses_[current_].port);
    }
    if (!gtids_.mariaLast().empty()) committed_.mariaGtid = gtids_.mariaLast();
    if (gtids_.mysqlWhole()) committed_.mysqlGtidSet = gtids_.mysqlExecuted();
  }
  return boundary;
}

Status ReplicaStream::linkError(std::int64_t* sinceMs) const {
  std::lock_guard<std::mutex> lock(linkMutex_);
  if (sinceMs) *sinceMs = linkDownSinceMs_;
  return linkError_;
}

void ReplicaStream::setLinkError(Status s) {
  std::lock_guard<std::mutex> lock(linkMutex_);
  if (s.isOk()) {
    linkDownSinceMs_ = 0;
  } else if (linkError_.isOk()) {
    linkDownSinceMs_ = wallClockMs();
  }
  linkError_ = std::move(s);
}

Result<DumpEvent> ReplicaStream::next() {
  startWatcher();  // once: the watch's settings are made before the first next()
  auto delay = policy_.initialDelay;
  int attempts = 0;
  for (;;) {
    if (cancelled_) return Status::aborted("replica stream cancelled");
    if (!dump_) {
      if (std::size_t down = current_; downAddress_.compare_exchange_strong(down, static_cast<std::size_t>(-1))) {
        current_ = (down + 1) % addresses_.size();  // the detecting SQL found it down
        notice("the detecting SQL found " + addresses_[down].host + ":" + std::to_string(addresses_[down].port) +
               " down; reading " + reading());
        delay = policy_.initialDelay;
        attempts = 0;
      }
      {
        std::lock_guard<std::mutex> lock(readMutex_);
        if (!restartFrom_.empty()) {
          // The server's binlog started again: its new binlog from the start, as a first start.
          start_ = DumpStart::at(restartFrom_, 4);
          committed_ = CommitPosition{};
          committedAddress_ = current_;
          deliveredFile_.clear();
          deliveredPosition_ = 0;
          deliveredInTransaction_ = 0;
          readFile_.clear();
          restartFrom_.clear();
        }
      }
      const Status s = connect(reconnects_ > 0 || attempts > 0);
      const auto& address = addresses_[current_];
      if (!s.isOk()) {
        if (s.code() != StatusCode::kUnavailable) return s;
        setLinkError(s);
        if (const auto heldBack = connectFailures_.admit(s.toString())) {
          moduleLogger("replica")->warn("cannot reach {}:{}: {}{}; retrying", address.host, address.port, s.toString(),
                                        *heldBack ? " (and " + std::to_string(*heldBack) + " times more)" : "");
        }
        ++attempts;
        if (policy_.maxAttempts > 0 && attempts >= policy_.maxAttempts) return s;
        if (addresses_.size() > 1 && attempts % policy_.failoverAfter == 0) {
          const std::string left = reading();
          current_ = (current_ + 1) % addresses_.size();  // this one stays down: try the next
          notice(left + " stays unreachable; reading " + reading());
          delay = policy_.initialDelay;
          continue;
        }
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, policy_.maxDelay);
        continue;
      }
      if (reconnects_ > 0 || attempts > 0) {
        moduleLogger("replica")->info("reconnected to {}:{}, reading from {}", address.host, address.port,
                                      connectedFrom_.toString());
      }
      setLinkError(Status::ok());
    }
    auto event = dump_->next();
    if (!event) {
      if (cancelled_) return Status::aborted("replica stream cancelled");
      if (event.status().code() != StatusCode::kUnavailable) {
        // The server refuses the position: a binlog started again is followed, anything else
        // (a purged position) is the caller's to report.
        if (isPositionRefused(event.status())) {
          // Where the stream read to (this thread's own committed_), or where it started.
          std::unique_ptr<mysql::MysqlConnection> connection;
          const bool read = !committed_.file.empty();
          const std::string file = read ? committed_.file
                                        : start_.kind == DumpStart::Kind::kFilePosition ? start_.file : std::string();
          const std::uint64_t position = read ? committed_.position : start_.position;
          if (!file.empty() && detectRestart(connection, current_, file, position)) {
            std::lock_guard<std::mutex> lock(dumpMutex_);
            dump_.reset();
            continue;
          }
        }
        return event.status();
      }
      // The link dropped (or the binlog watch dropped it): reconnect from the last boundary.
      bool restarting = false;
      {
        std::lock_guard<std::mutex> lock(readMutex_);
        restarting = !restartFrom_.empty();
      }
      if (!restarting) {
        moduleLogger("replica")->warn("link to {}:{} lost: {}; reconnecting", addresses_[current_].host,
                                      addresses_[current_].port, event.status().toString());
        setLinkError(event.status().withContext("link lost, reconnecting"));
      }
      {
        std::lock_guard<std::mutex> lock(dumpMutex_);
        dump_.reset();
      }
      ++reconnects_;
      continue;
    }
    attempts = 0;
    delay = policy_.initialDelay;
    const auto type = event->raw.header.type;
    if (type == binlog::kHeartbeatLogEvent || type == binlog::kHeartbeatLogEventV2) ++heartbeats_;
    if (!event->artificial) {
      if (skipping_) {
        if (event->file == deliveredFile_ && event->nextPosition <= deliveredPosition_) {
          noteBoundary(*event);
          continue;
        }
        skipping_ = false;
      }
      if (skipCount_ > 0) {
        --skipCount_;
        noteBoundary(*event);
        continue;
      }
      deliveredFile_ = event->file;
      deliveredPosition_ = event->nextPosition;
      const bool boundary = noteBoundary(*event);
      deliveredInTransaction_ = boundary ? 0 : deliveredInTransaction_ + 1;
      if (boundary) committedAddress_ = current_;
    }
    return event;
  }
}

}  // namespace canal::replica
