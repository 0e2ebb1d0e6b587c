// canal-binlog: decodes binlog files offline.
//
//   canal-binlog [options] FILE...  one FlatMessage JSON line per row-change, DDL or statement
//                                   entry, values rendered as Canal renders them
//   canal-binlog --events FILE...   one JSON line per event: type, code, position, size, server id,
//                                   timestamp and the event's decoded fields
//
// Options for FlatMessage output:
//   --time-zone=ZONE   zone of TIMESTAMP values: SYSTEM (default, as Canal's JVM), UTC, +08:00
//   --exact-decimal    print DECIMAL with exactly its scale (Canal drops trailing zero groups)
//   --column-charset   decode latin1 columns from their charset (Canal assumes UTF-8)
//
// A truncated or corrupt file prints what decoded, then one line "canal-binlog: <file>:<offset>:
// <reason>" on stderr, and the exit code is 2.

#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/binlog/event_decoder.h"
#include "server/binlog/event_type.h"
#include "server/common/mapped_file.h"
#include "server/convert/binlog_changes.h"
#include "server/convert/flat_message.h"

namespace {

using canal::binlog::EventBody;
using canal::binlog::EventStream;
using canal::binlog::RawEvent;
using nlohmann::json;

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

// The decoded fields of an event body.
struct Fields {
  json& out;
  void operator()(const std::monostate&) const {}
  void operator()(const canal::binlog::FormatDescription& f) const {
    out["binlogVersion"] = f.binlogVersion;
    out["serverVersion"] = f.serverVersion;
    out["createTimestamp"] = f.createTimestamp;
    out["headerLength"] = f.headerLength;
    out["checksum"] = f.checksum == canal::binlog::ChecksumAlgorithm::kCrc32 ? "CRC32" : "NONE";
  }
  void operator()(const canal::binlog::QueryEvent& q) const {
    out["threadId"] = q.threadId;
    out["execTime"] = q.execTime;
    out["errorCode"] = q.errorCode;
    out["database"] = q.database;
    out["query"] = q.query;
    if (q.clientCharset) out["charsetClient"] = *q.clientCharset;
    if (q.connectionCollation) out["collationConnection"] = *q.connectionCollation;
    if (q.serverCollation) out["collationServer"] = *q.serverCollation;
    if (q.sqlMode) out["sqlMode"] = *q.sqlMode;
    if (!q.timeZone.empty()) out["timeZone"] = q.timeZone;
    if (q.ddlXid) out["ddlXid"] = *q.ddlXid;
    if (q.mariaXid) out["xid"] = *q.mariaXid;
  }
  void operator()(const canal::binlog::RotateEvent& r) const {
    out["nextFile"] = r.nextFile;
    out["nextPosition"] = r.position;
  }
  void operator()(const canal::binlog::XidEvent& x) const { out["xid"] = x.xid; }
  void operator()(const canal::binlog::IntvarEvent& i) const {
    out["intvarType"] = i.type == 1 ? "LAST_INSERT_ID" : i.type == 2 ? "INSERT_ID" : "INVALID";
    out["value"] = i.value;
  }
  void operator()(const canal::binlog::RandEvent& r) const {
    out["seed1"] = r.seed1;
    out["seed2"] = r.seed2;
  }
  void operator()(const canal::binlog::UserVarEvent& u) const {
    out["name"] = u.name;
    out["isNull"] = u.isNull;
    if (!u.isNull) {
      out["valueType"] = u.valueType;
      out["charset"] = u.charset;
      out["valueHex"] = hex(u.value);
      out["unsigned"] = (u.flags & 1) != 0;
    }
  }
  void operator()(const canal::binlog::IncidentEvent& i) const {
    out["incident"] = i.incident;
    out["message"] = i.message;
  }
  void operator()(const canal::binlog::HeartbeatEvent& h) const {
    out["logFile"] = h.logFile;
    if (h.position) out["logPosition"] = h.position;
  }
  void operator()(const canal::binlog::GtidEvent& g) const {
    out["gtid"] = g.gtid();
    out["flags"] = g.flags;
    if (g.lastCommitted) out["lastCommitted"] = *g.lastCommitted;
    if (g.sequenceNumber) out["sequenceNumber"] = *g.sequenceNumber;
    if (g.immediateCommitTimestamp) out["immediateCommitTimestamp"] = *g.immediateCommitTimestamp;
    if (g.originalCommitTimestamp) out["originalCommitTimestamp"] = *g.originalCommitTimestamp;
    if (g.transactionLength) out["transactionLength"] = *g.transactionLength;
    if (!g.tag.empty()) out["tag"] = g.tag;
    if (g.immediateServerVersion) out["immediateServerVersion"] = *g.immediateServerVersion;
  }
  void operator()(const canal::binlog::PreviousGtidsEvent& p) const { out["gtidSet"] = p.gtidSet; }
  void operator()(const canal::binlog::MariaGtidEvent& g) const {
    out["domainId"] = g.domainId;
    out["sequence"] = g.sequence;
    out["flags"] = g.flags;
    out["standalone"] = g.standalone();
    if (g.commitId) out["commitId"] = *g.commitId;
    if (!g.xid.empty()) out["xidHex"] = hex(g.xid);
  }
  void operator()(const canal::binlog::MariaGtidListEvent& l) const { out["gtidList"] = l.toString(); }
  void operator()(const canal::binlog::BinlogCheckpointEvent& c) const { out["file"] = c.file; }
  void operator()(const canal::binlog::RowsQueryEvent& q) const { out["query"] = q.query; }
  void operator()(const canal::binlog::XaPrepareEvent& x) const {
    out["onePhase"] = x.onePhase;
    out["formatId"] = x.formatId;
    out["gtridHex"] = hex(x.gtrid);
    out["bqualHex"] = hex(x.bqual);
  }
  void operator()(const canal::binlog::LoadBlockEvent& b) const {
    out["fileId"] = b.fileId;
    out["blockSize"] = b.size;
  }
  void operator()(const canal::binlog::ExecuteLoadQueryEvent& e) const {
    (*this)(e.query);
    out["fileId"] = e.fileId;
    out["fileNameStart"] = e.fileNameStart;
    out["fileNameEnd"] = e.fileNameEnd;
    out["duplicates"] = e.duplicates == 0 ? "ERROR" : e.duplicates == 1 ? "IGNORE" : "REPLACE";
  }
  void operator()(const canal::binlog::TransactionPayloadEvent& p) const {
    out["compression"] = p.compressionType == 0 ? "ZSTD" : "NONE";
    out["payloadSize"] = p.payloadSize;
    out["uncompressedSize"] = p.uncompressedSize;
  }
};

json header(const RawEvent& e) {
  json j;
  j["type"] = canal::binlog::eventTypeName(e.header.type);
  j["code"] = e.header.type;
  j["pos"] = e.offset;
  j["size"] = e.header.eventSize;
  j["serverId"] = e.header.serverId;
  j["timestamp"] = e.header.timestamp;
  j["logPos"] = e.header.logPos;
  j["flags"] = e.header.flags;
  return j;
}

void print(const json& j) { std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << '\n'; }

// Prints every event of `stream`; returns the first error.
canal::Status printEvents(EventStream& stream, const char* innerOf) {
  RawEvent e;
  while (true) {
    auto more = stream.next(e);
    if (!more) return more.status();
    if (!*more) return canal::Status::ok();
    json j = header(e);
    if (innerOf) j["inside"] = innerOf;
    auto body = canal::binlog::decodeEventBody(e, stream.format(), stream.where(e.offset));
    if (!body) return body.status();
    std::visit(Fields{j}, *body);
    print(j);
    if (auto* payload = std::get_if<canal::binlog::TransactionPayloadEvent>(&*body)) {
      const std::string where = stream.where(e.offset);
      EventStream inner = EventStream::forPayload(payload->payload, where + " payload", stream.format());
      CANAL_RETURN_IF_ERROR(printEvents(inner, "TRANSACTION_PAYLOAD_EVENT"));
    }
  }
}

// Prints the FlatMessage of every entry of `data`; returns the first error.
canal::Status printEntries(canal::MappedFile& file, const std::string& name, const canal::convert::RenderOptions& options,
                           std::int64_t& id) {
  canal::convert::BinlogChangeReader reader(file.data(), name, options);
  canal::convert::ChangeEntry entry;
  std::string line;
  while (true) {
    auto more = reader.next(entry);
    if (!more) return more.status();
    if (!*more) return canal::Status::ok();
    file.consumedUpTo(reader.offset());  // bounded memory on large files
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    line.clear();
    canal::convert::appendFlatMessage(line, entry, ++id, now);
    line.push_back('\n');
    std::cout << line;
  }
}

int usage() {
  std::cerr << "usage: canal-binlog [--events] [--time-zone=ZONE] [--exact-decimal] [--column-charset] FILE...\n"
               "  (default)          one FlatMessage JSON line per row-change, DDL or statement entry\n"
               "  --events           one JSON line per event with its decoded fields\n"
               "  --time-zone=ZONE   zone of TIMESTAMP values: SYSTEM (default), UTC, +08:00\n"
               "  --exact-decimal    DECIMAL with exactly its scale (Canal drops trailing zero groups)\n"
               "  --column-charset   decode latin1 columns from their charset (Canal assumes UTF-8)\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  bool events = false;
  canal::convert::RenderOptions options;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--events") {
      events = true;
    } else if (arg == "--exact-decimal") {
      options.decimal = canal::binlog::DecimalStyle::kExact;
    } else if (arg == "--column-charset") {
      options.convertColumnCharset = true;
    } else if (arg.rfind("--time-zone=", 0) == 0) {
      auto zone = canal::convert::TimeZone::parse(arg.substr(12));
      if (!zone) {
        std::cerr << "canal-binlog: " << zone.status().message() << '\n';
        return 64;
      }
      options.timeZone = *zone;
    } else if (arg.rfind("--", 0) == 0) {
      return usage();
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) return usage();
  std::int64_t id = 0;
  int rc = 0;
  for (const auto& file : files) {
    auto mapped = canal::MappedFile::open(file);
    if (!mapped) {
      std::cerr << "canal-binlog: " << file << ": " << mapped.status().message() << '\n';
      rc = 1;
      continue;
    }
    canal::Status status;
    if (events) {
      EventStream stream(mapped->data(), file);
      status = printEvents(stream, nullptr);
    } else {
      status = printEntries(*mapped, file, options, id);
    }
    if (!status.isOk()) {
      std::cout.flush();
      std::cerr << "canal-binlog: " << (status.where().empty() ? file : status.where()) << ": " << status.message()
                << '\n';
      rc = 2;
    }
  }
  return rc;
}
