#pragma once

// A full reindex behind an Elasticsearch alias, without downtime:
//   1. a new index ALIAS_<UTC time, yyyyMMddHHmmssSSS> is created with the settings and mappings of
//      reindex.indexes[ALIAS];
//   2. a forwarder of its own follows reindex.destination (a second destination on the same
//      primary: Canal serves one consumer per destination) into the new index, while the
//      running forwarder keeps the alias's index current;
//   3. canal-server snapshots the tables that feed the alias on that destination,
//      so their existing rows reach the new index, merged with the live changes by watermarks;
//   4. when the snapshot is done and the new index is within reindex.max_lag_ms of the stream,
//      one _aliases request moves the alias (removing it from the old index, or the old index
//      itself when the alias name was a plain index) and the old index is deleted unless
//      reindex.keep_old.
// The alias never points to a half-built index: it moves only in step 4. What is in progress
// is kept in reindex.state_dir/reindex-ALIAS.json; a run that finds one either finishes a swap
// that happened (the alias points to the new index) or drops the half-built index and starts
// again, and says which.

#include <functional>
#include <string>

#include "canal/client/status.h"
#include "forwarder/forwarder_config.h"

namespace canal::forwarder {

using ReindexLog = std::function<void(const std::string&)>;

// Runs the reindex of `alias` as `config` describes; returns once the alias points to the new
// index (or on the first failure, leaving the alias as it was). `stop` (may be null) is polled:
// non-zero stops the reindex as a failure.
client::Status reindex(const ForwarderConfig& config, const std::string& alias, const ReindexLog& log,
                       const volatile int* stop = nullptr);

// Whether some elasticsearch sink of `config` writes to `alias` (a reindex of it can run).
bool reindexable(const ForwarderConfig& config, const std::string& alias);

}  // namespace canal::forwarder
