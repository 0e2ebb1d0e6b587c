#include "server/convert/entry_encoder.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "server/common/byte_writer.h"

namespace canal::convert {
namespace {

// Wire types and the field numbers of entry_protocol.proto that the server writes. The encoder
// writes the protobuf wire format directly, in field-number order as protobuf's own serializer
// does, so its bytes are those of the generated classes without building message objects.
constexpr unsigned kVarint = 0;
constexpr unsigned kBytes = 2;

namespace field {
// Entry
constexpr unsigned kEntryHeader = 1, kEntryType = 2, kEntryStoreValue = 3;
// Header
constexpr unsigned kVersion = 1, kLogfileName = 2, kLogfileOffset = 3, kServerId = 4, kServerEncode = 5,
                   kExecuteTime = 6, kSourceType = 7, kSchemaName = 8, kTableName = 9, kEventLength = 10,
                   kHeaderEventType = 11, kHeaderProps = 12, kGtid = 13;
// Column
constexpr unsigned kIndex = 1, kSqlType = 2, kName = 3, kIsKey = 4, kUpdated = 5, kIsNull = 6, kValue = 8,
                   kMysqlType = 10;
// RowData
constexpr unsigned kBefore = 1, kAfter = 2;
// RowChange
constexpr unsigned kTableId = 1, kRowEventType = 2, kIsDdl = 10, kSql = 11, kRowDatas = 12, kRowProps = 13,
                   kDdlSchema = 14;
// TransactionBegin, TransactionEnd
constexpr unsigned kTransactionId = 2, kTransactionProps = 3, kThreadId = 4;
// Pair
constexpr unsigned kKey = 1, kPairValue = 2;
}  // namespace field

constexpr int kSourceMysql = 2;
constexpr std::string_view kServerEncodeValue = "UTF-8";

// int32 and int64 fields: a negative value is sign-extended to ten bytes.
std::uint64_t asVarint(std::int64_t v) { return static_cast<std::uint64_t>(v); }

// Sizes of whole fields (tag included); every field number used here fits a one-byte tag.
std::size_t intField(std::int64_t v) { return 1 + varintSize(asVarint(v)); }
std::size_t bytesField(std::size_t length) { return 1 + varintSize(length) + length; }
std::size_t pairField(std::string_view key, std::string_view value) {
  return bytesField(bytesField(key.size()) + bytesField(value.size()));
}

// Writes into a buffer already sized for the whole Entry.
class Writer {
 public:
  explicit Writer(char* at) : at_(at) {}
  char* position() const { return at_; }
  void tag(unsigned number, unsigned wireType) { *at_++ = static_cast<char>((number << 3) | wireType); }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      *at_++ = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    *at_++ = static_cast<char>(v);
  }
  void intField(unsigned number, std::int64_t v) {
    tag(number, kVarint);
    varint(asVarint(v));
  }
  void boolField(unsigned number, bool v) {
    tag(number, kVarint);
    *at_++ = v ? 1 : 0;
  }
  void bytesField(unsigned number, std::string_view v) {
    lengthPrefix(number, v.size());
    if (!v.empty()) std::memcpy(at_, v.data(), v.size());
    at_ += v.size();
  }
  void raw(std::string_view bytes) {
    std::memcpy(at_, bytes.data(), bytes.size());
    at_ += bytes.size();
  }
  void lengthPrefix(unsigned number, std::size_t length) {
    tag(number, kBytes);
    varint(length);
  }
  void pairField(unsigned number, std::string_view key, std::string_view value) {
    lengthPrefix(number, convert::bytesField(key.size()) + convert::bytesField(value.size()));
    bytesField(field::kKey, key);
    bytesField(field::kPairValue, value);
  }

