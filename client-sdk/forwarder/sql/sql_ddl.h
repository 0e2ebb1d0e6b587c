#pragma once

// What a source table's DDL means for its copy in a SQL target (forwarder/sql/sql_sink.h), by
// the sink's `ddl` setting:
//   mirror  ALTER TABLE's ADD / DROP / RENAME / CHANGE / MODIFY COLUMN and TRUNCATE repeated on
//           the target (PostgreSQL: types mapped by postgresType, defaults and NOT NULL kept;
//           ADD and DROP with IF [NOT] EXISTS, so a statement repeated after a crash passes);
//   stop    the same statements stop the sink, naming the statement and how to go on;
//   ignore  nothing is done (the target is changed by hand).
// An ALTER that changes no column (indexes, keys, options) changes nothing in the copy; columns
// the mapping leaves out are left out; renames follow the mapping. DROP or RENAME TABLE of a
// mapped table stops the sink unless `ignore`.
// Thread contract: functions without state.

#include <string>
#include <vector>

#include "canal/client/status.h"
#include "forwarder/change.h"
#include "forwarder/forwarder_config.h"
#include "forwarder/sql/sql_statements.h"

namespace canal::forwarder {

// The statements for DDL change `c` of a table `m` maps to `target` (quoted); empty: nothing to
// do; kSinkFatal naming the statement when it must stop.
client::Result<std::vector<std::string>> ddlStatements(const SqlMapping& m, const std::string& target, const Change& c,
                                                       const SqlDialect& dialect, SqlSinkConfig::Ddl mode);

}  // namespace canal::forwarder
