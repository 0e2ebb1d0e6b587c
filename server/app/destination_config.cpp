#include "server/app/destination_config.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "server/app/canal_mq_publisher.h"
#include "server/app/destination_parts.h"
#include "server/app/primary_check.h"
#include "server/common/logging.h"
#include "server/convert/table_filter.h"
#include "server/meta/zookeeper_meta_store.h"

namespace canal::app {
namespace {

namespace fs = std::filesystem;

// "host:port" as connection options.
bool parseAddress(const std::string& address, mysql::ConnectOptions& out) {
  const auto colon = address.rfind(':');
  if (address.empty()) return false;
  out.host = colon == std::string::npos ? address : address.substr(0, colon);
  out.port = colon == std::string::npos ? 3306 : std::atoi(address.c_str() + colon + 1);
  return out.port > 0;
}

// Canal's replica server_id when canal.instance.mysql.slaveId is not set: the destination
// name's Java hashCode (7 bits) over the last three bytes of this host's IPv4 address, so
// destinations on one primary, and servers of one cluster, do not share an id.
std::uint32_t autoSlaveId(const std::string& destination) {
  std::int32_t hash = 0;  // Java String.hashCode over UTF-16 code units; names are ASCII
  for (unsigned char c : destination) hash = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(hash) + c);
  const auto ip = hostIpv4();
  return ((static_cast<std::uint32_t>(hash) & 0x7f) << 24) + (std::uint32_t{ip[1]} << 16) + (std::uint32_t{ip[2]} << 8) + ip[3];
}

instance::DestinationOptions destinationOptions(const InstanceConfig& c) {
  instance::DestinationOptions o;
  o.name = c.destination;
  parseAddress(c.master.address, o.master);
  o.master.user = c.dbUsername;
  o.master.password = c.dbPassword;
  o.master.database = c.defaultDatabaseName;
  if (!c.standby.address.empty()) {
    mysql::ConnectOptions standby = o.master;
    if (parseAddress(c.standby.address, standby)) o.standby = standby;
  }
  o.dump.slaveId = c.slaveId > 0 ? static_cast<std::uint32_t>(c.slaveId) : autoSlaveId(c.destination);
  o.start.journalName = c.master.journalName;
  if (c.master.position) o.start.position = static_cast<std::uint64_t>(*c.master.position);
  o.start.timestampMs = c.master.timestampMs;
  o.start.gtid = c.master.gtid;
  o.start.gtidMode = c.gtidOn;
  if (c.detectingEnable && c.heartbeatHaEnable) {
    o.detecting = replica::DetectingOptions{c.detectingSql, std::chrono::seconds(c.detectingIntervalSeconds),
                                            c.detectingRetryThreshold};
  }
  o.reconnect.failoverAfter = std::max(1, c.detectingRetryThreshold);
  o.reconnect.fallbackInterval = std::chrono::seconds(c.fallbackIntervalSeconds);
  o.store.bufferSize = static_cast<std::size_t>(c.bufferSize);
  o.store.memUnit = static_cast<std::size_t>(c.bufferMemUnit);
  o.store.mode = c.batchMode == BatchMode::kItemSize ? store::BatchMode::kItemSize : store::BatchMode::kMemSize;
  o.store.ddlIsolation = c.getDdlIsolation;
  o.pump.filterDmlInsert = c.filterDmlInsert;
  o.pump.filterDmlUpdate = c.filterDmlUpdate;
  o.pump.filterDmlDelete = c.filterDmlDelete;
  o.pump.filterQueryDdl = c.filterQueryDdl;
  o.pump.filterQueryDml = c.filterQueryDml;
  o.pump.filterQueryDcl = c.filterQueryDcl;
  o.pump.filterRows = c.filterRows;
  o.pump.filterTableError = c.filterTableError;
  o.pump.filterTransactionEntry = c.filterTransactionEntry;
  o.pump.retryInterval = std::chrono::milliseconds(c.streamRetryIntervalMs);
  o.tableFilter.regex = c.filterRegex;
  o.tableFilter.blackRegex = c.filterBlackRegex;
  o.tableFilter.field = c.filterField;
  o.tableFilter.blackField = c.filterBlackField;
  o.pump.render.decimal = c.renderExactDecimal ? binlog::DecimalStyle::kExact : binlog::DecimalStyle::kCanal;
  o.pump.render.convertColumnCharset = c.renderColumnCharset;
  o.initialSnapshot = c.snapshotMode != SnapshotMode::kNever;
  o.pump.snapshotOnly = c.snapshotMode == SnapshotMode::kInitialOnly;
  o.snapshotTables = c.snapshotTables;
  o.snapshotChunkSize = static_cast<std::size_t>(c.snapshotChunkSize);
  o.snapshotRowsPerSecond = static_cast<std::uint64_t>(c.snapshotRowsPerSecond);
  o.snapshotParallel = static_cast<std::size_t>(c.snapshotParallel);
  o.snapshotWatermarkTable = c.snapshotWatermarkTable;
  return o;
}

}  // namespace

