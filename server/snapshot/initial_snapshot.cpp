#include "server/snapshot/initial_snapshot.h"

#include <spdlog/spdlog.h>

#include "server/common/logging.h"
#include "server/snapshot/chunk_query.h"
#include "server/convert/table_filter.h"
#include "server/mysql/mysql_connection.h"

namespace canal::snapshot {
namespace {

Status startInitial(instance::Destination& d, SnapshotRunner& runner) {
  const instance::DestinationOptions& o = d.options();
  std::shared_ptr<const convert::TableFilter> filter = d.tableFilter();
  if (!o.snapshotTables.empty()) {
    convert::TableFilterSpec spec;
    spec.regex = o.snapshotTables;
    auto made = convert::TableFilter::create(spec);
    if (!made) return made.status().withContext("canal.instance.snapshot.tables");
    filter = *made;
  }
  auto connection = mysql::MysqlConnection::connect(o.master);
  if (!connection) return connection.status();
  auto tables = matchingTables(**connection, *filter);
  if (!tables) return tables.status();
  if (o.snapshotTables.empty()) {
    // From the table filter: tables that cannot be chunked are left out, said once.
    for (auto it = tables->begin(); it != tables->end();) {
      auto key = chunkKey(**connection, it->first, it->second);
      if (key) {
        ++it;
        continue;
      }
      moduleLogger("snapshot")->warn("destination {}: {}; left out of the initial snapshot", o.name,
                                     key.status().message());
      it = tables->erase(it);
    }
  }
  if (tables->empty()) return Status::ok();
  SnapshotRequest request;
  request.tables = std::move(*tables);
  request.chunkSize = o.snapshotChunkSize;
  request.rowsPerSecond = o.snapshotRowsPerSecond;
  request.parallel = o.snapshotParallel;
  return runner.start(std::move(request)).status();
}

}  // namespace

Status startSnapshotsOfStart(instance::Destination& d, SnapshotRunner& runner) {
  if (!d.recoveredSnapshot().empty()) {
    if (auto resumed = runner.resume(d.recoveredSnapshot()); !resumed) {
      moduleLogger("snapshot")->error("destination {}: the snapshot that was running cannot go on: {}",
                                      d.options().name, resumed.status().toString());
    }
    return Status::ok();
  }
  if (!d.options().initialSnapshot || !d.startedWithoutPosition()) return Status::ok();
  return startInitial(d, runner).withContext("initial snapshot (canal.instance.snapshot.mode)");
}

}  // namespace canal::snapshot
