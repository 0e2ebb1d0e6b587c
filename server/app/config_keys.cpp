#include "server/app/config.h"

#include <sstream>

// The key tables: every key of canal.properties and instance.properties with its type, default,
// range and meaning, and how its text becomes a member of ServerConfig / InstanceConfig.

namespace canal::app {
namespace keys {

std::string trim(std::string_view s) { return std::string(asciiTrim(s)); }

std::optional<std::int64_t> parseInt(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::size_t i = 0;
  bool negative = false;
  if (text[0] == '-' || text[0] == '+') {
    negative = text[0] == '-';
    i = 1;
  }
  if (i == text.size()) return std::nullopt;
  std::uint64_t value = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
    if (value > (std::uint64_t{1} << 63)) return std::nullopt;
  }
  if (!negative && value > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  return negative ? static_cast<std::int64_t>(0 - value) : static_cast<std::int64_t>(value);
}

std::optional<bool> parseBool(std::string_view text) {
  const std::string lower = asciiLower(text);
  if (lower == "true") return true;
  if (lower == "false") return false;
  return std::nullopt;
}

std::vector<std::string> splitList(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string item = trim(text.substr(start, end - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

}  // namespace keys

namespace {

using namespace keys;

std::string powerOfTwo(std::int64_t v) { return (v > 0 && (v & (v - 1)) == 0) ? "" : "is not a power of 2"; }

std::string hostPort(const std::string& text) {
  if (text.empty()) return {};
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return "'" + text + "' is not host:port";
  auto port = parseInt(std::string_view(text).substr(colon + 1));
  if (!port || *port < 1 || *port > 65535) return "'" + text + "' has no valid port";
  return {};
}

std::string passwordHash(const std::string& text) {
  if (text.empty()) return {};
  if (text.size() != 40 || text.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
    return "must be the 40 hex digits of SHA1(SHA1(password)) (MySQL PASSWORD() without '*')";
  }
  return {};
}

const std::vector<std::pair<std::string, InstanceMode>> kSpringXml = {
    {"classpath:spring/memory-instance.xml", InstanceMode::kMemory},
    {"classpath:spring/file-instance.xml", InstanceMode::kFile},
    {"classpath:spring/default-instance.xml", InstanceMode::kDefault},
};

std::vector<KeyDef<ServerConfig>> buildServerKeys() {
  using S = ServerConfig;
  std::vector<KeyDef<S>> k;
  k.push_back(unusedKey<S>("canal.id", "legacy server id, unused"));
  k.push_back(stringKey<S>("canal.ip", &S::ip, "", "address the client port binds to; empty = all interfaces"));
  k.push_back(stringKey<S>("canal.register.ip", &S::registerIp, "",
                           "address published in ZooKeeper; empty = canal.ip, else this host's address"));
  k.push_back(intKey<S>("canal.port", &S::port, 11111, 1, 65535, "TCP port of the Canal client protocol"));
  k.push_back(intKey<S>("canal.net.auth.timeout", &S::authTimeoutMs, 30000, 100, 3600000,
                        "ms a client connection has to authenticate before it is closed"));
  k.push_back(intKey<S>("canal.net.connections.max", &S::maxConnections, 1024, 1, 1000000,
                        "client connections at once; further ones are closed at once"));
  k.push_back(intKey<S>("canal.net.connections.unauthenticated.max", &S::maxUnauthenticated, 128, 1, 1000000,
                        "client connections not authenticated yet, at most: a newcomer beyond it (or beyond "
                        "canal.net.connections.max) closes the oldest of them; authenticated clients are never closed for it"));
  k.push_back(intKey<S>("canal.net.receive.budget", &S::receiveBudget, 268435456, 1048576, 68719476736LL,
                        "bytes of client frames being received, over every connection; beyond it the connection "
                        "receiving the largest frame is closed"));
  k.push_back(intKey<S>("canal.metrics.pull.port", &S::metricsPort, 11112, 0, 65535,
                        "HTTP port of /metrics and /status; 0 disables it"));
  k.push_back(stringKey<S>("canal.user", &S::user, "", "client user name; empty = no authentication"));
  k.push_back(stringKey<S>("canal.passwd", &S::passwordHash, "",
                           "client password as hex of SHA1(SHA1(password)) (MySQL PASSWORD() without '*')",
                           passwordHash, true));
  k.push_back(unusedKey<S>("canal.admin.manager", "canal-admin address; admin-managed mode is not supported"));
  k.push_back(unusedKey<S>("canal.admin.port", "canal-admin protocol port; not supported"));
  k.push_back(stringKey<S>("canal.admin.user", &S::adminUser, "admin",
                           "user who may start and cancel snapshots on the HTTP port (Basic authentication)"));
  k.push_back(stringKey<S>("canal.admin.passwd", &S::adminPasswordHash, "",
                           "that user's password as hex of SHA1(SHA1(password)); empty: snapshots cannot be requested "
                           "over HTTP",
                           passwordHash, true));
  k.push_back(unusedKey<S>("canal.admin.register.auto", "canal-admin registration; not supported"));
  k.push_back(unusedKey<S>("canal.admin.register.cluster", "canal-admin registration; not supported"));
  k.push_back(unusedKey<S>("canal.admin.register.name", "canal-admin registration; not supported"));
  k.push_back(stringKey<S>("canal.zkServers", &S::zkServers, "",
                           "ZooKeeper connect string; enables cluster registration and HA"));
  k.push_back(intKey<S>("canal.zookeeper.flush.period", &S::zkFlushPeriodMs, 0, 0, 3600000,
                        "ms between cursor writes to ZooKeeper; 0 = on every ack (a takeover re-delivers at most the unacked batches)"));
  k.push_back(intKey<S>("canal.zookeeper.session.timeout", &S::zkSessionTimeoutMs, 6000, 1000, 90000,
                        "ms of ZooKeeper session timeout: how soon a standby takes over from a dead server"));
  k.push_back(boolKey<S>("canal.withoutNetty", &S::withoutNetty, false, "true = do not open the client port"));
  k.push_back(enumKey<S>("canal.serverMode", &S::serverMode, "tcp",
                         {{"tcp", ServerMode::kTcp}, {"kafka", ServerMode::kKafka}, {"rabbitMQ", ServerMode::kRabbitMq}},
                         "tcp: serve Canal clients on canal.port; kafka or rabbitMQ: publish every destination's "
                         "changes to the broker as Canal's MQ mode does (canal.mq.*, kafka.*, rabbitmq.*)",
                         "rocketMQ and pulsarMQ are not supported: publish to Kafka or RabbitMQ and bridge"));
  k.push_back(stringKey<S>("canal.file.data.dir", &S::fileDataDir, "${canal.conf.dir}",
                           "root of <destination>/meta.dat and the durable event store"));
  k.push_back(intKey<S>("canal.file.flush.period", &S::fileFlushPeriodMs, 0, 0, 3600000,
                        "ms between meta.dat writes; 0 = on every ack"));
  k.push_back(listKey<S>("canal.destinations", &S::destinations, "", "destination names"));
  k.push_back(stringKey<S>("canal.destinations.expr", &S::destinationsExpr, "",
                           "alternative to canal.destinations: prefix{1-3} = prefix1,prefix2,prefix3"));
  k.push_back(stringKey<S>("canal.conf.dir", &S::confDir, "../conf", "directory holding <destination>/instance.properties"));
  k.push_back(boolKey<S>("canal.auto.scan", &S::autoScan, true, "watch canal.conf.dir for destinations added, changed, removed"));
  k.push_back(intKey<S>("canal.auto.scan.interval", &S::autoScanIntervalSeconds, 5, 1, 86400, "seconds between scans"));
  k.push_back(boolKey<S>("canal.auto.reset.latest.pos.mode", &S::autoResetLatestPosMode, false,
                         "when the stored binlog position is purged, jump to the current end (loses data)"));
  k.push_back(stringKey<S>("canal.instance.global.mode", &S::globalMode, "spring", "spring only (manager mode is not supported)",
                           [](const std::string& v) { return v == "spring" ? std::string() : "'" + v + "' is not supported: only spring"; }));
  k.push_back(boolKey<S>("canal.instance.global.lazy", &S::globalLazy, false, "start destinations only when a client subscribes"));
  k.push_back(unusedKey<S>("canal.instance.global.manager.address", "canal-admin address; not supported"));
  k.push_back(enumKey<S>("canal.instance.global.spring.xml", &S::globalInstanceMode, "classpath:spring/file-instance.xml",
                         kSpringXml, "destination mode: memory, file (durable store + meta.dat) or default (durable store + ZooKeeper + HA)"));
  k.push_back(unusedKey<S>("canal.aliyun.accessKey", "Aliyun credentials; not supported"));
  k.push_back(unusedKey<S>("canal.aliyun.secretKey", "Aliyun credentials; not supported"));
  k.push_back(unusedKey<S>("canal.aliyun.uid", "Aliyun credentials; not supported"));
  // Canal's MQ mode (canal.serverMode = kafka or rabbitMQ).
  k.push_back(boolKey<S>("canal.mq.flatMessage", &S::mqFlatMessage, true,
                         "MQ mode: FlatMessage JSON (true) or Canal's binary Messages packet (false)"));
  k.push_back(intKey<S>("canal.mq.canalBatchSize", &S::mqCanalBatchSize, 50, 1, 1 << 20,
                        "MQ mode: entries per batch taken from a destination (units of canal.instance.memory.batch.mode)"));
  k.push_back(intKey<S>("canal.mq.canalGetTimeout", &S::mqCanalGetTimeoutMs, 100, 0, 3600000,
                        "MQ mode: ms to wait for a full batch before sending what is there"));
  k.push_back(boolKey<S>("canal.mq.database.hash", &S::mqDatabaseHash, true,
                         "MQ mode: the schema name takes part in the partition hash"));
  k.push_back(boolKey<S>("canal.mq.transaction", &S::mqTransaction, false,
                         "MQ mode: one Kafka transaction per batch (transactional.id canal-<destination> unless "
                         "kafka.transactional.id is set); consumers reading committed messages see each batch once"));
  k.push_back(stringKey<S>("canal.mq.accessChannel", &S::mqAccessChannel, "local", "local only (cloud is Aliyun's trace)",
                           [](const std::string& v) -> std::string {
                             return asciiLower(v) == "local" ? "" : "'" + v + "' is not supported: only local";
                           }));
  using R = ServerConfig::RabbitMq;
  const auto rabbit = [&k](const char* name, std::string R::*member, const char* help, bool secret = false) {
    KeyDef<S> key = stringKey<S>(name, nullptr, "", help, nullptr, secret);
    key.apply = [member](S& s, const std::string& v) -> std::string {
      s.rabbitMq.*member = v;
      return "";
    };
    k.push_back(std::move(key));
  };
  rabbit("rabbitmq.host", &R::host, "rabbitMQ mode: host[:port] or amqp://user:password@host:port/vhost");
  rabbit("rabbitmq.virtual.host", &R::virtualHost, "rabbitMQ mode: virtual host (empty: /)");
  rabbit("rabbitmq.exchange", &R::exchange, "rabbitMQ mode: exchange published to (routing key = the topic)");
  rabbit("rabbitmq.username", &R::username, "rabbitMQ mode: user");
  rabbit("rabbitmq.password", &R::password, "rabbitMQ mode: password", true);
  rabbit("rabbitmq.queue", &R::queue, "rabbitMQ mode: a durable queue declared at start");
  rabbit("rabbitmq.routingKey", &R::routingKey, "rabbitMQ mode: the queue's binding key to the exchange");
  rabbit("rabbitmq.deliveryMode", &R::deliveryMode,
         "rabbitMQ mode: the exchange's type (direct, fanout, topic) when queue, exchange and routingKey are set");
  k.push_back(customKey<S>("rabbitmq.unroutable", "string", "error", "error|drop",
                           "rabbitMQ mode (ours): a message no queue is bound for: an error, retried until a queue "
                           "is bound (error), or dropped and counted (drop)",
                           [](S& s, const std::string& v) -> std::string {
                             if (v != "error" && v != "drop") return "'" + v + "' is not error or drop";
                             s.rabbitMq.dropUnroutable = v == "drop";
                             return "";
                           }));
  k.push_back(unusedKey<S>("canal.mq.send.thread.size", "Java producer threads; librdkafka sends on its own threads"));
  k.push_back(unusedKey<S>("canal.mq.build.thread.size", "Java builder threads; messages are built on the destination's publishing thread"));
  k.push_back(unusedKey<S>("canal.mq.properties", "not read by Canal 1.1.8 either; use kafka.* keys"));
  // Canal 1.1.4 names of kafka.* settings, read as Canal reads them.
  for (const char* legacy : {"canal.mq.servers", "canal.mq.acks", "canal.mq.compressionType", "canal.mq.retries",
                             "canal.mq.batchSize", "canal.mq.lingerMs", "canal.mq.maxRequestSize", "canal.mq.bufferMemory",
                             "canal.mq.kafka.kerberos.enable", "canal.mq.kafka.kerberos.krb5.file",
                             "canal.mq.kafka.kerberos.jaas.file"}) {
    k.push_back(unusedKey<S>(legacy, "Canal 1.1.4 name of a kafka.* setting; read as that setting"));
  }
  return k;
}

std::vector<KeyDef<InstanceConfig>> buildInstanceKeys() {
  using I = InstanceConfig;
  std::vector<KeyDef<I>> k;
  // Source database.
  k.push_back(intKey<I>("canal.instance.mysql.slaveId", &I::slaveId, 0, 0, 4294967295LL,
                        "server_id used for the replica connection; 0 = derived from the destination and host"));
  k.push_back(boolKey<I>("canal.instance.gtidon", &I::gtidOn, false, "GTID mode: dump by GTID, positions carry GTIDs"));
  auto masterKeys = [&k](const std::string& prefix, MasterConfig I::*which, const std::string& who) {
    const bool primary = prefix == "canal.instance.master";
    k.push_back(customKey<I>(prefix + ".address", "string", primary ? "127.0.0.1:3306" : "", "host:port", who + " address",
                             [which](I& s, const std::string& text) {
                               if (std::string e = hostPort(text); !e.empty()) return e;
                               (s.*which).address = text;
                               return std::string();
                             }));
    k.push_back(customKey<I>(prefix + ".journal.name", "string", "", "", who + " start binlog file",
                             [which](I& s, const std::string& text) {
                               (s.*which).journalName = text;
                               return std::string();
                             }));
    k.push_back(customKey<I>(prefix + ".position", "int", "", ">= 4, or empty", who + " start offset (an event boundary)",
                             [which](I& s, const std::string& text) -> std::string {
                               if (text.empty()) return {};
                               auto v = parseInt(text);
                               if (!v || *v < 4) return "'" + text + "' is not a binlog offset (>= 4)";
                               (s.*which).position = *v;
                               return {};
                             }));
    k.push_back(customKey<I>(prefix + ".timestamp", "int", "", ">= 0, or empty", who + " start time, ms since the epoch",
                             [which](I& s, const std::string& text) -> std::string {
                               if (text.empty()) return {};
                               auto v = parseInt(text);
                               if (!v || *v < 0) return "'" + text + "' is not a time in ms";
                               (s.*which).timestampMs = *v;
                               return {};
                             }));
    k.push_back(customKey<I>(prefix + ".gtid", "string", "", "", who + " start GTID set (GTID mode)",
                             [which](I& s, const std::string& text) {
                               (s.*which).gtid = text;
                               return std::string();
                             }));
  };
  masterKeys("canal.instance.master", &I::master, "primary");
  masterKeys("canal.instance.standby", &I::standby, "standby");
  const std::vector<std::pair<std::string, SslMode>> ssl = {{"DISABLED", SslMode::kDisabled},
                                                            {"PREFERRED", SslMode::kPreferred},
                                                            {"REQUIRED", SslMode::kRequired},
                                                            {"VERIFY_CA", SslMode::kVerifyCa},
                                                            {"VERIFY_IDENTITY", SslMode::kVerifyIdentity}};
  k.push_back(enumKey<I>("canal.instance.master.sslMode", &I::sslMode, "DISABLED", ssl, "TLS to the database"));
  k.push_back(stringKey<I>("canal.instance.master.tlsVersions", &I::tlsVersions, "", "allowed TLS versions, e.g. TLSv1.2,TLSv1.3"));
  for (const char* ks : {"canal.instance.master.trustCertificateKeyStoreUrl", "canal.instance.master.trustCertificateKeyStorePassword",
                         "canal.instance.master.clientCertificateKeyStoreUrl", "canal.instance.master.clientCertificateKeyStorePassword"}) {
    k.push_back(unusedKey<I>(ks, "Java key store; not applicable"));
  }
  k.push_back(stringKey<I>("canal.instance.dbUsername", &I::dbUsername, "canal",
                           "database account (needs SELECT, REPLICATION SLAVE, REPLICATION CLIENT)"));
  k.push_back(stringKey<I>("canal.instance.dbPassword", &I::dbPassword, "canal", "database password", nullptr, true));
  k.push_back(unusedKey<I>("canal.instance.enableDruid", "druid-encrypted password; not supported"));
  k.push_back(unusedKey<I>("canal.instance.pwdPublicKey", "druid-encrypted password; not supported"));
  k.push_back(stringKey<I>("canal.instance.defaultDatabaseName", &I::defaultDatabaseName, "", "default database on connect"));
  k.push_back(stringKey<I>("canal.instance.connectionCharset", &I::connectionCharset, "UTF-8", "charset of text columns and names"));
  k.push_back(listKey<I>("canal.instance.binlog.format", &I::acceptedBinlogFormats, "ROW,STATEMENT,MIXED", "accepted binlog_format values"));
  k.push_back(listKey<I>("canal.instance.binlog.image", &I::acceptedBinlogImages, "FULL,MINIMAL,NOBLOB", "accepted binlog_row_image values"));
  // Detection and failover.
  k.push_back(boolKey<I>("canal.instance.detecting.enable", &I::detectingEnable, false, "run detecting.sql periodically"));
  k.push_back(stringKey<I>("canal.instance.detecting.sql", &I::detectingSql, "select 1", "heartbeat SQL"));
  k.push_back(intKey<I>("canal.instance.detecting.interval.time", &I::detectingIntervalSeconds, 3, 1, 86400, "seconds between heartbeats"));
  k.push_back(intKey<I>("canal.instance.detecting.retry.threshold", &I::detectingRetryThreshold, 3, 1, 1000, "failed heartbeats before failover"));
  k.push_back(intKey<I>("canal.instance.stream.retry.interval", &I::streamRetryIntervalMs, 5000, 10, 3600000,
                        "ms between a failed binlog stream (lost primary, purged position) and its next attempt"));
  k.push_back(boolKey<I>("canal.instance.detecting.heartbeatHaEnable", &I::heartbeatHaEnable, false,
                         "switch to the standby address when heartbeats keep failing"));
  k.push_back(intKey<I>("canal.instance.fallbackIntervalInSeconds", &I::fallbackIntervalSeconds, 60, 0, 86400,
                        "on a switch of database, restart by time minus this"));
  k.push_back(intKey<I>("canal.instance.network.receiveBufferSize", &I::receiveBufferSize, 16384, 1024, 1 << 30, "socket receive buffer"));
  k.push_back(intKey<I>("canal.instance.network.sendBufferSize", &I::sendBufferSize, 16384, 1024, 1 << 30, "socket send buffer"));
  k.push_back(intKey<I>("canal.instance.network.soTimeout", &I::soTimeoutSeconds, 30, 1, 86400, "socket timeout, seconds"));
  // Filters.
  k.push_back(stringKey<I>("canal.instance.filter.regex", &I::filterRegex, ".*\\..*",
                           "table whitelist: comma-separated regexes on schema.table"));
  k.push_back(stringKey<I>("canal.instance.filter.black.regex", &I::filterBlackRegex, "mysql\\.slave_.*", "table blacklist"));
  k.push_back(stringKey<I>("canal.instance.filter.field", &I::filterField, "", "column whitelist: schema.table:col1/col2,..."));
  k.push_back(stringKey<I>("canal.instance.filter.black.field", &I::filterBlackField, "", "column blacklist"));
  k.push_back(unusedKey<I>("canal.instance.filter.druid.ddl", "DDL parser choice; the built-in parser is always used"));
  k.push_back(boolKey<I>("canal.instance.filter.query.dcl", &I::filterQueryDcl, false, "drop DCL statements"));
  k.push_back(boolKey<I>("canal.instance.filter.query.dml", &I::filterQueryDml, false, "drop DML statements in QUERY events"));
  k.push_back(boolKey<I>("canal.instance.filter.query.ddl", &I::filterQueryDdl, false, "drop DDL"));
  k.push_back(boolKey<I>("canal.instance.filter.table.error", &I::filterTableError, false, "skip rows of tables with unknown or unreadable metadata (else the destination stops there)"));
  k.push_back(boolKey<I>("canal.instance.filter.rows", &I::filterRows, false, "drop all row events"));
  k.push_back(boolKey<I>("canal.instance.filter.transaction.entry", &I::filterTransactionEntry, false, "drop BEGIN/END entries"));
  k.push_back(boolKey<I>("canal.instance.filter.dml.insert", &I::filterDmlInsert, false, "drop INSERT rows"));
  k.push_back(boolKey<I>("canal.instance.filter.dml.update", &I::filterDmlUpdate, false, "drop UPDATE rows"));
  k.push_back(boolKey<I>("canal.instance.filter.dml.delete", &I::filterDmlDelete, false, "drop DELETE rows"));
  k.push_back(boolKey<I>("canal.instance.render.decimal.exact", &I::renderExactDecimal, false,
                         "DECIMAL as MySQL prints it (1.00, not Canal's 1.0)"));
  k.push_back(boolKey<I>("canal.instance.render.column.charset", &I::renderColumnCharset, false,
                         "decode columns by their own charset: latin1 from cp1252, MariaDB JSON as text"));
  k.push_back(stringKey<I>("canal.instance.render.timezone", &I::renderTimeZone, "SYSTEM",
                           "time zone of TIMESTAMP values: SYSTEM, UTC, +08:00"));
  k.push_back(boolKey<I>("canal.instance.get.ddl.isolation", &I::getDdlIsolation, false, "return each DDL in its own batch"));
  // Snapshots.
  k.push_back(enumKey<I>("canal.instance.snapshot.mode", &I::snapshotMode, "never",
                         {{"never", SnapshotMode::kNever}, {"initial", SnapshotMode::kInitial},
                          {"initial_only", SnapshotMode::kInitialOnly}},
                         "never | initial (existing rows first when the destination starts without a position) | "
                         "initial_only (existing rows only, no changes)"));
  k.push_back(stringKey<I>("canal.instance.snapshot.tables", &I::snapshotTables, "",
                           "tables of the initial snapshot (Canal regex); empty: the table filter"));
  k.push_back(intKey<I>("canal.instance.snapshot.chunk.size", &I::snapshotChunkSize, 4096, 1, 1000000,
                        "rows per snapshot chunk"));
  k.push_back(intKey<I>("canal.instance.snapshot.parallel", &I::snapshotParallel, 1, 1, 16,
                        "snapshot chunks read at once, each over a connection of its own, by key range"));
  k.push_back(intKey<I>("canal.instance.snapshot.rows.per.second", &I::snapshotRowsPerSecond, 0, 0, 100000000,
                        "snapshot pace; 0: as fast as the stream takes the rows"));
  k.push_back(stringKey<I>("canal.instance.snapshot.watermark.table", &I::snapshotWatermarkTable, "",
                           "database.table written before each snapshot chunk (for MySQL, which does not name the "
                           "binlog position of a read); empty: read-only, by MariaDB's binlog_snapshot_position"));
  // Store.
  k.push_back(intKey<I>("canal.instance.memory.buffer.size", &I::bufferSize, 16384, 1, 1 << 24,
                        "event store capacity in entries (power of 2)", powerOfTwo));
  k.push_back(intKey<I>("canal.instance.memory.buffer.memunit", &I::bufferMemUnit, 1024, 1, 1 << 20,
                        "bytes per unit; MEMSIZE capacity = size x memunit, GET sizes are in units"));
  k.push_back(enumKey<I>("canal.instance.memory.batch.mode", &I::batchMode, "MEMSIZE",
                         {{"MEMSIZE", BatchMode::kMemSize}, {"ITEMSIZE", BatchMode::kItemSize}}, "how GET sizes and capacity count"));
  k.push_back(enumKey<I>("canal.instance.store.type", &I::storeType, "MODE",
                         {{"MODE", StoreType::kByMode}, {"MEMORY", StoreType::kMemory}, {"ROCKSDB", StoreType::kRocksDb}},
                         "event store: MODE (memory in memory-instance.xml, else RocksDB), MEMORY or ROCKSDB"));
  k.push_back(boolKey<I>("canal.instance.memory.rawEntry", &I::rawEntry, true, "keep serialized entries (raw MESSAGES)"));
  k.push_back(intKey<I>("canal.instance.transaction.size", &I::transactionSize, 1024, 1, 1 << 20,
                        "transaction buffer size (power of 2)", powerOfTwo));
  // Canal keys with no effect here.
  for (const char* u : {"canal.instance.parser.parallel", "canal.instance.parser.parallelThreadSize",
                        "canal.instance.parser.parallelBufferSize", "canal.instance.tsdb.enable", "canal.instance.tsdb.dir",
                        "canal.instance.tsdb.url", "canal.instance.tsdb.dbUsername", "canal.instance.tsdb.dbPassword",
                        "canal.instance.tsdb.snapshot.interval", "canal.instance.tsdb.snapshot.expire",
                        "canal.instance.tsdb.spring.xml", "canal.instance.rds.accesskey", "canal.instance.rds.secretkey",
                        "canal.instance.rds.instanceId", "canal.instance.multi.stream.on"}) {
    k.push_back(unusedKey<I>(u, "accepted for compatibility with Canal; no effect"));
  }
  // MQ routing (canal.serverMode = kafka or rabbitMQ).
  k.push_back(stringKey<I>("canal.mq.topic", &I::mqTopic, "", "MQ mode: the topic (and the one for entries no dynamic topic takes)"));
  k.push_back(stringKey<I>("canal.mq.dynamicTopic", &I::mqDynamicTopic, "",
                           "MQ mode: topic per schema or table: 'topic:expr' or 'expr' items, ',' or ';' separated"));
  k.push_back(intKey<I>("canal.mq.partition", &I::mqPartition, 0, 0, 1 << 20, "MQ mode: the partition when not hashing"));
  k.push_back(intKey<I>("canal.mq.partitionsNum", &I::mqPartitionsNum, 0, 0, 1 << 20,
                        "MQ mode: partitions the hash spreads over (0: unset, as 1)"));
  k.push_back(stringKey<I>("canal.mq.partitionHash", &I::mqPartitionHash, "",
                           "MQ mode: 'tableExpr[:$pk$|:col1^col2]' items; rows hashed to partitions by key, columns or table"));
  k.push_back(stringKey<I>("canal.mq.dynamicTopicPartitionNum", &I::mqDynamicTopicPartitionNum, "",
                           "MQ mode: 'topicExpr:n' items, the partition count of dynamic topics"));
  k.push_back(boolKey<I>("canal.mq.enableDynamicQueuePartition", &I::mqEnableDynamicQueuePartition, false,
                         "RocketMQ's queue discovery; no effect with Kafka"));
  k.push_back(stringKey<I>("canal.mq.positionTopic", &I::mqPositionTopic, "canal_mq_positions",
                           "MQ mode with canal.mq.transaction (not a Canal key): each batch's transaction writes the "
                           "destination's position here (partition 0, key = destination), so a batch committed but "
                           "not acked before a crash or failover is not published twice"));
  k.push_back(stringKey<I>("canal.mq.deadLetterTopic", &I::mqDeadLetterTopic, "",
                           "MQ mode (not a Canal key): where a message over the size limit goes, as a JSON record "
                           "naming it; empty: publishing stops with an error naming the change"));
  return k;
}

}  // namespace

std::optional<InstanceMode> instanceModeOf(std::string_view springXml) {
  for (const auto& [name, mode] : kSpringXml) {
    if (name == springXml) return mode;
  }
  return std::nullopt;
}

const std::vector<KeyDef<ServerConfig>>& serverKeys() {
  static const auto table = buildServerKeys();
  return table;
}

const std::vector<KeyDef<InstanceConfig>>& instanceKeys() {
  static const auto table = buildInstanceKeys();
  return table;
}
std::string describeKeys() {
  std::ostringstream out;
  auto emit = [&out](const auto& table, const char* title) {
    out << title << "\n";
    for (const auto& k : table) {
      out << "  " << k.name << "  (" << k.type;
      if (!k.range.empty()) out << " " << k.range;
      if (!k.unused) out << ", default '" << (k.secret && !k.defaultValue.empty() ? "****" : k.defaultValue) << "'";
      out << ")\n      " << k.help << "\n";
    }
  };
  emit(serverKeys(), "canal.properties (server):");
  emit(instanceKeys(), "instance.properties (per destination; defaults may be set in canal.properties):");
  return out.str();
}

}  // namespace canal::app
