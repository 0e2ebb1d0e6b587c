#include "canal/client/flat_message.h"

#include <algorithm>
#include <array>
#include <charconv>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <map>

#include <nlohmann/json.hpp>

namespace canal::client {
namespace eb = canal::protocol::entry;

namespace {

const google::protobuf::RepeatedPtrField<eb::Column>& image(const eb::RowData& row, eb::EventType type) {
  return type == eb::DELETE ? row.beforecolumns() : row.aftercolumns();
}

const eb::Column* find(const google::protobuf::RepeatedPtrField<eb::Column>& columns, std::string_view name) {
  for (const auto& c : columns) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

}  // namespace

Result<std::optional<std::string>> toFlatMessage(const eb::Entry& entry, std::int64_t id, std::int64_t ts) {
  if (entry.entrytype() != eb::ROWDATA) return std::optional<std::string>();
  eb::RowChange rc;
  if (!rc.ParseFromString(entry.storevalue())) {
    return Status(Status::kProtocol, "the RowChange of the entry at " + entry.header().logfilename() + ":" +
                                         std::to_string(entry.header().logfileoffset()) + " does not parse");
  }
  return std::optional<std::string>(toFlatMessage(entry, rc, nullptr, id, ts));
}

namespace {

// The length of the well-formed UTF-8 sequence starting at p[0] (a byte >= 0x80), 0 when it is
// not one (overlong forms, surrogates, code points past U+10FFFF, cut short).
std::size_t utf8Sequence(const unsigned char* p, std::size_t left) {
  const unsigned char c = p[0];
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 1;
  else if (c == 0xE0) n = 2, lo = 0xA0;
  else if (c == 0xED) n = 2, hi = 0x9F;
  else if (c >= 0xE1 && c <= 0xEF) n = 2;
  else if (c == 0xF0) n = 3, lo = 0x90;
  else if (c == 0xF4) n = 3, hi = 0x8F;
  else if (c >= 0xF1 && c <= 0xF3) n = 3;
  else return 0;
  if (left <= n || p[1] < lo || p[1] > hi) return 0;
  for (std::size_t i = 2; i <= n; ++i) {
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  }
  return n + 1;
}

// 1 for the bytes a JSON string cannot hold as they are (control characters, '"', '\\'), 2 for
// the first byte of a multi-byte UTF-8 sequence (checked), 0 for the rest.
constexpr std::array<unsigned char, 256> kByteClass = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c) t[c] = 2;
  return t;
}();

// JSON text written straight into a string, as nlohmann::json's dump writes it (no spaces, UTF-8
// kept, control characters escaped; a string that is not UTF-8 has its bad bytes replaced by
// U+FFFD as dump's `replace` handler does).
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  void raw(std::string_view text) { out_.append(text); }
  void raw(char c) { out_.push_back(c); }
  void number(std::int64_t n) {
    char buffer[24];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, n);
    out_.append(buffer, end);
  }
  void boolean(bool b) { out_.append(b ? "true" : "false"); }
  void null() { out_.append("null"); }
  void string(std::string_view s) {
    const std::size_t mark = out_.size();
    out_.push_back('"');
    const auto* bytes = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t plain = 0;  // start of the bytes not yet copied
    for (std::size_t i = 0; i < s.size();) {
#ifdef __SSE2__
      // Sixteen bytes at a time up to the next byte that is not plain ASCII (bytes >= 0x80 are
      // negative as signed chars, so below 0x20 too).
      if (s.size() - i >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + i));
        const __m128i special = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                          _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        const int mask = _mm_movemask_epi8(special);
        if (mask == 0) {
          i += 16;
          continue;
        }
        i += static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
      }
