#pragma once

// The GTIDs a binlog stream has executed, as the events show them: MySQL's executed set (whole
// once the stream started from a set or read a file's PREVIOUS_GTIDS), MariaDB's last GTID per
// domain, and the transaction in progress, which counts as executed once it commits (or once the
// next GTID shows it ended). One tracker serves the replica stream (where a reconnection resumes:
// committed transactions only) and the entry assembler (Header.gtid: the transaction in
// progress included). Tagged MySQL GTIDs (8.3+) are in the set under their tag.
// Thread contract: not thread-safe; one owner.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "server/binlog/events.h"
#include "server/common/gtid_set.h"
#include "server/common/status.h"

namespace canal::binlog {

class GtidTracker {
 public:
  // Starts over from `executed`: a MySQL set ("uuid:1-5,...", then whole), a MariaDB state
  // ("0-1-5,1-2-7", one per domain) or nothing. InvalidArgument when it is neither.
  Status start(std::string_view executed);

  // A MySQL GTID event opens a transaction; before a set is known, the transactions of its
  // source before it count as executed (uuid:1-(gno-1)), as Canal assumes.
  void note(const GtidEvent& g);
  // A MariaDB GTID event (of an event group written by `serverId`).
  void note(const MariaGtidEvent& g, std::uint32_t serverId);
  // A file's PREVIOUS_GTIDS: the whole executed set at that point.
  void note(const PreviousGtidsEvent& p);
  // The transaction in progress committed.
  void commit();
  // The transaction in progress will not complete here (the link was lost in it).
  void discardPending();

  // MySQL: true when the set is known whole, so a dump can resume from it.
  bool mysqlWhole() const { return whole_; }
  // The committed MySQL set, as text.
  std::string mysqlExecuted() const { return mysql_.toString(); }
  // The MySQL set with the transaction in progress, or the MariaDB state with it: what Canal
  // shows in Header.gtid.
  const std::string& executedWithPending() const;
  // The last committed MariaDB GTID ("domain-server-sequence"); empty before one.
  const std::string& mariaLast() const { return mariaLast_; }

 private:
  void refresh() { stale_ = true; }  // withPending_ is made again when next asked for

  MysqlGtidSet mysql_;  // committed
  bool whole_ = false;
  struct Pending {
    MysqlGtidSet::Uuid uuid;
    std::uint64_t gno;
    std::string tag;
  };
  std::optional<Pending> mysqlPending_;
  std::map<std::uint32_t, std::string> maria_;  // committed, per domain: "domain-server-sequence"
  std::optional<std::pair<std::uint32_t, std::string>> mariaPending_;
  std::string mariaLast_;
  mutable std::string withPending_;
  mutable bool stale_ = true;
};

}  // namespace canal::binlog
