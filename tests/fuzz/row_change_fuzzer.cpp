// libFuzzer target, differential: the SDK's in-place RowChange reader (and the wire reader the
// connector also reads MESSAGES packets with) against protobuf's own parser. The input is a
// RowChange's bytes. Both must accept and refuse the same inputs, and what both accept must read
// the same; any difference aborts.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "canal/client/row_change_reader.h"
#include "canal/protocol/entry_protocol.pb.h"

namespace {

namespace eb = canal::protocol::entry;

void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "row_change_fuzzer: the reader and protobuf differ: %s\n", what);
  std::abort();
}

void compare(const google::protobuf::RepeatedPtrField<eb::Column>& expected,
             const canal::client::RowChangeReader::Columns& columns) {
  require(columns.size() == static_cast<std::size_t>(expected.size()), "column count");
  std::size_t i = 0;
  for (const canal::client::ColumnView& c : columns) {
    const eb::Column& e = expected[static_cast<int>(i++)];
    require(c.index == e.index() && c.sqlType == e.sqltype() && c.length == e.length(), "a column's numbers");
    require(c.name == e.name() && c.value == e.value() && c.mysqlType == e.mysqltype(), "a column's strings");
    require(c.isKey == e.iskey() && c.updated == e.updated() && c.isNull == e.isnull(), "a column's flags");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  eb::RowChange expected;
  const bool parses = expected.ParseFromString(bytes);
  static canal::client::RowChangeReader reader;
  require(reader.parse(bytes) == parses, parses ? "protobuf reads what the reader refuses"
                                                : "the reader reads what protobuf refuses");
  if (!parses) return 0;
  require(reader.tableId() == expected.tableid() && reader.isDdl() == expected.isddl(), "the header fields");
  // An event type protobuf does not know it keeps aside (the field stays as it was); the reader
  // gives the number as sent.
  require(!eb::EventType_IsValid(reader.eventType()) || reader.eventType() == expected.eventtype(), "the event type");
  require(reader.sql() == expected.sql() && reader.ddlSchemaName() == expected.ddlschemaname(), "sql");
  require(reader.rows() == static_cast<std::size_t>(expected.rowdatas_size()), "row count");
  for (int r = 0; r < expected.rowdatas_size(); ++r) {
    compare(expected.rowdatas(r).beforecolumns(), reader.before(static_cast<std::size_t>(r)));
    compare(expected.rowdatas(r).aftercolumns(), reader.after(static_cast<std::size_t>(r)));
  }
  return 0;
}