#endif
      const unsigned char kind = kByteClass[bytes[i]];
      if (kind == 0) {
        ++i;
        continue;
      }
      if (kind == 2) {
        const std::size_t n = utf8Sequence(bytes + i, s.size() - i);
        if (n == 0) {  // not UTF-8: written as dump's `replace` handler writes it
          out_.resize(mark);
          out_.append(nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
          return;
        }
        i += n;
        continue;
      }
      const unsigned char c = bytes[i];
      out_.append(s.data() + plain, i - plain);
      plain = ++i;
      switch (c) {
        case '"': out_.append("\\\""); break;
        case '\\': out_.append("\\\\"); break;
        case '\b': out_.append("\\b"); break;
        case '\f': out_.append("\\f"); break;
        case '\n': out_.append("\\n"); break;
        case '\r': out_.append("\\r"); break;
        case '\t': out_.append("\\t"); break;
        default: {
          static const char kHex[] = "0123456789abcdef";
          const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          out_.append(escape, sizeof escape);
        }
      }
    }
    out_.append(s.data() + plain, s.size() - plain);
    out_.push_back('"');
  }
  void value(const eb::Column& c) {
    if (c.isnull()) null();
    else string(c.value());
  }

 private:
  std::string& out_;
};

// A column as either form carries it: a protobuf Column or a ColumnView of RowChangeReader.
std::string_view nameOf(const eb::Column& c) { return c.name(); }
std::string_view nameOf(const ColumnView& c) { return c.name; }
std::string_view valueOf(const eb::Column& c) { return c.value(); }
std::string_view valueOf(const ColumnView& c) { return c.value; }
bool isNull(const eb::Column& c) { return c.isnull(); }
bool isNull(const ColumnView& c) { return c.isNull; }
bool isKey(const eb::Column& c) { return c.iskey(); }
bool isKey(const ColumnView& c) { return c.isKey; }
bool isUpdated(const eb::Column& c) { return c.updated(); }
bool isUpdated(const ColumnView& c) { return c.updated; }
std::string_view mysqlTypeOf(const eb::Column& c) { return c.mysqltype(); }
std::string_view mysqlTypeOf(const ColumnView& c) { return c.mysqlType; }
int sqlTypeOf(const eb::Column& c) { return c.sqltype(); }
int sqlTypeOf(const ColumnView& c) { return c.sqlType; }

// The rows a FlatMessage is made from: some RowData of a parsed RowChange...
struct ProtoColumns {
  const google::protobuf::RepeatedPtrField<eb::Column>* columns;
  std::size_t size() const { return static_cast<std::size_t>(columns->size()); }
  const eb::Column& operator[](std::size_t i) const { return (*columns)[static_cast<int>(i)]; }
};
struct ProtoRows {
  const std::vector<const eb::RowData*>& rows;
  std::size_t size() const { return rows.size(); }
  ProtoColumns before(std::size_t r) const { return {&rows[r]->beforecolumns()}; }
  ProtoColumns after(std::size_t r) const { return {&rows[r]->aftercolumns()}; }
};
// ... or all rows of a RowChange read in place.
struct ViewRows {
  const RowChangeReader& change;
  std::size_t size() const { return change.rows(); }
  RowChangeReader::Columns before(std::size_t r) const { return change.before(r); }
  RowChangeReader::Columns after(std::size_t r) const { return change.after(r); }
};

// What a FlatMessage says of its columns over `scope`, the rows it is made from: each column's
// mysqlType and sqlType (first seen, named once; the last row's value) and the key names of the
// first row.
struct ColumnFacts {
  struct Type {
    std::string_view name;
    std::string_view mysqlType;
    int sqlType;
  };
  std::vector<Type> types;
  std::vector<std::string_view> keys;
};

template <typename Rows>
ColumnFacts columnFacts(const Rows& scope, eb::EventType type) {
  const auto image = [&](std::size_t r) { return type == eb::DELETE ? scope.before(r) : scope.after(r); };
  ColumnFacts facts;
  if (scope.size() == 0) return facts;
  const auto first = image(0);
  for (std::size_t r = 0; r < scope.size(); ++r) {
    const auto columns = image(r);
    const auto count = static_cast<std::size_t>(columns.size());
    bool sameNames = r > 0 && count == static_cast<std::size_t>(first.size());
    for (std::size_t i = 0; sameNames && i < count; ++i) sameNames = nameOf(columns[i]) == nameOf(first[i]);
    for (std::size_t i = 0; i < count; ++i) {
      const auto& c = columns[i];
      ColumnFacts::Type* known = nullptr;
      if (sameNames) {
        known = &facts.types[i];
      } else if (r > 0) {
        for (auto& t : facts.types) {
          if (t.name == nameOf(c)) known = &t;
        }
      }
      if (known) {
        known->mysqlType = mysqlTypeOf(c);
        known->sqlType = sqlTypeOf(c);
      } else {
        facts.types.push_back({nameOf(c), mysqlTypeOf(c), sqlTypeOf(c)});
      }
    }
  }
  for (std::size_t i = 0; i < static_cast<std::size_t>(first.size()); ++i) {
    if (isKey(first[i])) facts.keys.push_back(nameOf(first[i]));
  }
  return facts;
}

