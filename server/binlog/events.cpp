#include "server/binlog/events.h"

#include <zlib.h>
#include <zstd.h>

#include <cstdio>

#include "server/binlog/event_type.h"
#include "server/common/byte_reader.h"
#include "server/common/gtid_set.h"

namespace canal::binlog {
namespace {

Status truncated(const std::string& where, const char* what) {
  return Status::corruption(where, std::string(what) + " is truncated");
}

// Status variables of a QUERY event. Parsing stops (without error) at a code this decoder does
// not know, since the length of its value cannot be known; the variables before it are kept.
bool readStatusVars(std::string_view vars, QueryEvent& q) {
  ByteReader r(vars);
  while (!r.atEnd()) {
    const std::uint8_t code = r.u8();
    switch (code) {
      case 0: q.flags2 = r.u32(); break;
      case 1: q.sqlMode = r.u64(); break;
      case 2: {  // Q_CATALOG_CODE (5.0): length, text, NUL
        const std::uint8_t n = r.u8();
        r.skip(n + 1u);
        break;
      }
      case 3: r.skip(4); break;  // auto_increment increment and offset
      case 4:
        q.clientCharset = r.u16();
        q.connectionCollation = r.u16();
        q.serverCollation = r.u16();
        break;
      case 5: q.timeZone = std::string(r.bytes(r.u8())); break;
      case 6: r.skip(r.u8()); break;  // catalog
      case 7: r.skip(2); break;       // lc_time_names
      case 8: q.databaseCollation = r.u16(); break;
      case 9: r.skip(8); break;       // table map for update
      case 10: r.skip(4); break;      // master data written
      case 11: {                      // invoker user and host
        r.skip(r.u8());
        r.skip(r.u8());
        break;
      }
      case 12: {  // updated databases
        const std::uint8_t count = r.u8();
        if (count == 254) break;  // more than the maximum: none listed
        for (int i = 0; i < count && !r.failed(); ++i) q.updatedDatabases.emplace_back(r.nulTerminated());
        break;
      }
      case 13: r.skip(3); break;   // microseconds
      case 16: r.skip(1); break;   // explicit_defaults_for_timestamp
      case 17: q.ddlXid = r.u64(); break;
      case 18: r.skip(2); break;   // default_collation_for_utf8mb4
      case 19: r.skip(1); break;   // sql_require_primary_key
      case 20: r.skip(1); break;   // default_table_encryption
      case 128: r.skip(3); break;  // MariaDB Q_HRNOW
      case 129: q.mariaXid = r.u64(); break;
      default: return !r.failed();
    }
  }
  return !r.failed();
}

}  // namespace

std::string GtidEvent::uuid() const { return MysqlGtidSet::uuidText(sid); }
std::string GtidEvent::gtid() const {
  std::string out = uuid();
  out.push_back(':');
  if (!tag.empty()) {
    out += tag;
    out.push_back(':');
  }
  out += std::to_string(gno);
  return out;
}

std::string MariaGtidListEvent::toString() const {
  std::string out;
  for (const auto& g : gtids) {
    if (!out.empty()) out += ',';
    out += std::to_string(g.domainId) + "-" + std::to_string(g.serverId) + "-" + std::to_string(g.sequence);
  }
  return out;
}

Result<std::string> mariaDbUncompress(std::string_view data, const std::string& where, std::uint64_t maxUncompressed) {
  ByteReader r(data);
  const std::uint8_t head = r.u8();
  const std::size_t lengthBytes = head & 0x07;
  if ((head & 0x80) == 0 || lengthBytes == 0 || lengthBytes > 4) {
    return Status::corruption(where, "bad compressed-event header byte " + std::to_string(head));
  }
  const std::uint64_t length = r.uintBe(lengthBytes);
  if (r.failed()) return truncated(where, "compressed event");
  if (length > maxUncompressed) {
    return Status::corruption(where, "compressed event claims " + std::to_string(length) + " bytes uncompressed");
  }
  const std::string_view compressed = r.rest();
  std::string out(length, '\0');
  uLongf outLength = static_cast<uLongf>(length);
  const int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &outLength,
                            reinterpret_cast<const Bytef*>(compressed.data()), static_cast<uLong>(compressed.size()));
  if (rc != Z_OK || outLength != length) {
    return Status::corruption(where, "zlib could not uncompress the event (code " + std::to_string(rc) + ")");
  }
  return out;
}

