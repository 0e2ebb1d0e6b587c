#include "server/replica/binlog_dump.h"

#include "server/binlog/event_type.h"
#include "server/binlog/events.h"
#include "server/common/byte_writer.h"
#include "server/common/gtid_set.h"

namespace canal::replica {
namespace {

constexpr std::uint8_t kComBinlogDump = 0x12;
constexpr std::uint8_t kComRegisterSlave = 0x15;
constexpr std::uint8_t kComBinlogDumpGtid = 0x1e;
constexpr std::uint16_t kLogEventArtificial = 0x20;

void putShortString(std::string& s, std::string_view v) {
  if (v.size() > 255) v = v.substr(0, 255);
  s.push_back(static_cast<char>(v.size()));
  s.append(v);
}


}  // namespace

DumpStart DumpStart::at(std::string file, std::uint64_t position) {
  DumpStart s;
  s.kind = Kind::kFilePosition;
  s.file = std::move(file);
  s.position = position;
  return s;
}

DumpStart DumpStart::mariaGtid(std::string state) {
  DumpStart s;
  s.kind = Kind::kMariaGtid;
  s.gtid = std::move(state);
  return s;
}

DumpStart DumpStart::mysqlGtid(std::string set) {
  DumpStart s;
  s.kind = Kind::kMysqlGtid;
  s.gtid = std::move(set);
  return s;
}

std::string DumpStart::toString() const {
  switch (kind) {
    case Kind::kFilePosition: return file + ":" + std::to_string(position);
    case Kind::kMariaGtid: return "MariaDB GTID " + gtid;
    case Kind::kMysqlGtid: return "GTID set " + gtid;
  }
  return {};
}

BinlogDump::BinlogDump(std::unique_ptr<mysql::MysqlConnection> connection, const DumpOptions& options)
    : connection_(std::move(connection)),
      options_(options),
      framer_("dump", binlog::EventStreamOptions{options.verifyChecksum}) {}

Result<std::unique_ptr<BinlogDump>> BinlogDump::open(std::unique_ptr<mysql::MysqlConnection> connection,
                                                     const DumpOptions& options, const DumpStart& start) {
  std::unique_ptr<BinlogDump> d(new BinlogDump(std::move(connection), options));
  d->start_ = start;
  mysql::MysqlConnection& c = *d->connection_;
  const std::string where = c.peer();

  // Session settings a replica uses: long timeouts, raw bytes, and the checksum it can check.
  for (const char* sql : {"SET wait_timeout=9999999", "SET net_write_timeout=7200", "SET net_read_timeout=7200",
                          "SET NAMES 'binary'"}) {
    CANAL_RETURN_IF_ERROR(c.execute(sql).withContext("preparing the replication session"));
  }
  auto checksum = c.queryValue("SELECT @@global.binlog_checksum");
  binlog::ChecksumAlgorithm algorithm = binlog::ChecksumAlgorithm::kNone;
  if (checksum && checksum->has_value()) {
    CANAL_RETURN_IF_ERROR(c.execute("SET @master_binlog_checksum = @@global.binlog_checksum"));
    if (**checksum == "CRC32") algorithm = binlog::ChecksumAlgorithm::kCrc32;
  }  // servers before 5.6.2 have no binlog_checksum: no checksums
  if (c.isMariaDb()) {
    // 4 = MARIA_SLAVE_CAPABILITY_GTID: the primary sends GTID, binlog checkpoint and annotate
    // events as they are instead of replacing them for an old replica.
    CANAL_RETURN_IF_ERROR(c.execute("SET @mariadb_slave_capability = 4"));
  }
  if (options.heartbeatSeconds > 0) {
    CANAL_RETURN_IF_ERROR(c.execute("SET @master_heartbeat_period = " +
                                    std::to_string(std::uint64_t(options.heartbeatSeconds) * 1000000000ull)));
  }
  d->framer_ = binlog::EventFramer(where, binlog::EventStreamOptions{options.verifyChecksum}, algorithm);

  std::string reg;
  appendLe(reg, options.slaveId, 4);
  putShortString(reg, options.reportHost);
  putShortString(reg, "");
  putShortString(reg, "");
  appendLe(reg, 0, 2);
  appendLe(reg, 0, 4);
  appendLe(reg, 0, 4);
  CANAL_RETURN_IF_ERROR(c.sendCommand(kComRegisterSlave, reg, true).withContext("COM_REGISTER_SLAVE"));

  // BINLOG_SEND_ANNOTATE_ROWS_EVENT: MariaDB sends the SQL of row changes (ANNOTATE_ROWS, on
  // by default there), which Canal turns into QUERY entries.
  const std::uint16_t annotateFlag = c.isMariaDb() ? 2 : 0;
  std::string dump;
  switch (start.kind) {
    case DumpStart::Kind::kMariaGtid:
      if (!c.isMariaDb()) return Status::invalidArgument("a MariaDB GTID position needs a MariaDB primary", where);
      CANAL_RETURN_IF_ERROR(c.execute("SET @slave_connect_state = " + mysql::MysqlConnection::quote(start.gtid)));
      CANAL_RETURN_IF_ERROR(c.execute("SET @slave_gtid_strict_mode = 0"));
      CANAL_RETURN_IF_ERROR(c.execute("SET @slave_gtid_ignore_duplicates = 0"));
      appendLe(dump, 4, 4);
      appendLe(dump, annotateFlag, 2);
      appendLe(dump, options.slaveId, 4);
      CANAL_RETURN_IF_ERROR(c.sendCommand(kComBinlogDump, dump, false).withContext("COM_BINLOG_DUMP"));
      break;
    case DumpStart::Kind::kFilePosition:
      if (start.position > 0xffffffffull) {
        return Status::invalidArgument("position " + std::to_string(start.position) + " is beyond 4 GiB", where);
      }
      appendLe(dump, static_cast<std::uint32_t>(start.position), 4);
      appendLe(dump, annotateFlag, 2);
      appendLe(dump, options.slaveId, 4);
      dump += start.file;
      d->file_ = start.file;
      CANAL_RETURN_IF_ERROR(c.sendCommand(kComBinlogDump, dump, false).withContext("COM_BINLOG_DUMP"));
      break;
    case DumpStart::Kind::kMysqlGtid: {
      auto set = MysqlGtidSet::parse(start.gtid);
      if (!set) return set.status();
      const std::string encoded = set->encode();
      appendLe(dump, 0x04, 2);  // BINLOG_THROUGH_GTID
      appendLe(dump, options.slaveId, 4);
      appendLe(dump, 0, 4);     // no file name
      appendLe(dump, 4, 8);
      appendLe(dump, static_cast<std::uint32_t>(encoded.size()), 4);
      dump += encoded;
      CANAL_RETURN_IF_ERROR(c.sendCommand(kComBinlogDumpGtid, dump, false).withContext("COM_BINLOG_DUMP_GTID"));
      break;
    }
  }
  return d;
}

Result<DumpEvent> BinlogDump::next() {
  for (;;) {
    auto packet = connection_->readPacket();
    if (!packet) {
      return packet.status().withContext("binlog dump from " + start_.toString());
    }
    std::string_view p = *packet;
    if (p.empty()) return Status::corruption(connection_->peer(), "empty packet in the binlog stream");
    const auto marker = static_cast<std::uint8_t>(p[0]);
    if (marker == 0xfe && p.size() < 9) {
      return Status::unavailable("the primary ended the binlog stream", connection_->peer());
    }
    if (marker != 0x00) {
      return Status::corruption(connection_->peer(), "binlog stream packet starts with " + std::to_string(marker));
    }
    p.remove_prefix(1);
    auto raw = framer_.frame(p, position_);
    if (!raw) return raw.status();
    DumpEvent e;
    e.raw = *raw;
    e.artificial = (raw->header.flags & kLogEventArtificial) != 0 || raw->header.logPos == 0 ||
                   raw->header.type == binlog::kHeartbeatLogEvent || raw->header.type == binlog::kHeartbeatLogEventV2;
    if (raw->header.type == binlog::kRotateEvent) {
      auto rotate = binlog::decodeRotate(raw->body, framer_.format(), connection_->peer());
      if (!rotate) return rotate.status();
      file_ = rotate->nextFile;
      position_ = rotate->position;
      framer_.setName(connection_->peer() + " " + file_);
      e.file = file_;
      e.nextPosition = rotate->position;
      return e;
    }
    e.file = file_;
    if (!e.artificial) {
      position_ = raw->header.logPos;
      e.raw.offset = raw->header.logPos - raw->header.eventSize;
      e.nextPosition = raw->header.logPos;
    }
    return e;
  }
}

}  // namespace canal::replica