 private:
  char* at_;
};

// The header's props, in the order Canal adds them.
template <typename Visit>
void forEachHeaderProp(const ChangeEntry& e, Visit&& visit) {
  if (!e.currentGtid.empty()) visit("curtGtid", e.currentGtid);
  if (!e.currentGtidSn.empty()) visit("curtGtidSn", e.currentGtidSn);
  if (!e.currentGtidLct.empty()) visit("curtGtidLct", e.currentGtidLct);
  if (e.snapshot) visit("snapshot", "true");
  if (!e.snapshotWatermark.empty()) visit("snapshotWatermark", e.snapshotWatermark);
}

// The header prop rowsCount: on a rows event's entry that has rows.
bool hasRowsCount(const ChangeEntry& e, std::span<const ChangeRow> rows) {
  return e.kind == EntryKind::kRowData && e.columns && !rows.empty();
}

std::size_t headerSize(const ChangeEntry& e, std::string_view rowsCount, std::string_view sequence) {
  const bool row = e.kind == EntryKind::kRowData;
  std::size_t n = intField(1) + bytesField(e.logfileName.size()) +
                  intField(static_cast<std::int64_t>(e.logfileOffset)) + intField(e.serverId) +
                  bytesField(kServerEncodeValue.size()) + intField(e.executeTime) + intField(kSourceMysql);
  if (!row) {
    n += bytesField(0) * 2;
  } else {
    if (e.schema) n += bytesField(e.schema->size());
    if (e.table) n += bytesField(e.table->size());
  }
  n += intField(e.eventLength);
  if (row) n += intField(static_cast<int>(e.type));
  forEachHeaderProp(e, [&](std::string_view k, std::string_view v) { n += pairField(k, v); });
  if (!rowsCount.empty()) n += pairField("rowsCount", rowsCount);
  if (!sequence.empty()) n += pairField("sequence", sequence);
  if (!e.gtid.empty()) n += bytesField(e.gtid.size());
  return n;
}

void writeHeader(Writer& w, const ChangeEntry& e, std::string_view rowsCount, std::string_view sequence) {
  const bool row = e.kind == EntryKind::kRowData;
  w.intField(field::kVersion, 1);
  w.bytesField(field::kLogfileName, e.logfileName);
  w.intField(field::kLogfileOffset, static_cast<std::int64_t>(e.logfileOffset));
  w.intField(field::kServerId, e.serverId);
  w.bytesField(field::kServerEncode, kServerEncodeValue);
  w.intField(field::kExecuteTime, e.executeTime);
  w.intField(field::kSourceType, kSourceMysql);
  if (!row) {
    w.bytesField(field::kSchemaName, "");
    w.bytesField(field::kTableName, "");
  } else {
    if (e.schema) w.bytesField(field::kSchemaName, *e.schema);
    if (e.table) w.bytesField(field::kTableName, *e.table);
  }
  w.intField(field::kEventLength, e.eventLength);
  if (row) w.intField(field::kHeaderEventType, static_cast<int>(e.type));
  forEachHeaderProp(e, [&](std::string_view k, std::string_view v) { w.pairField(field::kHeaderProps, k, v); });
  if (!rowsCount.empty()) w.pairField(field::kHeaderProps, "rowsCount", rowsCount);
  if (!sequence.empty()) w.pairField(field::kHeaderProps, "sequence", sequence);
  if (!e.gtid.empty()) w.bytesField(field::kGtid, e.gtid);
}

// A column's fields that depend only on its table (and, in practice, its type): index, sqlType,
// name and isKey before the row's own fields, mysqlType after them. Written once per table and
// copied into every row.
struct ColumnBytes {
  bool built = false;
  int sqlType = 0;
  std::string head;
  std::string tail;
};

struct TableBytes {
  std::shared_ptr<const ColumnInfos> columns;  // held, so the address is not reused meanwhile
  std::vector<ColumnBytes> byColumn;
};

// A table's cached bytes as a RowChange's columns look them up: taken once per entry and passed
// by value, so they stay in registers (the encoder's char writes could alias a table read
// through memory, which the compiler would then read again for every column).
struct ColumnCache {
  const ColumnInfo* infos = nullptr;  // the table's ColumnInfos
  const ColumnInfo* infosEnd = nullptr;
  ColumnBytes* bytes = nullptr;  // beside them