namespace {

// A QUERY_EVENT-shaped body whose post-header is `postHeader` bytes; `extra` (when given) reads
// the post-header bytes after the 13 of QUERY_EVENT.
template <typename Extra>
Result<QueryEvent> decodeQueryBody(std::string_view body, std::uint8_t postHeader, bool compressed, const char* name,
                                   const std::string& where, Extra extra) {
  ByteReader r(body);
  QueryEvent q;
  q.threadId = r.u32();
  q.execTime = r.u32();
  const std::uint8_t dbLength = r.u8();
  q.errorCode = r.u16();
  std::uint16_t varsLength = 0;
  if (postHeader >= 13) varsLength = r.u16();
  if (postHeader > 13) {
    ByteReader more(r.bytes(postHeader - 13u));
    extra(more);
  }
  const std::string_view vars = r.bytes(varsLength);
  q.database = std::string(r.bytes(dbLength));
  if (r.u8() != 0 && !r.failed()) return Status::corruption(where, std::string(name) + " database name is not NUL-terminated");
  if (r.failed()) return truncated(where, name);
  if (!readStatusVars(vars, q)) return Status::corruption(where, std::string(name) + " status variables are truncated");
  if (compressed) {
    auto text = mariaDbUncompress(r.rest(), where);
    if (!text) return text.status().withContext("QUERY_COMPRESSED_EVENT");
    q.query = std::move(*text);
  } else {
    q.query = std::string(r.rest());
  }
  return q;
}

}  // namespace

Result<QueryEvent> decodeQuery(std::string_view body, const FormatDescription& format, bool compressed,
                               const std::string& where) {
  return decodeQueryBody(body, format.postHeaderLength(kQueryEvent), compressed, "QUERY_EVENT", where,
                         [](ByteReader&) {});
}

Result<ExecuteLoadQueryEvent> decodeExecuteLoadQuery(std::string_view body, const FormatDescription& format,
                                                     const std::string& where) {
  ExecuteLoadQueryEvent e;
  const std::uint8_t postHeader = format.postHeaderLength(kExecuteLoadQueryEvent);
  if (postHeader < 26) return Status::corruption(where, "EXECUTE_LOAD_QUERY post-header is " + std::to_string(postHeader) + " bytes");
  auto q = decodeQueryBody(body, postHeader, false, "EXECUTE_LOAD_QUERY_EVENT", where, [&](ByteReader& more) {
    e.fileId = more.u32();
    e.fileNameStart = more.u32();
    e.fileNameEnd = more.u32();
    e.duplicates = more.u8();
  });
  if (!q) return q.status();
  e.query = std::move(q).value();
  return e;
}

Result<LoadBlockEvent> decodeLoadBlock(std::string_view body, bool begin, const std::string& where) {
  ByteReader r(body);
  LoadBlockEvent e;
  e.begin = begin;
  e.fileId = r.u32();
  if (r.failed()) return truncated(where, begin ? "BEGIN_LOAD_QUERY_EVENT" : "APPEND_BLOCK_EVENT");
  e.size = r.remaining();
  return e;
}

Result<RotateEvent> decodeRotate(std::string_view body, const FormatDescription& format, const std::string& where) {
  ByteReader r(body);
  RotateEvent e;
  if (format.postHeaderLength(kRotateEvent) >= 8 || format.postHeaderLengths.empty()) e.position = r.u64();
  e.nextFile = std::string(r.rest());
  if (r.failed()) return truncated(where, "ROTATE_EVENT");
  return e;
}

Result<XidEvent> decodeXid(std::string_view body, const std::string& where) {
  ByteReader r(body);
  XidEvent e{r.u64()};
  if (r.failed() || !r.atEnd()) {
    return Status::corruption(where, "XID_EVENT body is " + std::to_string(body.size()) + " bytes, not 8");
  }
  return e;
}

Result<IntvarEvent> decodeIntvar(std::string_view body, const std::string& where) {
  ByteReader r(body);
  IntvarEvent e;
  e.type = r.u8();
  e.value = r.u64();
  if (r.failed()) return truncated(where, "INTVAR_EVENT");
  return e;
}

Result<RandEvent> decodeRand(std::string_view body, const std::string& where) {
  ByteReader r(body);
  RandEvent e;
  e.seed1 = r.u64();
  e.seed2 = r.u64();
  if (r.failed()) return truncated(where, "RAND_EVENT");
  return e;
}

