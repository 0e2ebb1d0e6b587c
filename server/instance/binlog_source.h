#pragma once

// Where a destination's binlog pump reads from: one run of the primary's binlog from a start
// position, with the table definitions that go with it. The composition root makes the real one
// (a replica connection with reconnection and failover, and a schema cache over the primary);
// the pump only sees this interface.
// Thread contract: open() and a run's next() are called from the pump's thread; cancel() from
// any thread.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/binlog/format_description.h"
#include "server/common/position.h"
#include "server/common/status.h"
#include "server/replica/binlog_dump.h"
#include "server/replica/replica_stream.h"

namespace canal::schema {
class TableDefinitions;
}

namespace canal::instance {

class BinlogRun {
 public:
  virtual ~BinlogRun() = default;
  // Where this run started.
  virtual const replica::DumpStart& start() const = 0;
  // The next event, across reconnections; Aborted after cancel().
  virtual Result<replica::DumpEvent> next() = 0;
  virtual const binlog::FormatDescription& format() const = 0;
  // The last transaction boundary read.
  virtual const CommitPosition& committed() const = 0;
  // Table definitions at the run's position.
  virtual schema::TableDefinitions& schemas() = 0;
  // While the run's link to the primary is down and being re-established, why and since when
  // (wall-clock ms); OK otherwise. Thread-safe.
  virtual Status linkError(std::int64_t* sinceMs) const = 0;
  // host:port of the server read now (the standby after a switch), and what changed where the
  // run reads, oldest first, for people. Thread-safe.
  virtual std::string reading() const = 0;
  virtual std::vector<replica::StreamNotice> notices() const { return {}; }
  virtual void cancel() = 0;
};

class BinlogSource {
 public:
  virtual ~BinlogSource() = default;
  // host:port of the primary, for logs and figures.
  virtual std::string primary() const = 0;
  // Starts a run after `from` (the last transaction stored), or where the configuration says
  // when there is none.
  virtual Result<std::unique_ptr<BinlogRun>> open(const std::optional<CommitPosition>& from) = 0;
};

}  // namespace canal::instance