  static ColumnCache of(TableBytes* table) {
    if (!table) return {};
    return {table->columns->data(), table->columns->data() + table->columns->size(), table->byColumn.data()};
  }
};

// The cached bytes of `c`, or null when its cell does not match them.
const ColumnBytes* cachedBytes(const ChangeColumn& c, ColumnCache cache) {
  if (!cache.infos || !c.info || c.info < cache.infos || c.info >= cache.infosEnd) return nullptr;
  const auto at = static_cast<std::size_t>(c.info - cache.infos);
  if (at != c.index) return nullptr;
  ColumnBytes& b = cache.bytes[at];
  if (!b.built) {
    b.built = true;
    b.sqlType = c.text.sqlType;
    b.head.resize(intField(static_cast<std::int32_t>(c.index)) + intField(c.text.sqlType) + bytesField(c.name().size()) + 2);
    Writer head(b.head.data());
    head.intField(field::kIndex, static_cast<std::int32_t>(c.index));
    head.intField(field::kSqlType, c.text.sqlType);
    head.bytesField(field::kName, c.name());
    head.boolField(field::kIsKey, c.isKey());
    b.tail.resize(bytesField(c.mysqlType().size()));
    Writer tail(b.tail.data());
    tail.bytesField(field::kMysqlType, c.mysqlType());
  }
  return b.sqlType == c.text.sqlType ? &b : nullptr;
}

std::size_t columnSize(const ChangeColumn& c, const ColumnBytes* cached) {
  std::size_t n = cached ? cached->head.size() + 2 * 2 /* updated, isNull */ + cached->tail.size()
                         : intField(static_cast<std::int32_t>(c.index)) + intField(c.text.sqlType) +
                               bytesField(c.name().size()) + 3 * 2 /* isKey, updated, isNull */ +
                               bytesField(c.mysqlType().size());
  if (!c.text.isNull) n += bytesField(c.text.value.size());
  return n;
}

void writeColumn(Writer& w, const ChangeColumn& c, const ColumnBytes* cached) {
  if (cached) {
    w.raw(cached->head);
  } else {
    w.intField(field::kIndex, static_cast<std::int32_t>(c.index));
    w.intField(field::kSqlType, c.text.sqlType);
    w.bytesField(field::kName, c.name());
    w.boolField(field::kIsKey, c.isKey());
  }
  w.boolField(field::kUpdated, c.updated);
  w.boolField(field::kIsNull, c.text.isNull);
  if (!c.text.isNull) w.bytesField(field::kValue, c.text.value);
  if (cached) {
    w.raw(cached->tail);
  } else {
    w.bytesField(field::kMysqlType, c.mysqlType());
  }
}

// The Entry being written: grown as it fills, kept from one entry to the next.
class Buffer {
 public:
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  const char* data() const { return data_.get(); }
  void clear() { size_ = 0; }
  void release() {
    data_.reset();
    capacity_ = size_ = 0;
  }
  // Room for `n` more bytes: where to write them; commit() the end of what was written.
  char* reserve(std::size_t n) {
    if (capacity_ - size_ < n) grow(size_ + n);
    return data_.get() + size_;
  }
  void commit(const char* end) { size_ = static_cast<std::size_t>(end - data_.get()); }
  // Ends a length-delimited field whose length was given `reserved` bytes at `lengthAt`: writes
  // the length of what follows them in as many bytes as it takes, moving the field's bytes when
  // that is not `reserved`.
  void closeLength(std::size_t lengthAt, std::size_t reserved) {
    const std::size_t start = lengthAt + reserved;
    const std::size_t length = size_ - start;
    const std::size_t need = varintSize(length);
    if (need != reserved) {
      if (need > reserved) reserve(need - reserved);
      std::memmove(data_.get() + lengthAt + need, data_.get() + start, length);
      size_ = size_ + need - reserved;
    }
    Writer w(data_.get() + lengthAt);
    w.varint(length);
  }

 private:
  void grow(std::size_t atLeast) {
    std::size_t capacity = capacity_ ? capacity_ * 2 : 4096;
    while (capacity < atLeast) capacity *= 2;
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    if (size_) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = capacity;
  }

  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
};

// Bytes reserved for a length before knowing it: a row's (2: below 16 KiB) and a RowChange's
// (3: below 2 MiB, 2 for a few rows); a length that needs another size moves its message.
constexpr std::size_t kRowLengthBytes = 2;
std::size_t rowChangeLengthBytes(std::span<const ChangeRow> rows) { return rows.size() >= 16 ? 3 : 2; }

void writeRowChange(Buffer& b, const ChangeEntry& e, std::span<const ChangeRow> rows, TableBytes* table) {
  const ColumnCache cache = ColumnCache::of(table);
  const bool rowsEvent = e.columns != nullptr;
  {
    Writer w(b.reserve(3 * 11 + (rowsEvent ? 0 : bytesField(e.sql.size()))));
    if (rowsEvent) w.intField(field::kTableId, static_cast<std::int64_t>(e.tableId));
    w.intField(field::kRowEventType, static_cast<int>(e.type));
    if (e.isDdlSet) w.boolField(field::kIsDdl, e.isDdl);
    if (!rowsEvent) w.bytesField(field::kSql, e.sql);
    b.commit(w.position());
  }
  for (const ChangeRow& row : rows) {
    Writer open(b.reserve(1 + kRowLengthBytes));
    open.tag(field::kRowDatas, kBytes);
    const std::size_t lengthAt = static_cast<std::size_t>(open.position() - b.data());
    b.commit(open.position() + kRowLengthBytes);
    for (const auto& [image, number] : {std::pair{&row.before, field::kBefore}, std::pair{&row.after, field::kAfter}}) {
      for (const ChangeColumn& c : *image) {
        const ColumnBytes* cached = cachedBytes(c, cache);
        const std::size_t n = columnSize(c, cached);
        Writer w(b.reserve(1 + varintSize(n) + n));
        w.lengthPrefix(number, n);
        writeColumn(w, c, cached);
        b.commit(w.position());
      }
    }
    b.closeLength(lengthAt, kRowLengthBytes);
  }
  std::size_t rest = !rowsEvent && !e.ddlSchema.empty() ? bytesField(e.ddlSchema.size()) : 0;
  for (const auto& [key, text] : e.props) rest += pairField(key, text);
  Writer w(b.reserve(rest));
  for (const auto& [key, text] : e.props) w.pairField(field::kRowProps, key, text);
  if (!rowsEvent && !e.ddlSchema.empty()) w.bytesField(field::kDdlSchema, e.ddlSchema);
  b.commit(w.position());
}

}  // namespace

