// The sql sink's configuration: its section of canal-forwarder's YAML, and canal-adapter's RDB
// mapping files.

#include <string_view>

#include "forwarder/config_section.h"
#include "forwarder/row_condition.h"

namespace canal::forwarder {
namespace config {
namespace {

void readSqlMapping(Section s, SqlMapping& m) {
  s.read("table", m.table);
  s.read("target", m.target);
  s.readList("key", m.key);
  s.readMap("rename", m.rename);
  s.readList("include", m.include);
  s.readList("exclude", m.exclude);
  s.readMap("cast", m.cast);
  s.read("where", m.where);
  s.done();
  if (m.table.empty()) Section::fail(s.keyPath("table"), "is required");
  if (!m.where.empty()) {
    if (auto condition = RowCondition::compile(m.where); !condition) {
      Section::fail(s.keyPath("where"), condition.status().message());
    }
  }
}

}  // namespace

void readSql(Section s, SqlSinkConfig& c) {
  std::string driver = "mariadb";
  s.read("driver", driver);
  if (driver != "mariadb" && driver != "mysql" && driver != "postgresql") {
    Section::fail(s.keyPath("driver"), "must be mariadb, mysql or postgresql (is '" + driver + "')");
  }
  c.postgres = driver == "postgresql";
  if (c.postgres) c.port = 5432;
  s.read("host", c.host);
  s.readInt("port", c.port, 1, 65535);
  s.read("unix_socket", c.unixSocket);
  s.read("user", c.user);
  s.read("password", c.password);
  s.read("database", c.database);
  s.read("position_table", c.positionTable);
  s.readMs("timeout_ms", c.timeout);
  s.readInt("batch_rows", c.batchRows, 1, 100000);
  s.read("time_zone", c.timeZone);
  s.read("dead_letter_table", c.deadLetterTable);
  s.readInt("parallel", c.parallel, 1, 64);
  s.read("create_tables", c.createTables);
  if (const YAML::Node load = s.node("load"); load && !load.IsNull()) {
    Section l = s.child("load");
    l.read("snapshot_url", c.load.snapshotUrl);
    l.read("snapshot_user", c.load.snapshotUser);
    l.read("snapshot_password", c.load.snapshotPassword);
    l.readInt("chunk_size", c.load.chunkSize, 0, 1000000);
    l.readInt("rows_per_second", c.load.rowsPerSecond, 0, 100000000);
    l.readMs("max_lag_ms", c.load.maxLag);
    l.done();
    if (c.load.snapshotUrl.rfind("http://", 0) != 0 && c.load.snapshotUrl.rfind("https://", 0) != 0) {
      Section::fail(l.keyPath("snapshot_url"), "must be canal-server's HTTP address (http://host:canal.metrics.pull.port)");
    }
  }
  std::string ddl = "stop";
  s.read("ddl", ddl);
  if (ddl == "stop") c.ddl = SqlSinkConfig::Ddl::kStop;
  else if (ddl == "mirror") c.ddl = SqlSinkConfig::Ddl::kMirror;
  else if (ddl == "ignore") c.ddl = SqlSinkConfig::Ddl::kIgnore;
  else Section::fail(s.keyPath("ddl"), "must be stop, mirror or ignore (is '" + ddl + "')");
  readSections(s, "mappings", c.mappings, readSqlMapping);
  s.readList("mapping_files", c.mappingFiles);
  s.done();
  if (c.mappings.empty() && c.mappingFiles.empty()) {
    Section::fail(s.keyPath("mappings"), "must list at least one table (or mapping_files name canal-adapter's)");
  }
  if (c.positionTable.empty()) Section::fail(s.keyPath("position_table"), "must not be empty");
}

}  // namespace config

using client::Status;
using config::ConfigError;
using config::Section;

client::Result<SqlMapping> parseCanalAdapterMapping(const std::string& yaml, const std::string& origin) {
  SqlMapping m;
  try {
    const YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap()) return Status(Status::kInvalidArgument, origin + ": must be a YAML mapping");
    Section top(root, "");
    std::string ignored;
    bool concurrent = false;
    // Which canal-adapter reads the file: canal-forwarder's configuration says that itself.
    for (const char* key : {"dataSourceKey", "destination", "groupId", "outerAdapterKey"}) top.read(key, ignored);
    top.read("concurrent", concurrent);  // changes are applied in order, one transaction per batch
    Section d = top.child("dbMapping");
    bool mirrorDb = false;
    bool mapAll = false;
    std::string database;
    std::string table;
    std::string targetDb;
    std::string targetTable;
    std::map<std::string, std::string> targetPk;
    std::map<std::string, std::string> targetColumns;
    int batch = 0;
    d.read("mirrorDb", mirrorDb);
    d.read("database", database);
    d.read("table", table);
    d.readMap("targetPk", targetPk, true);
    d.read("mapAll", mapAll);
    d.read("targetDb", targetDb);
    d.read("targetTable", targetTable);
    d.readMap("targetColumns", targetColumns, true);
    d.read("etlCondition", ignored);  // the initial load's; not read by the sink
    d.read("readBatch", batch);
    d.read("commitBatch", batch);
    d.done();
    top.done();
    if (mirrorDb) Section::fail("dbMapping.mirrorDb", "is not supported: map each table");
    if (database.empty()) Section::fail("dbMapping.database", "is required");
    if (table.empty()) Section::fail("dbMapping.table", "is required");
    if (targetTable.empty()) Section::fail("dbMapping.targetTable", "is required");
    // Canal table expressions are regular expressions: the names are matched as written.
    const auto literal = [](const std::string& name) {
      std::string out;
      for (const char c : name) {
        if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) out.push_back('\\');
        out.push_back(c);
      }
      return out;
    };
    m.table = literal(database) + "\\." + literal(table);
    m.target = targetTable.find('.') != std::string::npos || targetDb.empty() ? targetTable : targetDb + "." + targetTable;
    for (const auto& [target, source] : targetPk) m.key.push_back(source.empty() ? target : source);
    for (const auto& [target, source] : targetColumns) {
      const std::string& from = source.empty() ? target : source;
      if (from != target) m.rename[from] = target;
      if (!mapAll) m.include.push_back(from);
    }
    if (!mapAll && targetColumns.empty()) Section::fail("dbMapping.targetColumns", "is required unless mapAll is true");
  } catch (const ConfigError& e) {
    return Status(Status::kInvalidArgument, origin + ": " + e.message);
  } catch (const YAML::Exception& e) {
    return Status(Status::kInvalidArgument, origin + ": " + e.what());
  }
  return m;
}

}  // namespace canal::forwarder
