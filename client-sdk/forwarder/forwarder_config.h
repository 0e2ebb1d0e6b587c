#pragma once

// canal-forwarder's configuration, read from YAML once at start (conf/forwarder.yml documents
// every key). Unknown keys and bad values are errors naming the key's path.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "canal/client/status.h"

namespace canal::forwarder {

struct SourceConfig {
  std::string address;    // host:port[,host:port...]
  std::string zookeeper;  // or ZooKeeper servers: follow the running server
  std::string destination = "example";
  std::string user;
  std::string password;
  std::string filter;  // subscribe filter; empty keeps the destination's
  int batchSize = 1000;  // entries per get: bounds the forwarder's memory
  std::int16_t clientId = 1001;
  std::chrono::milliseconds pollTimeout{1000};
};

struct KafkaSinkConfig {
  std::string brokers;
  std::string topic = "canal";  // %{database} and %{table} are replaced
  std::string partitionHash;    // Canal's canal.mq.partitionHash syntax
  bool databaseHash = true;     // canal.mq.database.hash
  int partition = 0;            // without partitionHash: every message goes here
  int partitions = 0;           // partition count for the hash; 0 = read from the topic's metadata
  std::string compression = "none";
  int maxMessageBytes = 1000000;
  std::string deadLetterTopic;  // oversized messages; empty: stop with an error
  bool ddl = true;              // forward DDL entries
  bool statements = false;      // forward statement (QUERY) entries
  std::chrono::milliseconds timeout{30000};   // a batch's delivery
  std::map<std::string, std::string> properties;  // extra librdkafka properties
};

// How a value is written into an Elasticsearch document.
enum class FieldType { kAuto, kString, kNumber, kBoolean, kDate, kJson };

struct IndexMapping {
  std::string table;  // table expression (Canal syntax)
  std::string index;  // index or alias; %{database} and %{table} are replaced
  std::vector<std::string> id;  // id columns; empty: the key columns
  std::map<std::string, std::string> rename;  // column -> field
  std::vector<std::string> include;  // columns written (empty: all)
  std::vector<std::string> exclude;
  std::map<std::string, FieldType> types;  // column -> type (default auto: by the column's SQL type)
};

// `canal-forwarder reindex --index ALIAS`: a new index loaded from a snapshot and the live
// stream, then put behind the alias in one step.
struct ReindexConfig {
  // A destination of its own on the same primary (Canal serves one consumer per destination:
  // its batches would be taken from the running forwarder's).
  std::string destination;
  std::map<std::string, std::string> indexFiles;  // alias -> JSON body (settings, mappings) of new indices
  std::string snapshotUrl;       // canal-server's HTTP port, e.g. http://127.0.0.1:11112
  std::string snapshotUser = "admin";
  std::string snapshotPassword;  // secret
  std::int16_t clientId = 1002;  // the reindex's own client on the destination
  std::chrono::milliseconds maxLag{5000};  // the new index's lag that allows the swap
  bool keepOld = false;          // keep the previous index after the swap
  std::string stateDir = ".";    // reindex-<alias>.json: the reindex in progress
  int chunkSize = 0;             // snapshot chunk size; 0: the destination's
  int rowsPerSecond = 0;         // snapshot rate limit; 0: none
};

// The source database documents built from several tables are read from (libmariadb: MariaDB
// and MySQL). It must be the primary canal-server reads, or a server that has applied as much.
struct DatabaseConfig {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string socket;  // a unix socket instead of host/port
  std::string user;
  std::string password;  // secret
  std::chrono::milliseconds timeout{10000};  // connecting and each query
  // How long a read waits for the source to have committed what a batch carries.
  std::chrono::milliseconds catchUpTimeout{30000};
};

// A table joined into a document: its rows whose `on` columns equal the document row's.
struct DocumentJoin {
  std::string table;  // schema.table
  std::map<std::string, std::string> on;  // main table column -> this table's column
  // The field holding the joined row (an object) or rows (an array, with `many`); empty: the
  // joined row's fields go to the document's top level (one-to-one only).
  std::string as;
  bool many = false;
  std::vector<std::string> orderBy;  // the array's order; empty: this table's primary key
  std::map<std::string, std::string> rename;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::map<std::string, FieldType> types;
};

// A document per row of a main table, with joined rows from other tables. Every change to any
// of the tables rebuilds the documents it belongs to from the source database.
struct DocumentMapping {
  std::string table;  // the main table, schema.table
  std::string index;  // index or alias
  std::vector<std::string> id;  // the main table's key columns; empty: its primary key
  std::string routing;          // a main table column giving the document's _routing
  std::map<std::string, std::string> rename;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::map<std::string, FieldType> types;
  std::vector<DocumentJoin> joins;
};

struct ElasticsearchSinkConfig {
  std::string url = "http://127.0.0.1:9200";
  std::string user;
  std::string password;
  std::string caFile;
  bool verifyTls = true;
  int bulkActions = 1000;          // actions per _bulk request
  std::size_t bulkBytes = 5 << 20;  // bytes per _bulk request
  int retries = 5;                  // per _bulk item on 429 / 5xx, then the batch is rolled back
  std::chrono::milliseconds backoff{100};     // first retry wait, doubled each time
  std::chrono::milliseconds maxBackoff{5000};
  std::chrono::milliseconds timeout{30000};   // one HTTP request
  std::string deadLetterFile;  // JSON lines of refused documents; empty: log only
  std::vector<IndexMapping> mappings;
  std::vector<DocumentMapping> documents;
  DatabaseConfig database;  // what documents are read from
  ReindexConfig reindex;
};

// How a table's rows are kept in Redis: one key per row.
struct RedisMapping {
  enum class Value { kHash, kJson };
  std::string table;  // table expression (Canal syntax)
  // The row's key: %{database}, %{table} and %{pk} (the key columns' values joined by ':').
  std::string key = "%{database}:%{table}:%{pk}";
  Value value = Value::kHash;  // a hash of the columns, or one JSON object string
  std::vector<std::string> id;  // key columns; empty: the table's key columns
  std::map<std::string, std::string> rename;  // column -> field
  std::vector<std::string> include;  // columns written (empty: all)
  std::vector<std::string> exclude;
  // Secondary index sets: for each, the set `key` (%{database}, %{table}, %{value} = the
  // column's value) holds the %{pk} of every row with that value.
  struct Index {
    std::string column;
    std::string key;
  };
  std::vector<Index> indexes;
};

struct RedisSinkConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string unixSocket;  // instead of host/port
  std::string user;        // ACL user (Redis 6+); empty: the default user
  std::string password;
  int database = 0;
  std::chrono::milliseconds timeout{5000};  // connect and each round trip
  int pipeline = 1000;                      // commands per round trip
  // Each row key's version (its last change's binlog position) is kept at this prefix + the key;
  // a deleted row's version stays this long (seconds, 0 = forever) so an older change delivered
  // again cannot bring the row back.
  std::string versionPrefix = "canal:version:";
  int tombstoneSeconds = 7 * 86400;
  std::vector<RedisMapping> mappings;
};

