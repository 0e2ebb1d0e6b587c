#pragma once

// canal-server --check --connect: each destination's primary (and standby) reached as the
// destination will reach it, and what the binlog stream needs checked there: the login, the
// binlog on and in ROW format with full row images, the replication privileges, and the table
// filter matching at least one table. Each problem names the key and the file it comes from.
// Thread contract: functions without state.

#include <string>
#include <vector>

#include "server/instance/destination.h"

namespace canal::app {

// The problems found on `options`'s primary and standby; empty when everything holds.
// `file` is the destination's instance.properties, for the messages.
std::vector<std::string> checkPrimaries(const instance::DestinationOptions& options, const std::string& file);

}  // namespace canal::app
