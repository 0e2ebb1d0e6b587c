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
// It takes the destination's consumer: run it instead of the forwarder, not beside it.

#include <string>

#include "canal/client/status.h"
#include "forwarder/forwarder_config.h"
#include "forwarder/server_snapshot.h"

namespace canal::forwarder {

client::Status load(const ForwarderConfig& config, const std::string& table, bool create, const CommandLog& log,
                    const volatile int* stop = nullptr);

}  // namespace canal::forwarder