// One source table kept in a target table of a SQL database.
struct SqlMapping {
  std::string table;   // source table expression (Canal syntax)
  // "schema.table", or "table" in the connection's database; %{database} and %{table} replaced;
  // default: the source's name.
  std::string target;
  std::vector<std::string> key;  // the target's key, by source column; empty: the source's key columns
  std::map<std::string, std::string> rename;  // source column -> target column
  std::vector<std::string> include;  // columns written (empty: all)
  std::vector<std::string> exclude;
  // Source column -> the target SQL type its values are converted to (CAST(value AS type)).
  std::map<std::string, std::string> cast;
  // The rows the copy holds (forwarder/row_condition.h); empty: every row.
  std::string where;
};

// A MariaDB/MySQL or PostgreSQL database kept equal to the source tables (forwarder/sql/sql_sink.h).
struct SqlSinkConfig {
  bool postgres = false;  // driver: postgresql; else mariadb / mysql
  // Where a row the target refuses goes (created when missing), with the statement and the
  // error, in the batch's transaction; empty: the refusal stops the forwarder.
  std::string deadLetterTable;
  // A mapped table's ALTER (of its columns) and TRUNCATE: forwarder/sql/sql_ddl.h.
  enum class Ddl { kStop, kMirror, kIgnore } ddl = Ddl::kStop;
  std::string host = "127.0.0.1";
  int port = 3306;        // 5432 for postgresql
  std::string unixSocket;  // instead of host/port
  std::string user;
  std::string password;
  std::string database;  // the connection's default schema
  // Where the sink records what it applied, in the same transaction as the rows.
  std::string positionTable = "canal_sink_positions";
  std::chrono::milliseconds timeout{10000};  // connect, read and write
  int batchRows = 500;                       // rows per multi-row statement
  // Connections applying a batch at once, rows split by key (each with its own position row);
  // 1: one connection, one transaction per batch.
  int parallel = 1;
  // A target table missing is created from the first change's columns (types: postgresType on
  // PostgreSQL, the source's on MariaDB; the key as the primary key).
  bool createTables = false;
  // `canal-forwarder load`: canal-server's snapshot API (its HTTP port) and the snapshot's pace.
  struct Load {
    std::string snapshotUrl;
    std::string snapshotUser = "admin";
    std::string snapshotPassword;  // secret
    int chunkSize = 0;             // 0: the destination's
    int rowsPerSecond = 0;         // 0: no limit
    std::chrono::milliseconds maxLag{5000};  // the stream's lag at which the load is done
  } load;
  // The session's time zone (SET time_zone / SET TIME ZONE), in which TIMESTAMP values given
  // without a zone are read: canal-server's canal.instance.render.timezone. Empty: the target's.
  std::string timeZone;
  std::vector<SqlMapping> mappings;
  // canal-adapter's RDB mapping files (dbMapping), read as mappings after `mappings`.
  std::vector<std::string> mappingFiles;
};

