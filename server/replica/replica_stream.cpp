#include "server/replica/replica_stream.h"

#include <algorithm>
#include <thread>

#include <spdlog/spdlog.h>

#include "server/binlog/event_type.h"
#include "server/binlog/events.h"
#include "server/common/clock.h"
#include "server/common/logging.h"
#include "server/common/thread_name.h"
#include "server/replica/start_position.h"

namespace canal::replica {

ReplicaStream::ReplicaStream(mysql::ConnectOptions connect, DumpOptions dump, DumpStart start, ReconnectPolicy policy)
    : addresses_{std::move(connect)}, dumpOptions_(dump), start_(std::move(start)), policy_(policy) {
  if (start_.kind == DumpStart::Kind::kMysqlGtid && !gtids_.start(start_.gtid).isOk()) gtids_ = {};
}

ReplicaStream::~ReplicaStream() {
  if (detector_.joinable()) {
    detector_.request_stop();
    detector_.join();
  }
}

void ReplicaStream::enableDetecting(DetectingOptions options) {
  detecting_ = std::move(options);
  if (detecting_.retryThreshold < 1) detecting_.retryThreshold = 1;
  detector_ = std::jthread([this](std::stop_token stop) {
    nameThisThread("detect");
    detect(stop);
  });
}

void ReplicaStream::detect(std::stop_token stop) {
  std::unique_ptr<mysql::MysqlConnection> probe;
  std::size_t probed = current_;
  int failures = 0;
  const int timeout = std::max<int>(1, static_cast<int>(
                                           std::chrono::duration_cast<std::chrono::seconds>(detecting_.interval).count()));
  while (!stop.stop_requested()) {
    const std::size_t address = current_;
    if (address != probed) {  // the stream moved: probe its new server
      probe.reset();
      probed = address;
      failures = 0;
    }
    Status result = Status::ok();
    if (!probe) {
      mysql::ConnectOptions options = addresses_[address];
      options.connectTimeoutSeconds = timeout;
      options.readTimeoutSeconds = timeout;
      auto c = mysql::MysqlConnection::connect(options);
      if (c) probe = std::move(*c);
      else result = c.status();
    }
    if (probe) {
      auto rows = probe->query(detecting_.sql);
      if (!rows) result = rows.status();
    }
    if (!result.isOk()) {
      probe.reset();
      ++detectingFailures_;
      ++failures;
      moduleLogger("replica")->warn("detecting SQL '{}' failed on {}:{} ({} of {}): {}", detecting_.sql, addresses_[address].host,
                     addresses_[address].port, failures, detecting_.retryThreshold, result.toString());
      if (failures >= detecting_.retryThreshold && addresses_.size() > 1) {
        moduleLogger("replica")->error("{}:{} counts as down after {} failed detecting SQL runs; moving to the next address",
                        addresses_[address].host, addresses_[address].port, failures);
        downAddress_ = address;
        interrupt();
        failures = 0;
      }
    } else {
      failures = 0;
    }
    std::unique_lock<std::mutex> lock(detectMutex_);
    detectWake_.wait_for(lock, stop, detecting_.interval, [] { return false; });
  }
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
    committed_.file = e.file;
    committed_.position = e.nextPosition;
    committed_.timestamp = e.raw.header.timestamp;
    committed_.serverId = e.raw.header.serverId;
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
  auto delay = policy_.initialDelay;
  int attempts = 0;
  for (;;) {
    if (cancelled_) return Status::aborted("replica stream cancelled");
    if (!dump_) {
      if (std::size_t down = current_; downAddress_.compare_exchange_strong(down, static_cast<std::size_t>(-1))) {
        current_ = (down + 1) % addresses_.size();  // the detecting SQL found it down
        delay = policy_.initialDelay;
        attempts = 0;
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
          current_ = (current_ + 1) % addresses_.size();  // this one stays down: try the next
          delay = policy_.initialDelay;
          continue;
        }
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, policy_.maxDelay);
        continue;
      }
      if (reconnects_ > 0 || attempts > 0) {
        moduleLogger("replica")->info("reconnected to {}:{}, resuming after {}:{}", address.host, address.port,
                                      committed_.file, committed_.position);
      }
      setLinkError(Status::ok());
    }
    auto event = dump_->next();
    if (!event) {
      if (cancelled_) return Status::aborted("replica stream cancelled");
      if (event.status().code() != StatusCode::kUnavailable) return event.status();
      // The link dropped: reconnect from the last boundary.
      moduleLogger("replica")->warn("link to {}:{} lost: {}; reconnecting", addresses_[current_].host,
                                    addresses_[current_].port, event.status().toString());
      setLinkError(event.status().withContext("link lost, reconnecting"));
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