Result<std::string> readInstanceFile(const ServerContext& context, const std::string& name) {
  const fs::path path = context.confDir / name / "instance.properties";
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ioError("cannot read", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::array<std::uint8_t, 4> hostIpv4() {
  std::array<std::uint8_t, 4> ip = {127, 0, 0, 1};
  char host[256] = {};
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (::gethostname(host, sizeof host - 1) == 0 && ::getaddrinfo(host, nullptr, &hints, &found) == 0) {
    for (addrinfo* a = found; a; a = a->ai_next) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      std::memcpy(ip.data(), &in->sin_addr, 4);
      if (ip[0] != 127) break;
    }
    ::freeaddrinfo(found);
  }
  return ip;
}

Result<DestinationConfig> loadDestination(const ServerContext& context, const std::string& name, Warnings* warnings) {
  auto text = readInstanceFile(context, name);
  if (!text) return text.status();
  return loadDestination(context, name, std::move(*text), warnings);
}

Result<DestinationConfig> loadDestination(const ServerContext& context, const std::string& name, std::string text,
                                          Warnings* warnings) {
  const fs::path instancePath = context.confDir / name / "instance.properties";
  auto instanceFile = PropertiesFile::parse(text, instancePath.string());
  if (!instanceFile) return instanceFile.status();
  auto instance = loadInstanceConfig(name, context.server, context.canalFile, *instanceFile, warnings);
  if (!instance) return instance.status();
  const auto mode = instance->mode;
  if (mode == InstanceMode::kDefault && !context.ha) {
    return Status::invalidArgument("default-instance.xml keeps positions in ZooKeeper; set canal.zkServers");
  }
  auto options = destinationOptions(*instance);
  auto zone = convert::TimeZone::parse(instance->renderTimeZone);
  if (!zone) return zone.status().withContext("canal.instance.render.timezone");
  options.pump.render.timeZone = *zone;
  // Filters are checked now, whatever the mode; stores and meta are opened when the
  // destination becomes active on this server.
  if (auto checked = convert::TableFilter::create(options.tableFilter); !checked) return checked.status();

  DestinationConfig config;
  config.name = name;
  config.fingerprint = std::move(text);
  config.checkPrimaries = [options, file = instancePath.string()] { return app::checkPrimaries(options, file); };
  config.mode = mode;
  config.durable = instance->storeType == StoreType::kRocksDb ||
                   (instance->storeType == StoreType::kByMode && mode != InstanceMode::kMemory);
  config.batchMode = instance->batchMode == BatchMode::kItemSize ? "ITEMSIZE" : "MEMSIZE";
  config.bufferSize = instance->bufferSize;
  const fs::path dir = context.dataDir / name;
  if (config.durable) options.storeDir = (dir / "store").string();
  if (mode != InstanceMode::kMemory) options.schemaHistoryPath = (dir / "schema.history").string();
  const auto filePeriod = std::chrono::milliseconds(context.server.fileFlushPeriodMs);
  const auto zkPeriod = std::chrono::milliseconds(context.server.zkFlushPeriodMs);
  config.make = [options, mode, dir, name, filePeriod, zkPeriod](const std::shared_ptr<ZooKeeperSession>& session)
      -> Result<std::unique_ptr<instance::Destination>> {
    std::unique_ptr<meta::MetaStore> meta;
    if (mode != InstanceMode::kMemory) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return Status::ioError("cannot create the data directory: " + ec.message(), dir.string());
    }
    if (mode == InstanceMode::kFile) {
      meta = std::make_unique<meta::FileMetaStore>(name, (dir / "meta.dat").string(), filePeriod);
    } else if (mode == InstanceMode::kDefault) {
      meta = std::make_unique<meta::ZooKeeperMetaStore>(name, session, zkPeriod);
    }
    return makeDestination(options, std::move(meta));
  };
  if (context.server.serverMode != ServerMode::kTcp) {
    CANAL_RETURN_IF_ERROR(CanalMqPublisher::check(context.server, *instance, warnings));
    mq::MqWorkerOptions workerOptions;
    workerOptions.destination = name;
    workerOptions.batchSize = context.server.mqCanalBatchSize;
    workerOptions.getTimeout = std::chrono::milliseconds(context.server.mqCanalGetTimeoutMs);
    config.publish = [server = context.server, instance = *instance,
                      workerOptions](std::shared_ptr<instance::ClientSessions> sessions)
        -> Result<std::unique_ptr<mq::MqWorker>> {
      auto publisher = CanalMqPublisher::create(server, instance);
      if (!publisher) return publisher.status();
      return std::make_unique<mq::MqWorker>(std::move(sessions), std::move(*publisher), workerOptions);
    };
  }
  return config;
}

std::vector<std::string> destinationsInConf(const ServerContext& context, const std::vector<std::string>& configured) {
  std::set<std::string> names(configured.begin(), configured.end());
  std::error_code ec;
  if (context.server.autoScan) {
    for (const auto& entry : fs::directory_iterator(context.confDir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name == "spring" || !entry.is_directory(ec)) continue;
      if (fs::is_regular_file(entry.path() / "instance.properties", ec)) names.insert(name);
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace canal::app