// One canal-adapter RDB mapping file (conf/rdb/*.yml: dataSourceKey, destination, groupId,
// outerAdapterKey, concurrent, dbMapping) as a mapping; unknown keys refused by name.
client::Result<SqlMapping> parseCanalAdapterMapping(const std::string& yaml, const std::string& origin);

struct RabbitMqSinkConfig {
  std::string host = "127.0.0.1:5672";  // host[:port] or amqp://user:password@host:port/vhost
  std::string virtualHost = "/";
  std::string user = "guest";
  std::string password = "guest";
  std::string exchange;      // empty: the default exchange (the routing key names a queue)
  std::string exchangeType;  // declare the exchange (direct, fanout, topic, headers); empty: it exists
  std::string queue;         // declare this durable queue and bind it with binding_key
  std::string bindingKey;
  std::string routingKey = "%{database}.%{table}";  // per message; %{database} and %{table} replaced
  // A message no queue is bound for: "error" (the batch is retried until one is) or "drop".
  std::string unroutable = "error";
  bool ddl = true;
  bool statements = false;
  std::chrono::milliseconds timeout{30000};  // connecting, and a batch's confirms
};

struct SinkConfig {
  enum class Kind { kKafka, kElasticsearch, kRedis, kRabbitMq, kSql };
  std::string name;
  Kind kind = Kind::kKafka;
  std::vector<std::string> tables;  // table expressions this sink takes (empty: all)
  KafkaSinkConfig kafka;
  ElasticsearchSinkConfig elasticsearch;
  RedisSinkConfig redis;
  RabbitMqSinkConfig rabbitMq;
  SqlSinkConfig sql;
};

// The running forwarder's HTTP endpoint (status, reindex on request).
struct AdminConfig {
  std::string listen;  // address:port, e.g. 127.0.0.1:11120; empty: none
  std::string user = "admin";
  std::string password;  // secret; empty: no authentication (keep the address local)
};

struct ForwarderConfig {
  SourceConfig source;
  AdminConfig admin;
  std::vector<SinkConfig> sinks;
  std::chrono::milliseconds progressInterval{10000};
  std::chrono::milliseconds retryBackoff{500};      // after a failed batch, doubled up to max
  std::chrono::milliseconds maxRetryBackoff{30000};
};

client::Result<ForwarderConfig> parseForwarderConfig(const std::string& yaml, const std::string& origin);
client::Result<ForwarderConfig> loadForwarderConfig(const std::string& path);

}  // namespace canal::forwarder