struct EntryEncoder::Scratch {
  Buffer buffer;
  std::vector<TableBytes> tables;  // the tables seen lately

  TableBytes* tableBytes(const ChangeEntry& e) {
    if (!e.columns) return nullptr;
    for (TableBytes& t : tables) {
      if (t.columns == e.columns) return &t;
    }
    if (tables.size() >= 64) tables.clear();
    tables.push_back(TableBytes{e.columns, std::vector<ColumnBytes>(e.columns->size())});
    return &tables.back();
  }
};

EntryEncoder::EntryEncoder() : scratch_(std::make_unique<Scratch>()) {}
EntryEncoder::~EntryEncoder() = default;

void EntryEncoder::encode(const ChangeEntry& e, std::string& out, std::uint64_t sequence) {
  encode(e, e.rows, out, sequence);
}

void EntryEncoder::encode(const ChangeEntry& e, std::span<const ChangeRow> rows, std::string& out,
                          std::uint64_t sequence) {
  const std::string rowsCount = hasRowsCount(e, rows) ? std::to_string(rows.size()) : std::string();
  char sequenceText[24];
  const std::string_view sequenceProp(
      sequenceText, sequence ? static_cast<std::size_t>(
                                   std::to_chars(sequenceText, sequenceText + sizeof sequenceText, sequence).ptr - sequenceText)
                             : 0);
  const std::size_t header = headerSize(e, rowsCount, sequenceProp);

  // One pass: the header and the entry type, then the store value (TransactionBegin,
  // TransactionEnd or RowChange), whose length is known at once for a transaction's begin and
  // end, and once written for a RowChange.
  Buffer& b = scratch_->buffer;
  b.clear();
  Writer w(b.reserve(bytesField(header) + 2 * 2 + 5));
  w.lengthPrefix(field::kEntryHeader, header);
  writeHeader(w, e, rowsCount, sequenceProp);
  w.intField(field::kEntryType, static_cast<int>(e.kind));
  if (e.kind == EntryKind::kTransactionBegin || e.kind == EntryKind::kTransactionEnd) {
    std::size_t value = 0;
    for (const auto& [key, text] : e.props) value += pairField(key, text);
    value += e.kind == EntryKind::kTransactionBegin ? intField(static_cast<std::int64_t>(e.threadId))
                                                     : bytesField(e.transactionId.size());
    w.lengthPrefix(field::kEntryStoreValue, value);
    b.commit(w.position());
    Writer v(b.reserve(value));
    if (e.kind == EntryKind::kTransactionBegin) {
      for (const auto& [key, text] : e.props) v.pairField(field::kTransactionProps, key, text);
      v.intField(field::kThreadId, static_cast<std::int64_t>(e.threadId));
    } else {
      v.bytesField(field::kTransactionId, e.transactionId);
      for (const auto& [key, text] : e.props) v.pairField(field::kTransactionProps, key, text);
    }
    b.commit(v.position());
  } else {
    w.tag(field::kEntryStoreValue, kBytes);
    const std::size_t lengthAt = static_cast<std::size_t>(w.position() - b.data());
    const std::size_t reserved = rowChangeLengthBytes(rows);
    b.commit(w.position() + reserved);
    writeRowChange(b, e, rows, rows.empty() ? nullptr : scratch_->tableBytes(e));
    b.closeLength(lengthAt, reserved);
  }
  out.assign(b.data(), b.size());
  // A rare huge entry's buffer is not kept.
  if (b.capacity() > (std::size_t{64} << 20)) b.release();
}

}  // namespace canal::convert
