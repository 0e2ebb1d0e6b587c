#pragma once

// The replication stream from a primary: prepares the session as a replica does (checksum and
// capability negotiation, heartbeat period), registers with COM_REGISTER_SLAVE and dumps from a
// file:position (COM_BINLOG_DUMP), a MariaDB GTID position (@slave_connect_state) or a MySQL GTID
// set (COM_BINLOG_DUMP_GTID). Yields the raw events, framed and CRC-checked, with the binlog file
// and position each one ends at. Thread contract: one thread; cancel() from any thread.

#include <cstdint>
#include <memory>
#include <string>

#include "server/binlog/event_stream.h"
#include "server/common/status.h"
#include "server/mysql/mysql_connection.h"

namespace canal::replica {

struct DumpStart {
  enum class Kind { kFilePosition, kMariaGtid, kMysqlGtid };
  Kind kind = Kind::kFilePosition;
  std::string file;            // kFilePosition
  std::uint64_t position = 4;  // kFilePosition
  std::string gtid;            // kMariaGtid: "0-1-100,1-2-7"; kMysqlGtid: "uuid:1-100,..."

  static DumpStart at(std::string file, std::uint64_t position);
  static DumpStart mariaGtid(std::string state);
  static DumpStart mysqlGtid(std::string set);
  std::string toString() const;
};

struct DumpOptions {
  std::uint32_t slaveId = 1234;  // canal.instance.mysql.slaveId
  int heartbeatSeconds = 15;     // master_heartbeat_period
  bool verifyChecksum = true;
  std::string reportHost = "canal-cpp";
};

struct DumpEvent {
  binlog::RawEvent raw;     // views valid until the next call of next()
  std::string file;         // the binlog file the event is in
  std::uint64_t nextPosition = 0;  // where the next event starts (0 for artificial events)
  bool artificial = false;  // the dump's own ROTATE / FDE / heartbeat, not from the file
};

class BinlogDump {
 public:
  static Result<std::unique_ptr<BinlogDump>> open(std::unique_ptr<mysql::MysqlConnection> connection,
                                                  const DumpOptions& options, const DumpStart& start);

  // Blocks for the next event. Errors: Unavailable when the link is lost, IoError with the
  // server's message for errors it sends (1236: the position is purged or invalid).
  Result<DumpEvent> next();

  const binlog::FormatDescription& format() const { return framer_.format(); }
  unsigned lastErrorCode() const { return connection_->lastErrorCode(); }
  void cancel() { connection_->cancel(); }

 private:
  BinlogDump(std::unique_ptr<mysql::MysqlConnection> connection, const DumpOptions& options);

  std::unique_ptr<mysql::MysqlConnection> connection_;
  DumpOptions options_;
  DumpStart start_;
  binlog::EventFramer framer_;
  std::string file_;
  std::uint64_t position_ = 0;
};

}  // namespace canal::replica
