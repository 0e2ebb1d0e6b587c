#include "forwarder/sql/sql_load.h"

#include <optional>

#include "forwarder/forwarder.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {

using client::Status;

Status load(const ForwarderConfig& config, const std::string& table, bool create, const CommandLog& log,
            const volatile int* stop) {
  const auto failure = [](const std::string& what) { return Status(Status::kInvalidArgument, "load: " + what); };
  if (table.find('.') == std::string::npos) return failure("--table names database.table, not '" + table + "'");
  ForwarderConfig fc = config;
  const SinkConfig* sink = nullptr;
  for (SinkConfig& s : fc.sinks) {
    if (s.kind != SinkConfig::Kind::kSql) continue;
    auto mapped = publish::FirstMatch::create(publish::tableExpressions(s.sql.mappings));
    if (!mapped || !mapped->of(table)) continue;
    if (auto tables = publish::TableSet::create(s.tables); !tables || !(tables->matchesAll() || tables->matches(table))) {
      continue;
    }
    if (sink) return failure("two sql sinks copy " + table + " (" + sink->name + ", " + s.name + ")");
    if (create) s.sql.createTables = true;
    sink = &s;
  }
  if (!sink) return failure("no sql sink of the configuration copies " + table);
  const SqlSinkConfig::Load& lc = sink->sql.load;
  if (lc.snapshotUrl.empty()) return failure(sink->name + ": sql.load.snapshot_url is not set (canal-server's HTTP port)");
  const auto stopped = [stop] { return stop && *stop; };
  auto snapshots = ServerSnapshots::create({lc.snapshotUrl, lc.snapshotUser, lc.snapshotPassword},
                                           fc.source.destination, "load", log, stopped);
  if (!snapshots) return snapshots.status();
  auto forwarder = Forwarder::create(fc, log);
  if (!forwarder) return forwarder.status();
  RunningForwarder running(std::move(*forwarder), "the forwarder");
  if (Status s = snapshots->waitSubscribed(running); !s) return s;
  auto rows = snapshots->run(running, {table}, lc.chunkSize, lc.rowsPerSecond, [](std::int64_t) { return Status::ok(); });
  if (!rows) {
    (void)running.stop();
    return rows.status();
  }
  if (Status s = snapshots->catchUp(running, *rows, lc.maxLag); !s) {
    (void)running.stop();
    return s;
  }
  if (Status s = running.stop(); !s) return s;
  log("load of " + table + " into " + sink->name + ": " + std::to_string(*rows) + " rows");
  return Status::ok();
}

}  // namespace canal::forwarder
