#include "server/replica/replica_stream.h"

#include <cctype>
#include <thread>

#include "server/binlog/event_type.h"
#include "server/binlog/events.h"

namespace canal::replica {
namespace {

// The first keyword of a statement, upper-cased.
std::string firstWord(std::string_view sql) {
  std::size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  std::string w;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) {
    w.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i]))));
    ++i;
  }
  return w;
}

}  // namespace

ReplicaStream::ReplicaStream(mysql::ConnectOptions connect, DumpOptions dump, DumpStart start, ReconnectPolicy policy)
    : connectOptions_(std::move(connect)), dumpOptions_(dump), start_(std::move(start)), policy_(policy) {}

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
  DumpStart from = start_;
  if (resume && !committed_.file.empty()) from = DumpStart::at(committed_.file, committed_.position);
  auto connection = mysql::MysqlConnection::connect(connectOptions_);
  if (!connection) return connection.status();
  auto dump = BinlogDump::open(std::move(*connection), dumpOptions_, from);
  if (!dump) return dump.status();
  std::lock_guard<std::mutex> lock(dumpMutex_);
  dump_ = std::move(*dump);
  if (cancelled_) dump_->cancel();
  // Events of the interrupted transaction already handed out come again: pass over them.
  skipping_ = resume && !deliveredFile_.empty();
  inTransaction_ = false;
  return Status::ok();
}

void ReplicaStream::noteBoundary(const DumpEvent& e) {
  const auto type = e.raw.header.type;
  bool boundary = false;
  if (type == binlog::kMariaGtidEvent) {
    auto g = binlog::decodeMariaGtid(e.raw.body, "gtid");
    if (g) {
      pendingMariaGtid_ = std::to_string(g->domainId) + "-" + std::to_string(e.raw.header.serverId) + "-" +
                          std::to_string(g->sequence);
      inTransaction_ = !g->standalone();
    }
  } else if (type == binlog::kXidEvent || type == binlog::kXaPrepareLogEvent) {
    boundary = true;
  } else if (type == binlog::kQueryEvent || type == binlog::kMariaQueryCompressedEvent) {
    auto q = binlog::decodeQuery(e.raw.body, format(), type == binlog::kMariaQueryCompressedEvent, "query");
    if (q) {
      const std::string word = firstWord(q->query);
      if (word == "BEGIN" || (word == "XA" && firstWord(std::string_view(q->query).substr(3)) == "START")) {
        inTransaction_ = true;
      } else if (word == "COMMIT" || word == "ROLLBACK" || !inTransaction_) {
        boundary = true;  // COMMIT of a non-transactional group, or DDL and other lone statements
      }
    }
  } else if (type == binlog::kTransactionPayloadEvent) {
    boundary = true;  // a whole compressed transaction
  }
  if (boundary) {
    inTransaction_ = false;
    committed_.file = e.file;
    committed_.position = e.nextPosition;
    committed_.timestamp = e.raw.header.timestamp;
    committed_.serverId = e.raw.header.serverId;
    if (!pendingMariaGtid_.empty()) committed_.mariaGtid = pendingMariaGtid_;
  }
}

Result<DumpEvent> ReplicaStream::next() {
  auto delay = policy_.initialDelay;
  int attempts = 0;
  for (;;) {
    if (cancelled_) return Status::aborted("replica stream cancelled");
    if (!dump_) {
      const Status s = connect(reconnects_ > 0 || attempts > 0);
      if (!s.isOk()) {
        if (s.code() != StatusCode::kUnavailable) return s;
        if (policy_.maxAttempts > 0 && ++attempts >= policy_.maxAttempts) return s;
        std::this_thread::sleep_for(delay);
        delay = std::min(delay * 2, policy_.maxDelay);
        continue;
      }
    }
    auto event = dump_->next();
    if (!event) {
      if (cancelled_) return Status::aborted("replica stream cancelled");
      if (event.status().code() != StatusCode::kUnavailable) return event.status();
      // The link dropped: reconnect from the last boundary.
      {
        std::lock_guard<std::mutex> lock(dumpMutex_);
        dump_.reset();
      }
      ++reconnects_;
      continue;
    }
    attempts = 0;
    delay = policy_.initialDelay;
    if (!event->artificial) {
      if (skipping_) {
        if (event->file == deliveredFile_ && event->nextPosition <= deliveredPosition_) {
          noteBoundary(*event);
          continue;
        }
        skipping_ = false;
      }
      deliveredFile_ = event->file;
      deliveredPosition_ = event->nextPosition;
      noteBoundary(*event);
    }
    return event;
  }
}

}  // namespace canal::replica
