#include "forwarder/forwarder_config.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "forwarder/config_section.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

using client::Status;
using config::ConfigError;
using config::Section;
using config::readSections;

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
        config::readSql(s.child("sql"), sink.sql);
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
