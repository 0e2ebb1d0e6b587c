#include "canal/client/row_change_reader.h"

#include "wire_reader.h"

namespace canal::client {
namespace {

using detail::forEachField;
using Field = detail::WireReader::Field;

// Whether a message the reader does not use (a props Pair) is well formed: protobuf refuses
// the whole RowChange when it is not.
bool wellFormed(std::string_view bytes) {
  return forEachField(bytes, [](const Field&) { return true; });
}

// A Column whose fields come in number order, each at most once and without props, as Canal's
// servers write them; false for any other message (well formed or not), which the general loop
// then reads.
bool parseColumnInOrder(std::string_view bytes, ColumnView& c) {
  detail::WireReader in(bytes);
  std::uint64_t v = 0;
  if (in.skipTag(1 << 3)) {
    if (!in.varintValue(v)) return false;
    c.index = static_cast<std::int32_t>(v);
  }
  if (in.skipTag(2 << 3)) {
    if (!in.varintValue(v)) return false;
    c.sqlType = static_cast<std::int32_t>(v);
  }
  if (in.skipTag(3 << 3 | 2) && !in.bytesValue(c.name)) return false;
  if (in.skipTag(4 << 3)) {
    if (!in.varintValue(v)) return false;
    c.isKey = v != 0;
  }
  if (in.skipTag(5 << 3)) {
    if (!in.varintValue(v)) return false;
    c.updated = v != 0;
  }
  if (in.skipTag(6 << 3)) {
    if (!in.varintValue(v)) return false;
    c.isNull = v != 0;
  }
  if (in.skipTag(8 << 3 | 2) && !in.bytesValue(c.value)) return false;
  if (in.skipTag(9 << 3)) {
    if (!in.varintValue(v)) return false;
    c.length = static_cast<std::int32_t>(v);
  }
  if (in.skipTag(10 << 3 | 2) && !in.bytesValue(c.mysqlType)) return false;
  return in.done();
}

// A Column message; false when malformed.
bool parseColumn(std::string_view bytes, ColumnView& c) {
  c = ColumnView{};
  if (parseColumnInOrder(bytes, c)) return true;
  c = ColumnView{};
  return forEachField(bytes, [&](const Field& f) {
    const bool isVarint = f.type == 0;
    const bool isBytes = f.type == 2;
    switch (f.number) {
      case 1: if (isVarint) c.index = static_cast<std::int32_t>(f.varint); break;
      case 2: if (isVarint) c.sqlType = static_cast<std::int32_t>(f.varint); break;
      case 3: if (isBytes) c.name = f.bytes; break;
      case 4: if (isVarint) c.isKey = f.varint != 0; break;
      case 5: if (isVarint) c.updated = f.varint != 0; break;
      case 6: if (isVarint) c.isNull = f.varint != 0; break;
      case 8: if (isBytes) c.value = f.bytes; break;
      case 9: if (isVarint) c.length = static_cast<std::int32_t>(f.varint); break;
      case 10: if (isBytes) c.mysqlType = f.bytes; break;
      case 7: return !isBytes || wellFormed(f.bytes);  // props
      default: break;  // unknown fields
    }
    return true;
  });
}

}  // namespace

const ColumnView* RowChangeReader::Columns::find(std::string_view name) const {
  for (const ColumnView& c : *this) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

void RowChangeReader::clear() {
  tableId_ = 0;
  eventType_ = 2;  // UPDATE, the proto's default
  isDdl_ = false;
  sql_ = {};
  ddlSchemaName_ = {};
  rows_.clear();
  before_.clear();
  after_.clear();
}

bool RowChangeReader::parseRow(std::string_view bytes) {
  Row row;
  row.before = before_.size();
  row.after = after_.size();
  const bool ok = forEachField(bytes, [&](const Field& f) {
    if (f.type != 2) return true;                   // unknown fields
    if (f.number == 3) return wellFormed(f.bytes);  // props
    if (f.number != 1 && f.number != 2) return true;
    auto& image = f.number == 1 ? before_ : after_;
    return parseColumn(f.bytes, image.emplace_back());
  });
  if (!ok) return false;
  row.beforeCount = before_.size() - row.before;
  row.afterCount = after_.size() - row.after;
  rows_.push_back(row);
  return true;
}

bool RowChangeReader::parse(std::string_view bytes) {
  clear();
  const bool ok = forEachField(bytes, [&](const Field& f) {
    const bool isVarint = f.type == 0;
    const bool isBytes = f.type == 2;
    switch (f.number) {
      case 1: if (isVarint) tableId_ = static_cast<std::int64_t>(f.varint); break;
      case 2: if (isVarint) eventType_ = static_cast<int>(f.varint); break;
      case 10: if (isVarint) isDdl_ = f.varint != 0; break;
      case 11: if (isBytes) sql_ = f.bytes; break;
      case 12: return !isBytes || parseRow(f.bytes);
      case 14: if (isBytes) ddlSchemaName_ = f.bytes; break;
      case 13: return !isBytes || wellFormed(f.bytes);  // props
      default: break;  // unknown fields
    }
    return true;
  });
  if (!ok) clear();
  return ok;
}

RowChangeReader::Columns RowChangeReader::before(std::size_t row) const {
  const Row& r = rows_.at(row);
  return Columns(before_.data() + r.before, before_.data() + r.before + r.beforeCount);
}

RowChangeReader::Columns RowChangeReader::after(std::size_t row) const {
  const Row& r = rows_.at(row);
  return Columns(after_.data() + r.after, after_.data() + r.after + r.afterCount);
}

}  // namespace canal::client