Result<UserVarEvent> decodeUserVar(std::string_view body, const std::string& where) {
  ByteReader r(body);
  UserVarEvent e;
  e.name = std::string(r.bytes(r.u32()));
  e.isNull = r.u8() != 0;
  if (!e.isNull) {
    e.valueType = r.u8();
    e.charset = r.u32();
    e.value = std::string(r.bytes(r.u32()));
    if (!r.atEnd()) e.flags = r.u8();
  }
  if (r.failed()) return truncated(where, "USER_VAR_EVENT");
  return e;
}

Result<IncidentEvent> decodeIncident(std::string_view body, const std::string& where) {
  ByteReader r(body);
  IncidentEvent e;
  e.incident = r.u16();
  if (!r.atEnd()) e.message = std::string(r.bytes(r.u8()));
  if (r.failed()) return truncated(where, "INCIDENT_EVENT");
  return e;
}

Result<HeartbeatEvent> decodeHeartbeat(std::string_view body, bool v2, const std::string& where) {
  HeartbeatEvent e;
  if (!v2) {
    e.logFile = std::string(body);
    return e;
  }
  // v2: type-length-value fields; 1 = log file name, 2 = position.
  ByteReader r(body);
  while (!r.atEnd() && !r.failed()) {
    const std::uint64_t type = r.packedInt();
    const std::uint64_t length = r.packedInt();
    if (length > r.remaining()) return truncated(where, "HEARTBEAT_LOG_EVENT_V2");
    const std::string_view value = r.bytes(static_cast<std::size_t>(length));
    if (type == 1) {
      e.logFile = std::string(value);
    } else if (type == 2) {
      ByteReader v(value);
      e.position = v.packedInt();
    }
  }
  if (r.failed()) return truncated(where, "HEARTBEAT_LOG_EVENT_V2");
  return e;
}

namespace {

// MySQL's serialization format: an unsigned integer in 1-9 bytes; the count of trailing one bits
// of the first byte is the count of bytes that follow.
bool readSerializedUnsigned(ByteReader& r, std::uint64_t& value) {
  const std::uint8_t first = r.u8();
  if (r.failed()) return false;
  int extra = 0;
  while (extra < 8 && (first >> extra) & 1) ++extra;
  if (extra == 8) {
    value = r.u64();
    return !r.failed();
  }
  std::uint64_t v = first;
  for (int i = 1; i <= extra; ++i) v |= std::uint64_t{r.u8()} << (8 * i);
  value = v >> (extra + 1);
  return !r.failed();
}

bool readSerializedSigned(ByteReader& r, std::int64_t& value) {
  std::uint64_t u = 0;
  if (!readSerializedUnsigned(r, u)) return false;
  value = static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);  // zigzag
  return true;
}

}  // namespace

