#pragma once

// Server and destination configuration, with Canal's key names: canal.properties gives the
// server settings and the defaults of every destination; conf/<destination>/instance.properties
// overrides them per destination. Parsed once into these immutable structs, which the
// composition root maps onto each module's options.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/app/config_keys.h"
#include "server/app/properties_file.h"
#include "server/common/status.h"

namespace canal::app {

// How a destination keeps events and positions (Canal's canal.instance.global.spring.xml).
enum class InstanceMode {
  kMemory,   // spring/memory-instance.xml: memory store, memory meta
  kFile,     // spring/file-instance.xml: durable store, meta.dat
  kDefault,  // spring/default-instance.xml: durable store, ZooKeeper meta, HA
};

enum class BatchMode { kMemSize, kItemSize };
// canal.instance.store.type: the event store, when not the instance mode's.
enum class StoreType { kByMode, kMemory, kRocksDb };
enum class SslMode { kDisabled, kPreferred, kRequired, kVerifyCa, kVerifyIdentity };
// canal.serverMode: serve Canal clients over TCP, or publish to a broker (Canal's MQ mode).
enum class ServerMode { kTcp, kKafka, kRabbitMq };
// Canal's spelling of a server mode ("tcp", "kafka", "rabbitMQ"), for logs and errors.
const char* serverModeName(ServerMode mode);
// canal.instance.snapshot.mode: existing rows first when a destination starts without a position
// (kInitial), those rows only (kInitialOnly), or none (kNever).
enum class SnapshotMode { kNever, kInitial, kInitialOnly };

struct ServerConfig {
  std::string ip;
  std::string registerIp;
  int port = 0;
  int authTimeoutMs = 30000;    // a connection not authenticated by then is closed
  int maxConnections = 1024;    // client connections at once; more are closed at once
  int maxUnauthenticated = 128;  // of them not authenticated yet
  std::int64_t receiveBudget = 256LL << 20;  // bytes of frames being received, every connection
  int metricsPort = 0;
  std::string user;
  std::string passwordHash;  // hex of SHA1(SHA1(password)); secret
  // Who may start and cancel snapshots on the HTTP port (canal.admin.user / canal.admin.passwd).
  std::string adminUser;
  std::string adminPasswordHash;
  std::string zkServers;
  std::int64_t zkFlushPeriodMs = 0;
  std::int64_t zkSessionTimeoutMs = 0;
  bool withoutNetty = false;
  ServerMode serverMode = ServerMode::kTcp;
  // Canal's MQ mode (canal.serverMode = kafka or rabbitMQ).
  bool mqFlatMessage = true;
  int mqCanalBatchSize = 50;
  int mqCanalGetTimeoutMs = 100;
  bool mqDatabaseHash = true;
  bool mqTransaction = false;
  std::string mqAccessChannel;
  std::map<std::string, std::string> kafka;  // kafka.* settings without the prefix (Canal 1.1.4 names mapped)
  struct RabbitMq {
    std::string host;  // host[:port] or amqp:// URI
    std::string virtualHost;
    std::string exchange;
    std::string username;
    std::string password;  // secret
    std::string queue;
    std::string routingKey;
    std::string deliveryMode;  // Canal's name for the exchange type
    bool dropUnroutable = false;  // rabbitmq.unroutable = drop (ours)
  } rabbitMq;
  std::string fileDataDir;
  std::int64_t fileFlushPeriodMs = 0;
  std::vector<std::string> destinations;
  std::string destinationsExpr;
  std::string confDir;
  bool autoScan = false;
  int autoScanIntervalSeconds = 0;
  bool autoResetLatestPosMode = false;
  std::string globalMode;
  bool globalLazy = false;
  InstanceMode globalInstanceMode = InstanceMode::kFile;
};

struct MasterConfig {
  std::string address;  // host:port
  std::string journalName;
  std::optional<std::int64_t> position;
  std::optional<std::int64_t> timestampMs;
  std::string gtid;
};

struct InstanceConfig {
  std::string destination;
  InstanceMode mode = InstanceMode::kFile;

