#include "forwarder/forwarder_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "forwarder/row_condition.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

using client::Status;

struct ConfigError {
  std::string message;
};

// A mapping node with its path; every key read is remembered so the unknown ones can be named.
class Section {
 public:
  Section(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {
    if (node_ && !node_.IsMap()) fail(path_, "must be a mapping");
  }

  bool has(const std::string& key) {
    known_.insert(key);
    return node_ && node_[key] && !node_[key].IsNull();
  }
  std::string keyPath(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  template <typename T>
  void read(const std::string& key, T& out) {
    if (!has(key)) return;
    try {
      out = node_[key].as<T>();
    } catch (const YAML::Exception&) {
      fail(keyPath(key), "has a value of the wrong type");
    }
  }
  void readInt(const std::string& key, int& out, int min, int max) {
    read(key, out);
    if (out < min || out > max) {
      fail(keyPath(key), "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
  }
  void readMs(const std::string& key, std::chrono::milliseconds& out, int min = 1) {
    int ms = static_cast<int>(out.count());
    readInt(key, ms, min, 86400000);
    out = std::chrono::milliseconds(ms);
  }
  void readList(const std::string& key, std::vector<std::string>& out) {
    if (!has(key)) return;
    const YAML::Node n = node_[key];
    if (n.IsScalar()) {
      out = {n.as<std::string>()};
      return;
    }
    if (!n.IsSequence()) fail(keyPath(key), "must be a list");
    out.clear();
    for (const auto& item : n) {
      if (!item.IsScalar()) fail(keyPath(key), "must be a list of strings");
      out.push_back(item.as<std::string>());
    }
  }
  // With `emptyValues`, a key without a value reads as "".
  void readMap(const std::string& key, std::map<std::string, std::string>& out, bool emptyValues = false) {
    if (!has(key)) return;
    const YAML::Node n = node_[key];
    if (!n.IsMap()) fail(keyPath(key), "must be a mapping");
    for (const auto& kv : n) {
      if (emptyValues && kv.second.IsNull()) {
        out[kv.first.as<std::string>()] = "";
        continue;
      }
      if (!kv.second.IsScalar()) fail(keyPath(key) + "." + kv.first.as<std::string>(), "must be a scalar");
      out[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  Section child(const std::string& key) {
    has(key);
    return Section(node_ ? node_[key] : YAML::Node(), keyPath(key));
  }
  YAML::Node node(const std::string& key) {
    has(key);
    return node_ ? node_[key] : YAML::Node();
  }
  // Fails on the first key that was never read.
  void done() const {
    if (!node_) return;
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      if (!known_.count(key)) fail(keyPath(key), "is not a known key");
    }
  }
  [[noreturn]] static void fail(const std::string& path, const std::string& why) { throw ConfigError{path + " " + why}; }

 private:
  YAML::Node node_;
  std::string path_;
  std::set<std::string> known_;
};

FieldType fieldType(const std::string& text, const std::string& path) {
  static const std::map<std::string, FieldType> kTypes = {
      {"auto", FieldType::kAuto},       {"string", FieldType::kString}, {"number", FieldType::kNumber},
      {"boolean", FieldType::kBoolean}, {"date", FieldType::kDate},     {"json", FieldType::kJson}};
  const auto it = kTypes.find(text);
  if (it == kTypes.end()) Section::fail(path, "'" + text + "' is not one of auto, string, number, boolean, date, json");
  return it->second;
}

void readSource(Section s, SourceConfig& c) {
  s.read("address", c.address);
  s.read("zookeeper", c.zookeeper);
  s.read("destination", c.destination);
  s.read("user", c.user);
  s.read("password", c.password);
  s.read("filter", c.filter);
  s.readInt("batch_size", c.batchSize, 1, 1000000);
  int clientId = c.clientId;
  s.readInt("client_id", clientId, 1, 32767);
  c.clientId = static_cast<std::int16_t>(clientId);
  s.readMs("poll_timeout_ms", c.pollTimeout);
  s.done();
  if (c.address.empty() == c.zookeeper.empty()) Section::fail("source", "needs exactly one of address and zookeeper");
  if (c.destination.empty()) Section::fail("source.destination", "must not be empty");
}

void readKafka(Section s, KafkaSinkConfig& c) {
  s.read("brokers", c.brokers);
  s.read("topic", c.topic);
  s.read("partition_hash", c.partitionHash);
  s.read("database_hash", c.databaseHash);
  s.readInt("partition", c.partition, 0, 1 << 20);
  s.readInt("partitions", c.partitions, 0, 1 << 20);
  s.read("compression", c.compression);
  s.readInt("max_message_bytes", c.maxMessageBytes, 1000, 1000000000);
  s.read("dead_letter_topic", c.deadLetterTopic);
  s.read("ddl", c.ddl);
  s.read("statements", c.statements);
  s.readMs("timeout_ms", c.timeout);
  s.readMap("properties", c.properties);
  s.done();
  if (c.brokers.empty()) Section::fail(s.keyPath("brokers"), "is required");
  if (c.topic.empty()) Section::fail(s.keyPath("topic"), "must not be empty");
  static const std::set<std::string> kCodecs = {"none", "gzip", "snappy", "lz4", "zstd"};
  if (!kCodecs.count(c.compression)) {
    Section::fail(s.keyPath("compression"), "'" + c.compression + "' is not one of none, gzip, snappy, lz4, zstd");
  }
}

// Which columns become fields, under which name and type (table mappings, documents, joins).
template <typename Mapping>
void readFields(Section& s, Mapping& m) {
  s.readMap("rename", m.rename);
  s.readList("include", m.include);
  s.readList("exclude", m.exclude);
  std::map<std::string, std::string> types;
  s.readMap("types", types);
  for (const auto& [column, type] : types) m.types[column] = fieldType(type, s.keyPath("types." + column));
}

// Each item of the list `key` read by `read(Section of the item, item)`.
template <typename Item, typename Read>
void readSections(Section& s, const std::string& key, std::vector<Item>& out, Read read) {
  const YAML::Node list = s.node(key);
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) Section::fail(s.keyPath(key), "must be a list");
  for (std::size_t i = 0; i < list.size(); ++i) {
    Item item;
    read(Section(list[i], s.keyPath(key + "[" + std::to_string(i) + "]")), item);
    out.push_back(std::move(item));
  }
}

void readMapping(Section s, IndexMapping& m) {
  s.read("table", m.table);
  s.read("index", m.index);
  s.readList("id", m.id);
  readFields(s, m);
  s.done();
  if (m.table.empty()) Section::fail(s.keyPath("table"), "is required");
  if (m.index.empty()) Section::fail(s.keyPath("index"), "is required");
}

// "schema.table", both parts non-empty, no pattern.
void requireTableName(Section& s, const std::string& key, const std::string& table) {
  const auto dot = table.find('.');
  if (table.empty()) Section::fail(s.keyPath(key), "is required");
  if (dot == std::string::npos || dot == 0 || dot + 1 == table.size() || table.find('.', dot + 1) != std::string::npos ||
      table.find_first_of("*?[]()|\\^$+{}, ") != std::string::npos) {
    Section::fail(s.keyPath(key), "must name one table as schema.table (is '" + table + "')");
  }
}

void readJoin(Section s, DocumentJoin& j) {
  s.read("table", j.table);
  s.readMap("on", j.on);
  s.read("as", j.as);
  s.read("many", j.many);
  s.readList("order_by", j.orderBy);
  readFields(s, j);
  s.done();
  requireTableName(s, "table", j.table);
  if (j.on.empty()) Section::fail(s.keyPath("on"), "is required: main table column: joined table column");
  if (j.many && j.as.empty()) Section::fail(s.keyPath("as"), "is required with many: the field holding the rows");
  if (!j.many && !j.orderBy.empty()) Section::fail(s.keyPath("order_by"), "orders the rows of a join with many only");
}

void readDocument(Section s, DocumentMapping& d) {
  s.read("table", d.table);
  s.read("index", d.index);
  s.readList("id", d.id);
  s.read("routing", d.routing);
  readFields(s, d);
  readSections(s, "joins", d.joins, readJoin);
  s.done();
  requireTableName(s, "table", d.table);
  if (d.index.empty()) Section::fail(s.keyPath("index"), "is required");
  if (d.index.find("%{") != std::string::npos) Section::fail(s.keyPath("index"), "names one index or alias (no %{...})");
}

void readDatabase(Section s, DatabaseConfig& c) {
  s.read("host", c.host);
  s.readInt("port", c.port, 1, 65535);
  s.read("socket", c.socket);
  s.read("user", c.user);
  s.read("password", c.password);
  s.readMs("timeout_ms", c.timeout);
  s.readMs("catch_up_timeout_ms", c.catchUpTimeout);
  s.done();
  if (c.user.empty()) Section::fail(s.keyPath("user"), "is required");
}

void readElasticsearch(Section s, ElasticsearchSinkConfig& c) {
  s.read("url", c.url);
  s.read("user", c.user);
  s.read("password", c.password);
  s.read("ca_file", c.caFile);
  s.read("verify_tls", c.verifyTls);
  s.readInt("bulk_actions", c.bulkActions, 1, 1000000);
  int bytes = static_cast<int>(c.bulkBytes);
  s.readInt("bulk_bytes", bytes, 1024, 1 << 30);
  c.bulkBytes = static_cast<std::size_t>(bytes);
  s.readInt("retries", c.retries, 0, 1000);
  s.readMs("backoff_ms", c.backoff);
  s.readMs("max_backoff_ms", c.maxBackoff);
  s.readMs("timeout_ms", c.timeout);
  s.read("dead_letter_file", c.deadLetterFile);
  if (const YAML::Node reindex = s.node("reindex"); reindex && !reindex.IsNull()) {
    Section r = s.child("reindex");
    r.read("destination", c.reindex.destination);
    r.readMap("indexes", c.reindex.indexFiles);
    r.read("snapshot_url", c.reindex.snapshotUrl);
    r.read("snapshot_user", c.reindex.snapshotUser);
    r.read("snapshot_password", c.reindex.snapshotPassword);
    int clientId = c.reindex.clientId;
    r.readInt("client_id", clientId, 1, 32767);
    c.reindex.clientId = static_cast<std::int16_t>(clientId);
    r.readMs("max_lag_ms", c.reindex.maxLag);
    r.read("keep_old", c.reindex.keepOld);
    r.read("state_dir", c.reindex.stateDir);
    r.readInt("chunk_size", c.reindex.chunkSize, 0, 1 << 24);
    r.readInt("rows_per_second", c.reindex.rowsPerSecond, 0, 1 << 30);
    r.done();
    if (c.reindex.destination.empty()) {
      Section::fail(r.keyPath("destination"), "is required: the reindex follows a destination of its own (Canal "
                                              "serves one consumer per destination)");
    }
    if (c.reindex.snapshotUrl.rfind("http://", 0) != 0 && c.reindex.snapshotUrl.rfind("https://", 0) != 0) {
      Section::fail(r.keyPath("snapshot_url"), "must be canal-server's HTTP address (http://host:canal.metrics.pull.port)");
    }
  }
  readSections(s, "mappings", c.mappings, readMapping);
  readSections(s, "documents", c.documents, readDocument);
  for (std::size_t i = 0; i < c.documents.size(); ++i) {
    for (const IndexMapping& m : c.mappings) {
      if (m.index == c.documents[i].index) {
        Section::fail(s.keyPath("documents[" + std::to_string(i) + "].index"),
                      "'" + m.index + "' is written by a table mapping too");
      }
    }
  }
  if (s.has("database")) readDatabase(s.child("database"), c.database);
  s.done();
  if (c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0) {
    Section::fail(s.keyPath("url"), "must start with http:// or https://");
  }
  while (!c.url.empty() && c.url.back() == '/') c.url.pop_back();
  if (c.mappings.empty() && c.documents.empty()) {
    Section::fail(s.keyPath("mappings"), "needs at least one table mapping (or a document)");
  }
  if (!c.documents.empty() && c.database.user.empty()) {
    Section::fail(s.keyPath("database"), "is required with documents: their joined rows are read from it");
  }
}

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

void readRedisMapping(Section s, RedisMapping& m) {
  s.read("table", m.table);
  s.read("key", m.key);
  std::string value = "hash";
  s.read("value", value);
  if (value == "hash") {
    m.value = RedisMapping::Value::kHash;
  } else if (value == "json") {
    m.value = RedisMapping::Value::kJson;
  } else {
    Section::fail(s.keyPath("value"), "'" + value + "' is not one of hash, json");
  }
  s.readList("id", m.id);
  s.readMap("rename", m.rename);
  s.readList("include", m.include);
  s.readList("exclude", m.exclude);
  const YAML::Node indexes = s.node("indexes");
  if (indexes && !indexes.IsNull()) {
    if (!indexes.IsSequence()) Section::fail(s.keyPath("indexes"), "must be a list");
    for (std::size_t i = 0; i < indexes.size(); ++i) {
      Section is(indexes[i], s.keyPath("indexes[" + std::to_string(i) + "]"));
      RedisMapping::Index index;
      is.read("column", index.column);
      is.read("key", index.key);
      is.done();
      if (index.column.empty()) Section::fail(is.keyPath("column"), "is required");
      if (index.key.find("%{value}") == std::string::npos) Section::fail(is.keyPath("key"), "must contain %{value}");
      m.indexes.push_back(std::move(index));
    }
  }
  s.done();
  if (m.table.empty()) Section::fail(s.keyPath("table"), "is required");
  if (m.key.find("%{pk}") == std::string::npos) Section::fail(s.keyPath("key"), "must contain %{pk}");
}

void readRedis(Section s, RedisSinkConfig& c) {
  s.read("host", c.host);
  s.readInt("port", c.port, 1, 65535);
  s.read("unix_socket", c.unixSocket);
  s.read("user", c.user);
  s.read("password", c.password);
  s.readInt("database", c.database, 0, 1 << 16);
  s.readMs("timeout_ms", c.timeout);
  s.readInt("pipeline", c.pipeline, 1, 1000000);
  s.read("version_prefix", c.versionPrefix);
  s.readInt("tombstone_seconds", c.tombstoneSeconds, 0, 1 << 30);
  bool tls = false;
  s.read("tls", tls);
  readSections(s, "mappings", c.mappings, readRedisMapping);
  s.done();
  if (tls) {
    Section::fail(s.keyPath("tls"), "cannot be true: this build's Redis client (hiredis 0.14) has no TLS; "
                                    "use a local stunnel or a unix socket");
  }
  if (c.versionPrefix.empty()) Section::fail(s.keyPath("version_prefix"), "must not be empty");
  if (c.mappings.empty()) Section::fail(s.keyPath("mappings"), "needs at least one table mapping");
}

void readRabbitMq(Section s, RabbitMqSinkConfig& c) {
  s.read("host", c.host);
  s.read("virtual_host", c.virtualHost);
  s.read("user", c.user);
  s.read("password", c.password);
  s.read("exchange", c.exchange);
  s.read("exchange_type", c.exchangeType);
  s.read("queue", c.queue);
  s.read("binding_key", c.bindingKey);
  s.read("routing_key", c.routingKey);
  s.read("unroutable", c.unroutable);
  s.read("ddl", c.ddl);
  s.read("statements", c.statements);
  s.readMs("timeout_ms", c.timeout);
  s.done();
  if (c.host.empty()) Section::fail(s.keyPath("host"), "is required");
  if (c.routingKey.empty()) Section::fail(s.keyPath("routing_key"), "must not be empty");
  if (c.unroutable != "error" && c.unroutable != "drop") {
    Section::fail(s.keyPath("unroutable"), "is '" + c.unroutable + "', not error or drop");
  }
  if (!c.queue.empty() && !c.exchange.empty() && (c.exchangeType.empty() || c.bindingKey.empty())) {
    Section::fail(s.keyPath("queue"), "is bound to the exchange only with exchange_type and binding_key set too");
  }
}

}  // namespace

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

client::Result<ForwarderConfig> parseForwarderConfig(const std::string& yaml, const std::string& origin) {
  ForwarderConfig c;
  try {
    const YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap()) return Status(Status::kInvalidArgument, origin + ": the configuration must be a YAML mapping");
    Section top(root, "");
    readSource(top.child("source"), c.source);
    if (top.has("admin")) {
      Section a = top.child("admin");
      a.read("listen", c.admin.listen);
      a.read("user", c.admin.user);
      a.read("password", c.admin.password);
      a.done();
      const auto colon = c.admin.listen.rfind(':');
      if (!c.admin.listen.empty() && (colon == std::string::npos || colon == 0 || colon + 1 == c.admin.listen.size())) {
        Section::fail("admin.listen", "must be address:port (is '" + c.admin.listen + "')");
      }
      // Without a password the endpoint (which starts reindexes) is for this host only.
      const std::string host = c.admin.listen.substr(0, colon);
      const bool loopback = host.rfind("127.", 0) == 0 || host == "::1" || host == "[::1]" || host == "localhost";
      if (!c.admin.listen.empty() && c.admin.password.empty() && !loopback) {
        Section::fail("admin.password", "is empty while admin.listen (" + c.admin.listen +
                                            ") is not a loopback address: set a password, or listen on 127.0.0.1");
      }
    }
    top.readMs("progress_interval_ms", c.progressInterval);
    top.readMs("retry_backoff_ms", c.retryBackoff);
    top.readMs("max_retry_backoff_ms", c.maxRetryBackoff);
    const YAML::Node sinks = top.node("sinks");
    if (!sinks || !sinks.IsSequence() || sinks.size() == 0) Section::fail("sinks", "must be a list of at least one sink");
    for (std::size_t i = 0; i < sinks.size(); ++i) {
      const std::string path = "sinks[" + std::to_string(i) + "]";
      Section s(sinks[i], path);
      SinkConfig sink;
      std::string type;
      s.read("type", type);
      s.read("name", sink.name);
      s.readList("tables", sink.tables);
      if (type == "kafka") {
        sink.kind = SinkConfig::Kind::kKafka;
        readKafka(s.child("kafka"), sink.kafka);
      } else if (type == "elasticsearch") {
        sink.kind = SinkConfig::Kind::kElasticsearch;
        readElasticsearch(s.child("elasticsearch"), sink.elasticsearch);
      } else if (type == "redis") {
        sink.kind = SinkConfig::Kind::kRedis;
        readRedis(s.child("redis"), sink.redis);
      } else if (type == "rabbitmq") {
        sink.kind = SinkConfig::Kind::kRabbitMq;
        readRabbitMq(s.child("rabbitmq"), sink.rabbitMq);
      } else if (type == "sql") {
        sink.kind = SinkConfig::Kind::kSql;
        readSql(s.child("sql"), sink.sql);
      } else {
        Section::fail(path + ".type", "must be kafka, elasticsearch, redis, rabbitmq or sql (is '" + type + "')");
      }
      s.done();
      if (sink.name.empty()) sink.name = type + "-" + std::to_string(i);
      // A document is rebuilt on a change of any of its tables: the sink must take them all.
      if (auto taken = publish::TableSet::create(sink.tables); taken && !taken->matchesAll()) {
        const auto& documents = sink.elasticsearch.documents;
        for (std::size_t d = 0; d < documents.size(); ++d) {
          std::vector<std::string> tables = {documents[d].table};
          for (const auto& j : documents[d].joins) tables.push_back(j.table);
          for (const auto& t : tables) {
            if (!taken->matches(t)) {
              Section::fail(path + ".tables", "leaves out " + t + ", which elasticsearch.documents[" +
                                                  std::to_string(d) + "] is built from");
            }
          }
        }
      }
      c.sinks.push_back(std::move(sink));
    }
    top.done();
  } catch (const ConfigError& e) {
    return Status(Status::kInvalidArgument, origin + ": " + e.message);
  } catch (const YAML::Exception& e) {
    return Status(Status::kInvalidArgument, origin + ": " + e.what());
  }
  return c;
}

client::Result<ForwarderConfig> loadForwarderConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status(Status::kInvalidArgument, path + ": cannot read the configuration file");
  std::stringstream text;
  text << in.rdbuf();
  auto config = parseForwarderConfig(text.str(), path);
  if (!config) return config;
  // The files a configuration names are found beside it, wherever the forwarder is started from.
  const std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  const auto besideTheFile = [&](std::string& file) {
    if (!file.empty() && std::filesystem::path(file).is_relative()) file = (base / file).lexically_normal().string();
  };
  for (SinkConfig& sink : config->sinks) {
    for (std::size_t i = 0; i < sink.sql.mappingFiles.size(); ++i) {
      std::string file = sink.sql.mappingFiles[i];
      besideTheFile(file);
      std::ifstream mappingIn(file);
      const std::string origin = path + ": " + sink.name + ": sql.mapping_files[" + std::to_string(i) + "] " + file;
      if (!mappingIn) return Status(Status::kInvalidArgument, origin + ": cannot read it");
      std::stringstream mappingText;
      mappingText << mappingIn.rdbuf();
      auto mapping = parseCanalAdapterMapping(mappingText.str(), origin);
      if (!mapping) return mapping.status();
      sink.sql.mappings.push_back(std::move(*mapping));
    }
    if (sink.kind != SinkConfig::Kind::kElasticsearch) continue;
    ElasticsearchSinkConfig& es = sink.elasticsearch;
    besideTheFile(es.caFile);
    besideTheFile(es.deadLetterFile);
    besideTheFile(es.reindex.stateDir);
    for (auto& [alias, file] : es.reindex.indexFiles) besideTheFile(file);
  }
  return config;
}

}  // namespace canal::forwarder
