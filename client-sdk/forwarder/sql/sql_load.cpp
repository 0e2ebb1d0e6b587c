#include "forwarder/sql/sql_load.h"

#include <algorithm>

#include "forwarder/forwarder.h"
#include "forwarder/sql/sql_statements.h"
#include "forwarder/sql/sql_target.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

using client::Result;
using client::Status;

Status failure(const std::string& what) { return Status(Status::kInvalidArgument, "load: " + what); }

// The copy of `table` made when missing, from the table's definition on the primary (its rows
// may be none, or come later).
Status createCopy(const SinkConfig& sink, const std::string& table, ServerSnapshots& snapshots, const CommandLog& log) {
  auto mapped = publish::FirstMatch::create(publish::tableExpressions(sink.sql.mappings));
  if (!mapped) return mapped.status();
  const auto mapping = mapped->of(table);
  if (!mapping) return failure(sink.name + " has no mapping of " + table);
  auto columns = snapshots.columnsOf(table);
  if (!columns) return columns.status();
  const auto dot = table.find('.');
  const SqlMapping& m = sink.sql.mappings[*mapping];
  const std::string target = sqlTarget(m, table.substr(0, dot), table.substr(dot + 1), sink.sql.postgres);
  auto create = createTableStatement(m, target, *columns, sink.sql.postgres, table);
  if (!create) return create.status();
  auto connection = connectSqlTarget(sink.sql, sink.name);
  if (!connection) return connection.status();
  if (Status s = (*connection)->execute(*create); !s) return s;
  log("load of " + table + ": " + *create);
  return Status::ok();
}

// The snapshot of `table` through `forwarder`, waited for until its rows are applied and the
// stream caught up.
Status loadWith(const SinkConfig& sink, const std::string& destination, const std::string& table,
                const FollowingForwarder& forwarder, const CommandLog& log, const volatile int* stop) {
  const SqlSinkConfig::Load& lc = sink.sql.load;
  if (lc.snapshotUrl.empty()) return failure(sink.name + ": sql.load.snapshot_url is not set (canal-server's HTTP port)");
  auto snapshots = ServerSnapshots::create({lc.snapshotUrl, lc.snapshotUser, lc.snapshotPassword}, destination, "load",
                                           log, [stop] { return stop && *stop; });
  if (!snapshots) return snapshots.status();
  if (sink.sql.createTables) {
    if (Status s = createCopy(sink, table, *snapshots, log); !s) return s;
  }
  if (Status s = snapshots->waitSubscribed(forwarder); !s) return s;
  const std::uint64_t before = forwarder.counters().snapshotRows;
  auto rows = snapshots->run(forwarder, {table}, lc.chunkSize, lc.rowsPerSecond, [](std::int64_t) { return Status::ok(); });
  if (!rows) return rows.status();
  if (Status s = snapshots->catchUp(forwarder, before + *rows, lc.maxLag); !s) return s;
  log("load of " + table + " into " + sink.name + ": " + std::to_string(*rows) + " rows");
  return Status::ok();
}

}  // namespace

Result<std::size_t> loadingSink(const ForwarderConfig& config, const std::string& table) {
  if (table.find('.') == std::string::npos) return failure("the table is named database.table, not '" + table + "'");
  const SinkConfig* found = nullptr;
  std::size_t index = 0;
  for (std::size_t i = 0; i < config.sinks.size(); ++i) {
    const SinkConfig& s = config.sinks[i];
    if (s.kind != SinkConfig::Kind::kSql) continue;
    auto mapped = publish::FirstMatch::create(publish::tableExpressions(s.sql.mappings));
    if (!mapped || !mapped->of(table)) continue;
    if (auto tables = publish::TableSet::create(s.tables); !tables || !(tables->matchesAll() || tables->matches(table))) {
      continue;
    }
    if (found) return failure("two sql sinks copy " + table + " (" + found->name + ", " + s.name + ")");
    found = &s;
    index = i;
  }
  if (!found) return failure("no sql sink of the configuration copies " + table);
  return index;
}

Status load(const ForwarderConfig& config, const std::string& table, bool create, const CommandLog& log,
            const volatile int* stop) {
  ForwarderConfig fc = config;
  auto sink = loadingSink(fc, table);
  if (!sink) return sink.status();
  if (create) fc.sinks[*sink].sql.createTables = true;
  // The forwarder stops after its get in flight: a short one ends the load sooner.
  fc.source.pollTimeout = std::min(fc.source.pollTimeout, std::chrono::milliseconds(200));
  auto forwarder = Forwarder::create(fc, log);
  if (!forwarder) return forwarder.status();
  RunningForwarder running(std::move(*forwarder), "the forwarder");
  const Status s = loadWith(fc.sinks[*sink], fc.source.destination, table, running, log, stop);
  const Status stopped = running.stop();
  return !s ? s : stopped;
}

Status loadThrough(const ForwarderConfig& config, const std::string& table, const Forwarder& forwarder,
                   const CommandLog& log, const volatile int* stop) {
  auto sink = loadingSink(config, table);
  if (!sink) return sink.status();
  return loadWith(config.sinks[*sink], config.source.destination, table, LiveForwarder(forwarder), log, stop);
}

}  // namespace canal::forwarder