  // Source database.
  std::int64_t slaveId = 0;
  bool gtidOn = false;
  MasterConfig master;
  MasterConfig standby;
  SslMode sslMode = SslMode::kDisabled;
  std::string tlsVersions;
  std::string dbUsername;
  std::string dbPassword;  // secret
  std::string defaultDatabaseName;
  std::string connectionCharset;
  std::vector<std::string> acceptedBinlogFormats;
  std::vector<std::string> acceptedBinlogImages;

  // Detection / failover.
  bool detectingEnable = false;
  std::string detectingSql;
  int detectingIntervalSeconds = 0;
  int detectingRetryThreshold = 0;
  int streamRetryIntervalMs = 5000;  // between a failed binlog stream and its next attempt
  bool heartbeatHaEnable = false;
  int fallbackIntervalSeconds = 0;
  int receiveBufferSize = 0;
  int sendBufferSize = 0;
  int soTimeoutSeconds = 0;

  // Filters.
  std::string filterRegex;
  std::string filterBlackRegex;
  std::string filterField;
  std::string filterBlackField;
  bool filterQueryDcl = false;
  bool filterQueryDml = false;
  bool filterQueryDdl = false;
  bool filterTableError = false;
  bool filterRows = false;
  bool filterTransactionEntry = false;
  bool filterDmlInsert = false;
  bool filterDmlUpdate = false;
  bool filterDmlDelete = false;
  bool getDdlIsolation = false;

  // Value rendering where Canal's output is wrong (docs/entries.md, "Values").
  bool renderExactDecimal = false;     // DECIMAL with exactly `scale` digits, not Canal's groups of 9
  bool renderColumnCharset = false;    // latin1 columns converted from their own charset
  std::string renderTimeZone;          // TIMESTAMP rendering zone: SYSTEM, UTC, +08:00, ...

  // Snapshots of existing rows (docs/snapshots.md).
  SnapshotMode snapshotMode = SnapshotMode::kNever;
  std::string snapshotTables;  // Canal regex; empty: the table filter
  int snapshotChunkSize = 0;
  int snapshotRowsPerSecond = 0;
  int snapshotParallel = 1;
  std::string snapshotWatermarkTable;

  // Event store.
  int bufferSize = 0;
  int bufferMemUnit = 0;
  BatchMode batchMode = BatchMode::kMemSize;
  StoreType storeType = StoreType::kByMode;
  bool rawEntry = true;
  int transactionSize = 0;

  // MQ routing (canal.mq.*).
  std::string mqTopic;
  std::string mqDynamicTopic;
  int mqPartition = 0;
  int mqPartitionsNum = 0;  // 0: unset
  std::string mqPartitionHash;
  std::string mqDynamicTopicPartitionNum;
  bool mqEnableDynamicQueuePartition = false;
  std::string mqDeadLetterTopic;
  std::string mqPositionTopic;
};

// Where a raw value comes from when it is not in a file.
using EnvLookup = std::function<std::optional<std::string>(const std::string& key)>;
// The process environment (a server key may be given as an environment variable of the same
// dotted name, as Canal allows).
EnvLookup processEnvironment();

// A warning about the configuration (unknown key), already naming file:line.
using Warnings = std::vector<std::string>;

const std::vector<KeyDef<ServerConfig>>& serverKeys();
// The destination mode a Canal instance template names (classpath:spring/file-instance.xml ...).
std::optional<InstanceMode> instanceModeOf(std::string_view springXml);
const std::vector<KeyDef<InstanceConfig>>& instanceKeys();

// Parses canal.properties; a key `env` gives (an environment variable of the same name) wins over
// the file.
Result<ServerConfig> loadServerConfig(const PropertiesFile& canal, const EnvLookup& env, Warnings* warnings);

// Parses one destination: instance.properties over the instance defaults of canal.properties.
Result<InstanceConfig> loadInstanceConfig(const std::string& destination, const ServerConfig& server,
                                          const PropertiesFile& canal, const PropertiesFile& instance,
                                          Warnings* warnings);

// Destination names: canal.destinations, or canal.destinations.expr ("prefix{1-3}").
Result<std::vector<std::string>> destinationNames(const ServerConfig& server);

// Plain-text table of every key (name, type, default, range, help); secrets' defaults hidden.
std::string describeKeys();

}  // namespace canal::app
