#pragma once

// The concrete parts of a destination, made here at the composition root and handed to
// instance::Destination: the event store (memory, or journaled in RocksDB under storeDir), the
// binlog source (a replica connection with reconnection, standby failover and detecting, and a
// schema cache over the primary, versioned in the schema history), and the meta it was given.
// Thread contract: the functions are reentrant.

#include <memory>

#include "server/common/status.h"
#include "server/instance/binlog_source.h"
#include "server/instance/destination.h"
#include "server/meta/meta_store.h"

namespace canal::app {

// The binlog source of `options`: its primary, standby, dump, start and reconnection settings.
std::unique_ptr<instance::BinlogSource> replicaSource(const instance::DestinationOptions& options);

// Reads `meta` (may be null: memory mode), opens the store (a durable one whose ack cursor no
// longer matches a shared meta's cursors is dropped and started afresh: another server ran the
// destination since) and builds the destination. Errors name the file or directory.
Result<std::unique_ptr<instance::Destination>> makeDestination(instance::DestinationOptions options,
                                                               std::unique_ptr<meta::MetaStore> meta = nullptr);

}  // namespace canal::app
