#pragma once

// The PostgreSQL column type that holds every value of a MySQL/MariaDB column type as
// canal-server renders it (docs/forwarder.md, "Types in PostgreSQL"), for target tables the sink
// creates. Types with no faithful PostgreSQL type (zero dates aside) are refused by name unless
// the mapping gives a `cast`. Thread contract: functions without state.

#include <string>
#include <string_view>

#include "canal/client/status.h"

namespace canal::forwarder {

// `mysqlType` as Canal's mysqlType field spells it ("int(10) unsigned", "varchar(20)",
// "decimal(12,2)", "datetime(3)", "enum('a','b')"); InvalidArgument naming it when PostgreSQL has
// no type for it.
client::Result<std::string> postgresType(std::string_view mysqlType);

}  // namespace canal::forwarder