// Walks `emit` (increasing indexes; nullptr: every row) along the rows of a scope.
struct Emitted {
  const std::vector<std::size_t>* emit;
  std::size_t next = 0;
  bool operator()(std::size_t r) {
    if (!emit) return true;
    if (next == emit->size() || (*emit)[next] != r) return false;
    ++next;
    return true;
  }
};

template <typename Columns>
void writeObject(JsonWriter& w, const Columns& columns, const std::vector<std::string_view>* only) {
  w.raw('{');
  bool first = true;
  for (std::size_t i = 0; i < static_cast<std::size_t>(columns.size()); ++i) {
    const auto& c = columns[i];
    if (only && std::find(only->begin(), only->end(), nameOf(c)) == only->end()) continue;
    if (!first) w.raw(',');
    first = false;
    w.string(nameOf(c));
    w.raw(':');
    if (isNull(c)) w.null();
    else w.string(valueOf(c));
  }
  w.raw('}');
}

// The mysqlType (or, `sql`, the sqlType) object of the columns; null without rows.
void writeTypes(JsonWriter& w, const ColumnFacts& facts, bool rows, bool sql) {
  if (!rows) return w.null();
  w.raw('{');
  for (std::size_t i = 0; i < facts.types.size(); ++i) {
    if (i) w.raw(',');
    w.string(facts.types[i].name);
    w.raw(':');
    if (sql) w.number(facts.types[i].sqlType);
    else w.string(facts.types[i].mysqlType);
  }
  w.raw('}');
}

// Writes the FlatMessage of an entry; properties in alphabetical order. Its columns' facts come
// from `scope`; `emit` (increasing indexes into scope; nullptr: all) are the rows whose data and
// old it holds. `old` holds, for an UPDATE, each row's before values of the columns updated in
// it or in a row before it, as Canal accumulates them.
template <typename Rows>
void writeFlatMessage(std::string& out, const eb::Entry& entry, eb::EventType type, bool isDdl, std::string_view sql,
                      const Rows& scope, const std::vector<std::size_t>* emit, std::int64_t id, std::int64_t ts) {
  out.reserve(out.size() + entry.storevalue().size() * 2 + 512);  // names and types come again
  JsonWriter w(out);
  const bool rows = scope.size() > 0;
  w.raw("{\"data\":");
  if (rows) {
    w.raw('[');
    Emitted emitted{emit};
    bool firstRow = true;
    for (std::size_t r = 0; r < scope.size(); ++r) {
      if (!emitted(r)) continue;
      if (!firstRow) w.raw(',');
      firstRow = false;
      writeObject(w, type == eb::DELETE ? scope.before(r) : scope.after(r), nullptr);
    }
    w.raw(']');
  } else {
    w.null();
  }
  w.raw(",\"database\":");
  w.string(entry.header().schemaname());
  w.raw(",\"es\":");
  w.number(entry.header().executetime());
  w.raw(",\"gtid\":");
  w.string(entry.header().gtid());
  w.raw(",\"id\":");
  w.number(id);
  w.raw(",\"isDdl\":");
  w.boolean(isDdl);
  const ColumnFacts facts = columnFacts(scope, type);
  w.raw(",\"mysqlType\":");
  writeTypes(w, facts, rows, false);
  w.raw(",\"old\":");
  if (rows && type == eb::UPDATE) {
    std::vector<std::string_view> updated;
    w.raw('[');
    Emitted emitted{emit};
    bool firstRow = true;
    for (std::size_t r = 0; r < scope.size(); ++r) {
      const auto after = scope.after(r);
      for (std::size_t i = 0; i < static_cast<std::size_t>(after.size()); ++i) {
        const auto& a = after[i];
        if (isUpdated(a) && std::find(updated.begin(), updated.end(), nameOf(a)) == updated.end()) {
          updated.push_back(nameOf(a));
        }
      }
      if (!emitted(r)) continue;
      if (!firstRow) w.raw(',');
      firstRow = false;
      writeObject(w, scope.before(r), &updated);
    }
    w.raw(']');
  } else {
    w.null();
  }
  w.raw(",\"pkNames\":");
  if (!facts.keys.empty()) {
    w.raw('[');
    for (std::size_t i = 0; i < facts.keys.size(); ++i) {
      if (i) w.raw(',');
      w.string(facts.keys[i]);
    }
    w.raw(']');
  } else {
    w.null();
  }
  w.raw(",\"sql\":");
  w.string(sql);
  w.raw(",\"sqlType\":");
  writeTypes(w, facts, rows, true);
  w.raw(",\"table\":");
  w.string(entry.header().tablename());
  w.raw(",\"ts\":");
  w.number(ts);
  w.raw(",\"type\":");
  w.string(eb::EventType_Name(type));
  w.raw('}');
}

