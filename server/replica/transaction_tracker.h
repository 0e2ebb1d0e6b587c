#pragma once

// Follows the transaction framing of a binlog stream: which event opens a group of events that
// commit together and which ends it. MySQL: GTID, then BEGIN ... XID/COMMIT or a lone DDL;
// MariaDB: GTID (flagged standalone for DDL) ... XID/COMMIT; without GTIDs: BEGIN ... XID/COMMIT
// or a lone statement; a TRANSACTION_PAYLOAD holds a whole transaction. One thread.

#include <optional>

#include "server/binlog/event_stream.h"
#include "server/binlog/events.h"

namespace canal::replica {

class TransactionTracker {
 public:
  struct Step {
    bool opens = false;  // the first event of a group
    bool ends = false;   // the last event of a group (a lone statement both opens and ends)
  };

  Step note(const binlog::RawEvent& event, const binlog::FormatDescription& format);

  // The MariaDB GTID event that opened the current (or last) group, if any.
  const std::optional<binlog::MariaGtidEvent>& mariaGtid() const { return mariaGtid_; }

 private:
  bool groupOpen_ = false;      // a GTID or BEGIN opened a group not ended yet
  bool inTransaction_ = false;  // inside BEGIN ... COMMIT: a statement does not end the group
  std::optional<binlog::MariaGtidEvent> mariaGtid_;
};

}  // namespace canal::replica
