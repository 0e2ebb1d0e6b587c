#pragma once

// What a destination's snapshots do as it starts. A snapshot that was running when it stopped
// goes on after its last chunk recorded (a failure is logged; the destination runs). With
// canal.instance.snapshot.mode = initial or initial_only and no stored position, the initial
// snapshot starts: the tables of canal.instance.snapshot.tables, else those of the table filter
// that can be chunked (the others are named in a warning). Thread contract: the thread starting
// the destination.

#include "server/common/status.h"
#include "server/instance/destination.h"
#include "server/snapshot/snapshot_runner.h"

namespace canal::snapshot {

// An error when the initial snapshot is due and cannot start: the destination should not run
// without it.
Status startSnapshotsOfStart(instance::Destination& destination, SnapshotRunner& runner);

}  // namespace canal::snapshot