std::vector<const eb::RowData*> allRows(const eb::RowChange& rc) {
  std::vector<const eb::RowData*> rows;
  rows.reserve(static_cast<std::size_t>(rc.rowdatas_size()));
  for (const auto& row : rc.rowdatas()) rows.push_back(&row);
  return rows;
}

}  // namespace

std::string toFlatMessage(const eb::Entry& entry, const eb::RowChange& rc, const std::vector<int>* rows,
                          std::int64_t id, std::int64_t ts) {
  std::string out;
  std::vector<const eb::RowData*> selected;
  if (!rows) {
    selected = allRows(rc);
  } else {
    for (const int i : *rows) selected.push_back(&rc.rowdatas(i));
  }
  writeFlatMessage(out, entry, rc.eventtype(), rc.isddl(), rc.sql(), ProtoRows{selected}, nullptr, id, ts);
  return out;
}

void appendFlatMessage(std::string& out, const eb::Entry& entry, const RowChangeReader& change, std::int64_t id,
                       std::int64_t ts) {
  writeFlatMessage(out, entry, static_cast<eb::EventType>(change.eventType()), change.isDdl(), change.sql(),
                   ViewRows{change}, nullptr, id, ts);
}

std::vector<std::pair<int, std::string>> toPartitionedFlatMessages(const eb::Entry& entry, const eb::RowChange& rc,
                                                                   const std::vector<int>& partitionOfRow,
                                                                   std::int64_t id, std::int64_t ts) {
  const std::vector<const eb::RowData*> all = allRows(rc);
  std::map<int, std::vector<std::size_t>> parts;
  for (std::size_t i = 0; i < partitionOfRow.size() && i < all.size(); ++i) parts[partitionOfRow[i]].push_back(i);
  std::vector<std::pair<int, std::string>> out;
  for (const auto& [partition, rows] : parts) {
    std::string message;
    writeFlatMessage(message, entry, rc.eventtype(), rc.isddl(), rc.sql(), ProtoRows{all}, &rows, id, ts);
    out.emplace_back(partition, std::move(message));
  }
  return out;
}

const RowView::Column* RowView::column(std::string_view name) const { return find(image(row_, type_), name); }

const RowView::Column* RowView::beforeColumn(std::string_view name) const { return find(row_.beforecolumns(), name); }

std::optional<std::string> RowView::value(std::string_view name) const {
  const Column* c = column(name);
  if (!c || c->isnull()) return std::nullopt;
  return c->value();
}

std::vector<std::string> RowView::keyNames() const {
  std::vector<std::string> out;
  for (const auto& c : image(row_, type_)) {
    if (c.iskey()) out.push_back(c.name());
  }
  return out;
}

std::vector<std::string> RowView::updatedNames() const {
  std::vector<std::string> out;
  for (const auto& c : row_.aftercolumns()) {
    if (c.updated()) out.push_back(c.name());
  }
  return out;
}

std::optional<std::uint64_t> streamSequence(const eb::Header& header) {
  for (const auto& prop : header.props()) {
    if (prop.key() != "sequence") continue;
    const std::string& v = prop.value();
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc() && end == v.data() + v.size()) return n;
  }
  return std::nullopt;
}

}  // namespace canal::client
