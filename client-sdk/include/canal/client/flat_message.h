#pragma once

// Canal's FlatMessage JSON (canal-json, as Canal's MQ mode writes it) of one entry: properties
// in alphabetical order, nulls written, column values as strings; the same shape canal-binlog
// prints. And a small typed view of a ROWDATA entry's rows.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "canal/client/status.h"
#include "canal/client/row_change_reader.h"
#include "canal/protocol/entry_protocol.pb.h"

namespace canal::client {

// The FlatMessage of a ROWDATA entry (nullopt for TRANSACTIONBEGIN / TRANSACTIONEND, which
// have none); an error when its RowChange does not parse. `id` is the batch id, `ts` the
// wall-clock time in ms.
Result<std::optional<std::string>> toFlatMessage(const canal::protocol::entry::Entry& entry, std::int64_t id,
                                                 std::int64_t ts);
// The FlatMessage of some rows of a ROWDATA entry whose RowChange is parsed already: `rows`
// indexes rowChange.rowdatas (nullptr: all of them), as Canal's MQ mode writes the share of an
// entry that goes to one partition.
std::string toFlatMessage(const canal::protocol::entry::Entry& entry, const canal::protocol::entry::RowChange& rowChange,
                          const std::vector<int>* rows, std::int64_t id, std::int64_t ts);
// Appends the FlatMessage of a ROWDATA entry whose RowChange is read in place (the faster way:
// no protobuf object per column), as the overloads above render it.
void appendFlatMessage(std::string& out, const canal::protocol::entry::Entry& entry, const RowChangeReader& change,
                       std::int64_t id, std::int64_t ts);
// Canal's MQ split of an entry's FlatMessage over partitions: `partitionOfRow[i]` is the
// partition of row i. One FlatMessage per partition that has rows, in increasing partition
// order, each carrying the whole entry's mysqlType, sqlType and pkNames and its own rows' data
// and old (old as the whole entry computes it).
std::vector<std::pair<int, std::string>> toPartitionedFlatMessages(const canal::protocol::entry::Entry& entry,
                                                                   const canal::protocol::entry::RowChange& rowChange,
                                                                   const std::vector<int>& partitionOfRow,
                                                                   std::int64_t id, std::int64_t ts);

// The entry's place in canal-server's stream order, its header prop `sequence` (docs/protocol.md,
// "Stream sequence"): a number that only grows across restarts, takeovers, primary switches and
// snapshots. nullopt when the server sent none (or not a number).
std::optional<std::uint64_t> streamSequence(const canal::protocol::entry::Header& header);
// A stream sequence is epoch * 2^kStreamSequenceEntryBits + the entry's place in its epoch.
inline constexpr int kStreamSequenceEntryBits = 30;

// One row change with columns looked up by name.
class RowView {
 public:
  using Column = canal::protocol::entry::Column;
  RowView(const canal::protocol::entry::RowData& row, canal::protocol::entry::EventType type)
      : row_(row), type_(type) {}

  canal::protocol::entry::EventType type() const { return type_; }
  const google::protobuf::RepeatedPtrField<Column>& before() const { return row_.beforecolumns(); }
  const google::protobuf::RepeatedPtrField<Column>& after() const { return row_.aftercolumns(); }
  // The after-image column `name` (the before-image one for DELETE), or null.
  const Column* column(std::string_view name) const;
  const Column* beforeColumn(std::string_view name) const;
  // The value of `name`, nullopt when SQL NULL or absent.
  std::optional<std::string> value(std::string_view name) const;
  // Names of the key columns, and of the columns an UPDATE changed.
  std::vector<std::string> keyNames() const;
  std::vector<std::string> updatedNames() const;

 private:
  const canal::protocol::entry::RowData& row_;
  canal::protocol::entry::EventType type_;
};

}  // namespace canal::client