Result<GtidEvent> decodeGtidTagged(std::string_view body, const std::string& where) {
  ByteReader r(body);
  std::uint64_t version = 0;
  std::uint64_t size = 0;
  std::uint64_t lastNonIgnorable = 0;
  if (!readSerializedUnsigned(r, version) || !readSerializedUnsigned(r, size) ||
      !readSerializedUnsigned(r, lastNonIgnorable)) {
    return truncated(where, "GTID_TAGGED_LOG_EVENT");
  }
  if (size > body.size()) return truncated(where, "GTID_TAGGED_LOG_EVENT");
  ByteReader f(body.substr(r.position(), static_cast<std::size_t>(size) - r.position()));
  GtidEvent e;
  bool haveUuid = false;
  bool haveGno = false;
  std::uint64_t previousId = 0;
  bool first = true;
  while (!f.atEnd()) {
    std::uint64_t id = 0;
    if (!readSerializedUnsigned(f, id)) return truncated(where, "GTID_TAGGED_LOG_EVENT");
    if (!first && id <= previousId) {
      return Status::corruption(where, "GTID_TAGGED_LOG_EVENT field " + std::to_string(id) + " out of order");
    }
    first = false;
    previousId = id;
    std::uint64_t u = 0;
    std::int64_t s = 0;
    bool ok = true;
    switch (id) {
      case 0: ok = readSerializedUnsigned(f, u); e.flags = static_cast<std::uint8_t>(u); break;
      case 1:
        for (auto& b : e.sid) {
          ok = ok && readSerializedUnsigned(f, u) && u <= 0xff;
          b = static_cast<std::uint8_t>(u);
        }
        haveUuid = ok;
        break;
      case 2: ok = readSerializedSigned(f, s) && s > 0; e.gno = static_cast<std::uint64_t>(s); haveGno = ok; break;
      case 3:
        ok = readSerializedUnsigned(f, u) && u <= 32 && u <= f.remaining();
        if (ok) e.tag = std::string(f.bytes(static_cast<std::size_t>(u)));
        break;
      case 4: ok = readSerializedSigned(f, s); e.lastCommitted = s; break;
      case 5: ok = readSerializedSigned(f, s); e.sequenceNumber = s; break;
      case 6: ok = readSerializedUnsigned(f, u); e.immediateCommitTimestamp = u; break;
      case 7: ok = readSerializedUnsigned(f, u); e.originalCommitTimestamp = u; break;
      case 8: ok = readSerializedUnsigned(f, u); e.transactionLength = u; break;
      case 9: ok = readSerializedUnsigned(f, u); e.immediateServerVersion = static_cast<std::uint32_t>(u); break;
      case 10: ok = readSerializedUnsigned(f, u); e.originalServerVersion = static_cast<std::uint32_t>(u); break;
      case 11: ok = readSerializedUnsigned(f, u); break;  // commit group ticket
      default:
        // A field a newer server added: its size cannot be known, so later fields are lost;
        // the ones this decoder needs come first.
        if (id <= lastNonIgnorable) {
          return Status::corruption(where, "GTID_TAGGED_LOG_EVENT has unknown required field " + std::to_string(id));
        }
        f.skip(f.remaining());
        break;
    }
    if (!ok) return Status::corruption(where, "GTID_TAGGED_LOG_EVENT field " + std::to_string(id) + " is malformed");
  }
  if (!haveUuid || !haveGno) return Status::corruption(where, "GTID_TAGGED_LOG_EVENT has no UUID or GNO");
  // Defaults the format leaves out: the original values equal the immediate ones.
  if (!e.originalCommitTimestamp) e.originalCommitTimestamp = e.immediateCommitTimestamp;
  if (!e.originalServerVersion) e.originalServerVersion = e.immediateServerVersion;
  return e;
}

Result<GtidEvent> decodeGtid(std::string_view body, bool anonymous, const std::string& where) {
  ByteReader r(body);
  GtidEvent e;
  e.anonymous = anonymous;
  e.flags = r.u8();
  const std::string_view sid = r.bytes(16);
  e.gno = r.u64();
  if (r.failed()) return truncated(where, "GTID_LOG_EVENT");
  std::copy(sid.begin(), sid.end(), e.sid.begin());
  if (r.remaining() >= 17 && r.u8() == 2) {  // logical timestamps
    e.lastCommitted = static_cast<std::int64_t>(r.u64());
    e.sequenceNumber = static_cast<std::int64_t>(r.u64());
    if (r.remaining() >= 7) {
      std::uint64_t immediate = r.uintLe(7);
      const bool hasOriginal = immediate & (1ull << 55);
      immediate &= ~(1ull << 55);
      e.immediateCommitTimestamp = immediate;
      e.originalCommitTimestamp = hasOriginal ? r.uintLe(7) : immediate;
      if (!r.atEnd()) e.transactionLength = r.packedInt();
    }
  }
  if (r.failed()) return truncated(where, "GTID_LOG_EVENT");
  return e;
}

Result<PreviousGtidsEvent> decodePreviousGtids(std::string_view body, const std::string& where) {
  auto set = MysqlGtidSet::decode(body, where);
  if (!set) return set.status().withContext("PREVIOUS_GTIDS_LOG_EVENT");
  return PreviousGtidsEvent{set->toString()};
}

Result<MariaGtidEvent> decodeMariaGtid(std::string_view body, const std::string& where) {
  ByteReader r(body);
  MariaGtidEvent e;
  e.sequence = r.u64();
  e.domainId = r.u32();
  e.flags = r.u8();
  if (e.flags & 2) e.commitId = r.u64();
  if (e.flags & (64 | 128)) {
    r.skip(4);  // format id
    const std::uint8_t gtridLength = r.u8();
    const std::uint8_t bqualLength = r.u8();
    e.xid = std::string(r.bytes(gtridLength + static_cast<std::size_t>(bqualLength)));
  }
  if (r.failed()) return truncated(where, "MARIA_GTID_EVENT");
  return e;
}

