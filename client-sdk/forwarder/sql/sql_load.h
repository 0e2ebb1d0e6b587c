#pragma once

// `canal-forwarder load --config FILE --table DB.TABLE [--create]`: a SQL copy's existing rows,
// loaded through canal-server's snapshot while the forwarder follows the stream, so the copy
// joins the live changes without a gap (forwarder/server_snapshot.h, the flow `reindex` uses):
//   1. the forwarder of the configuration runs (every sink: what it acks, they all had); with
//      --create, the copy's table is created when missing from the rows' columns;
//   2. once it is subscribed, canal-server snapshots the table on the forwarder's destination
//      (the sql sink's load.snapshot_url), and its rows arrive as upserts in their place in the
//      stream, merged with the live changes by watermarks;
//   3. when the snapshot is done, every snapshot row is applied and the forwarder has caught up
//      (load.max_lag_ms), it stops: everything applied is acked, and the usual forwarder goes on
//      from there.
// It takes the destination's consumer: run it instead of the forwarder, not beside it. A
// running forwarder does the same over its admin endpoint (POST /load/DB.TABLE): the snapshot's
// rows go through it, and the load is done once they are applied and it has caught up.

#include <string>

#include "canal/client/status.h"
#include "forwarder/forwarder_config.h"
#include "forwarder/server_snapshot.h"

namespace canal::forwarder {

client::Status load(const ForwarderConfig& config, const std::string& table, bool create, const CommandLog& log,
                    const volatile int* stop = nullptr);

// The load of `table` through `forwarder`, which runs the configuration and follows the stream.
client::Status loadThrough(const ForwarderConfig& config, const std::string& table, const Forwarder& forwarder,
                           const CommandLog& log, const volatile int* stop = nullptr);

// The index in config.sinks of the sql sink that copies `table`; an error naming why there is
// none (or two).
client::Result<std::size_t> loadingSink(const ForwarderConfig& config, const std::string& table);

}  // namespace canal::forwarder
