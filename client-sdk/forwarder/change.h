#pragma once

// The row changes of one Canal batch as the sinks see them: each ROWDATA entry parsed once,
// with its table and binlog position. BEGIN/END entries carry nothing a sink writes.

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "canal/client/canal_connector.h"
#include "canal/client/status.h"

namespace canal::forwarder {

namespace eb = canal::protocol::entry;

// A column of a source table as its definition gives it (not a value).
struct SourceColumn {
  std::string name;
  std::string mysqlType;  // "int(11) unsigned", "varchar(32)"
  bool isKey = false;     // of the primary key
};

struct Change {
  const eb::Entry* entry = nullptr;  // owned by the batch's Message
  eb::RowChange rowChange;
  std::string database;
  std::string table;
  eb::EventType type = eb::INSERT;
  bool isDdl = false;
  std::string logfileName;
  std::int64_t logfileOffset = 0;
  std::int64_t executeTime = 0;  // binlog time, ms
  bool snapshot = false;          // a snapshot row (header prop snapshot=true), not a binlog change
  std::int64_t sequence = 0;      // the server's stream sequence (header prop `sequence`); 0: none sent

  std::string qualifiedName() const { return database + "." + table; }
  // "schema.table at file:offset", for messages.
  std::string where() const { return qualifiedName() + " at " + logfileName + ":" + std::to_string(logfileOffset); }
  // True for a statement that is neither DDL nor a row change (MariaDB's ANNOTATE_ROWS,
  // MySQL's ROWS_QUERY): the SQL text of the rows that follow.
  bool isStatement() const { return !isDdl && rowChange.rowdatas_size() == 0; }
  // The binlog position as one number that grows along the binlog: the file's index
  // ("mysql-bin.000123" -> 123) in the high 31 bits, the offset in the low 32. What a read of
  // the source database is compared with.
  std::int64_t position() const;
  // Where the change is in the stream, as one number that only grows: the server's stream
  // sequence, which goes on growing across a primary switch, a RESET MASTER and a server
  // takeover (docs/protocol.md) and is above every position(); from a server that sends none,
  // position(). Sinks version rows and order batches by it.
  std::int64_t version() const { return sequence > 0 ? sequence : position(); }
};

// The changes of `message`, in order; an error naming the entry's position when one does not
// parse. The changes point into `message`, which must outlive them.
client::Result<std::vector<Change>> changesOf(const client::Message& message);

// `pattern` with each %{name} of `values` replaced; any other text is kept.
std::string expandPattern(const std::string& pattern,
                          std::initializer_list<std::pair<std::string_view, std::string_view>> values);
// `pattern` with %{database} and %{table} replaced.
std::string expandTablePattern(const std::string& pattern, const std::string& database, const std::string& table);

// The index of a binlog file name ("mysql-bin.000123" -> 123), 0 when it has none.
std::int64_t binlogFileIndex(std::string_view name);

}  // namespace canal::forwarder