Result<MariaGtidListEvent> decodeMariaGtidList(std::string_view body, const std::string& where) {
  ByteReader r(body);
  const std::uint32_t word = r.u32();
  MariaGtidListEvent e;
  e.flags = static_cast<std::uint8_t>(word >> 28);
  const std::uint32_t count = word & 0x0fffffff;
  if (r.failed() || count > r.remaining() / 16) return truncated(where, "MARIA_GTID_LIST_EVENT");
  for (std::uint32_t i = 0; i < count; ++i) {
    MariaGtid g;
    g.domainId = r.u32();
    g.serverId = r.u32();
    g.sequence = r.u64();
    e.gtids.push_back(g);
  }
  return e;
}

Result<BinlogCheckpointEvent> decodeBinlogCheckpoint(std::string_view body, const std::string& where) {
  ByteReader r(body);
  BinlogCheckpointEvent e;
  e.file = std::string(r.bytes(r.u32()));
  if (r.failed()) return truncated(where, "MARIA_BINLOG_CHECKPOINT_EVENT");
  return e;
}

Result<RowsQueryEvent> decodeAnnotateRows(std::string_view body, const std::string&) {
  return RowsQueryEvent{std::string(body)};
}

Result<RowsQueryEvent> decodeRowsQuery(std::string_view body, const std::string& where) {
  if (body.empty()) return truncated(where, "ROWS_QUERY_LOG_EVENT");
  return RowsQueryEvent{std::string(body.substr(1))};  // a length byte (mod 256) comes first
}

Result<XaPrepareEvent> decodeXaPrepare(std::string_view body, const std::string& where) {
  ByteReader r(body);
  XaPrepareEvent e;
  e.onePhase = r.u8() != 0;
  e.formatId = r.u32();
  const std::uint32_t gtridLength = r.u32();
  const std::uint32_t bqualLength = r.u32();
  if (gtridLength > 64 || bqualLength > 64) return Status::corruption(where, "XA_PREPARE_LOG_EVENT id is too long");
  e.gtrid = std::string(r.bytes(gtridLength));
  e.bqual = std::string(r.bytes(bqualLength));
  if (r.failed()) return truncated(where, "XA_PREPARE_LOG_EVENT");
  return e;
}

Result<TransactionPayloadEvent> decodeTransactionPayload(std::string_view body, const std::string& where,
                                                         std::uint64_t maxUncompressed) {
  ByteReader r(body);
  TransactionPayloadEvent e;
  bool sizeSeen = false;
  while (true) {
    const std::uint64_t type = r.packedInt();
    if (r.failed()) return truncated(where, "TRANSACTION_PAYLOAD_EVENT header");
    if (type == 0) break;  // end of the header fields
    const std::uint64_t length = r.packedInt();
    if (r.failed() || length > r.remaining()) return truncated(where, "TRANSACTION_PAYLOAD_EVENT header");
    ByteReader value(r.bytes(static_cast<std::size_t>(length)));
    switch (type) {
      case 1: e.payloadSize = value.packedInt(); sizeSeen = true; break;
      case 2: e.compressionType = value.packedInt(); break;
      case 3: e.uncompressedSize = value.packedInt(); break;
      default: break;  // fields added by later servers
    }
  }
  const std::string_view payload = r.rest();
  if (sizeSeen && e.payloadSize != payload.size()) {
    return Status::corruption(where, "TRANSACTION_PAYLOAD_EVENT payload is " + std::to_string(payload.size()) +
                                         " bytes, header says " + std::to_string(e.payloadSize));
  }
  if (e.compressionType == 255) {
    e.payload = std::string(payload);
  } else if (e.compressionType == 0) {
    if (e.uncompressedSize > maxUncompressed) {
      return Status::corruption(where, "TRANSACTION_PAYLOAD_EVENT claims " + std::to_string(e.uncompressedSize) +
                                           " bytes uncompressed");
    }
    e.payload.resize(e.uncompressedSize);
    const std::size_t n = ZSTD_decompress(e.payload.data(), e.payload.size(), payload.data(), payload.size());
    if (ZSTD_isError(n)) {
      return Status::corruption(where, std::string("zstd could not decompress the transaction payload: ") +
                                           ZSTD_getErrorName(n));
    }
    if (n != e.uncompressedSize) {
      return Status::corruption(where, "TRANSACTION_PAYLOAD_EVENT decompressed to " + std::to_string(n) +
                                           " bytes, header says " + std::to_string(e.uncompressedSize));
    }
  } else {
    return Status::corruption(where, "TRANSACTION_PAYLOAD_EVENT compression type " + std::to_string(e.compressionType) +
                                         " is unknown");
  }
  return e;
}

}  // namespace canal::binlog
