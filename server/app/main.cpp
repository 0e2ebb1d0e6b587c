// canal-server: loads canal.properties and every destination's instance.properties.
//
//   canal-server [--config conf/canal.properties] [--check] [--list-keys]
//
// Relative directories in the configuration (canal.conf.dir, canal.file.data.dir) are resolved
// against the directory holding canal.properties, so the server can be started from anywhere.

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <memory>

#include "server/app/config.h"
#include "server/common/logging.h"
#include "server/ha/running_election.h"
#include "server/instance/destination.h"
#include "server/meta/zookeeper_meta_store.h"
#include "server/net/canal_server.h"

namespace {

namespace fs = std::filesystem;

// "host:port" as connection options.
bool parseAddress(const std::string& address, canal::mysql::ConnectOptions& out) {
  const auto colon = address.rfind(':');
  if (address.empty()) return false;
  out.host = colon == std::string::npos ? address : address.substr(0, colon);
  out.port = colon == std::string::npos ? 3306 : std::atoi(address.c_str() + colon + 1);
  return out.port > 0;
}

// This host's first IPv4 address that is not a loopback one (127.0.0.1 when there is none).
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

// Canal's replica server_id when canal.instance.mysql.slaveId is not set: the destination
// name's Java hashCode (7 bits) over the last three bytes of this host's IPv4 address, so
// destinations on one primary, and servers of one cluster, do not share an id.
std::uint32_t autoSlaveId(const std::string& destination) {
  std::int32_t hash = 0;  // Java String.hashCode over UTF-16 code units; names are ASCII
  for (unsigned char c : destination) hash = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(hash) + c);
  const auto ip = hostIpv4();
  return ((static_cast<std::uint32_t>(hash) & 0x7f) << 24) + (std::uint32_t{ip[1]} << 16) + (std::uint32_t{ip[2]} << 8) + ip[3];
}

canal::instance::DestinationOptions destinationOptions(const canal::app::InstanceConfig& c) {
  canal::instance::DestinationOptions o;
  o.name = c.destination;
  parseAddress(c.master.address, o.master);
  o.master.user = c.dbUsername;
  o.master.password = c.dbPassword;
  o.master.database = c.defaultDatabaseName;
  if (!c.standby.address.empty()) {
    canal::mysql::ConnectOptions standby = o.master;
    if (parseAddress(c.standby.address, standby)) o.standby = standby;
  }
  o.dump.slaveId = c.slaveId > 0 ? static_cast<std::uint32_t>(c.slaveId) : autoSlaveId(c.destination);
  o.start.journalName = c.master.journalName;
  if (c.master.position) o.start.position = static_cast<std::uint64_t>(*c.master.position);
  o.start.timestampMs = c.master.timestampMs;
  o.start.gtid = c.master.gtid;
  o.start.gtidMode = c.gtidOn;
  if (c.detectingEnable && c.heartbeatHaEnable) {
    o.detecting = canal::replica::DetectingOptions{c.detectingSql, std::chrono::seconds(c.detectingIntervalSeconds),
                                                   c.detectingRetryThreshold};
  }
  o.reconnect.failoverAfter = std::max(1, c.detectingRetryThreshold);
  o.reconnect.fallbackInterval = std::chrono::seconds(c.fallbackIntervalSeconds);
  o.store.bufferSize = static_cast<std::size_t>(c.bufferSize);
  o.store.memUnit = static_cast<std::size_t>(c.bufferMemUnit);
  o.store.mode = c.batchMode == canal::app::BatchMode::kItemSize ? canal::store::BatchMode::kItemSize
                                                                 : canal::store::BatchMode::kMemSize;
  o.store.ddlIsolation = c.getDdlIsolation;
  o.filterDmlInsert = c.filterDmlInsert;
  o.filterDmlUpdate = c.filterDmlUpdate;
  o.filterDmlDelete = c.filterDmlDelete;
  o.filterQueryDdl = c.filterQueryDdl;
  o.filterQueryDml = c.filterQueryDml;
  o.filterQueryDcl = c.filterQueryDcl;
  o.filterRows = c.filterRows;
  o.filterTableError = c.filterTableError;
  o.filterTransactionEntry = c.filterTransactionEntry;
  o.tableFilter.regex = c.filterRegex;
  o.tableFilter.blackRegex = c.filterBlackRegex;
  o.tableFilter.field = c.filterField;
  o.tableFilter.blackField = c.filterBlackField;
  o.render.decimal = c.renderExactDecimal ? canal::binlog::DecimalStyle::kExact : canal::binlog::DecimalStyle::kCanal;
  o.render.convertColumnCharset = c.renderColumnCharset;
  return o;
}

// One destination on this server: created and started when it becomes active here (at once, or
// when the running election picks this server), stopped and dropped when released.
class Runner {
 public:
  using Make = std::function<canal::Result<std::unique_ptr<canal::instance::Destination>>(
      const std::shared_ptr<canal::ZooKeeperSession>&)>;
  explicit Runner(Make make) : make_(std::move(make)) {}

  canal::Status activate(const std::shared_ptr<canal::ZooKeeperSession>& session) {
    auto made = make_(session);
    if (!made) return made.status();
    std::shared_ptr<canal::instance::Destination> d = std::move(*made);
    d->start();
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::move(d);
    return canal::Status::ok();
  }
  void release() {
    std::shared_ptr<canal::instance::Destination> d;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      d.swap(current_);
    }
    if (d) d->stop();
  }
  std::shared_ptr<canal::instance::Destination> current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }

 private:
  const Make make_;
  mutable std::mutex mutex_;
  std::shared_ptr<canal::instance::Destination> current_;
};

// The address published in ZooKeeper: canal.register.ip, else canal.ip, else this host's.
std::string registerAddress(const canal::app::ServerConfig& server, int port) {
  std::string ip = !server.registerIp.empty() ? server.registerIp : server.ip;
  if (ip.empty()) {
    const auto a = hostIpv4();
    ip = std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." + std::to_string(a[3]);
  }
  return ip + ":" + std::to_string(port);
}

volatile std::sig_atomic_t stopSignal = 0;
extern "C" void onSignal(int sig) { stopSignal = sig; }

int usage() {
  std::cerr << "usage: canal-server [--conf DIR | --config FILE] [--check] [--list-keys]\n"
               "  --conf DIR     directory holding canal.properties and DESTINATION/instance.properties\n"
               "  --config FILE  canal.properties to load (default conf/canal.properties)\n"
               "  --check        validate the configuration of the server and every destination, then exit\n"
               "  --list-keys    print every configuration key with its type, default and meaning\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::string configPath = "conf/canal.properties";
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      configPath = argv[++i];
    } else if (arg == "--conf" && i + 1 < argc) {
      configPath = (fs::path(argv[++i]) / "canal.properties").string();
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--list-keys") {
      std::cout << canal::app::describeKeys();
      return 0;
    } else {
      return usage();
    }
  }
  auto log = canal::moduleLogger("app");

  auto canalFile = canal::app::PropertiesFile::load(configPath);
  if (!canalFile) {
    log->error("{}", canalFile.status().toString());
    return 1;
  }
  canal::app::Warnings warnings;
  auto server = canal::app::loadServerConfig(*canalFile, canal::app::processEnvironment(), &warnings);
  if (!server) {
    log->error("{}", server.status().toString());
    return 1;
  }
  const fs::path base = fs::path(configPath).parent_path();
  fs::path confDir = server->confDir;
  if (confDir.is_relative()) confDir = base / confDir;

  auto names = canal::app::destinationNames(*server);
  if (!names) {
    log->error("{}", names.status().toString());
    return 1;
  }
  fs::path dataDir = server->fileDataDir;
  if (dataDir.is_relative()) dataDir = base / dataDir;
  const bool ha = !server->zkServers.empty();
  int failures = 0;
  std::map<std::string, std::unique_ptr<Runner>> destinations;
  for (const auto& name : *names) {
    const fs::path instancePath = confDir / name / "instance.properties";
    auto instanceFile = canal::app::PropertiesFile::load(instancePath.string());
    if (!instanceFile) {
      log->error("destination {}: {}", name, instanceFile.status().toString());
      ++failures;
      continue;
    }
    auto instance = canal::app::loadInstanceConfig(name, *server, *canalFile, *instanceFile, &warnings);
    if (!instance) {
      log->error("destination {}: {}", name, instance.status().toString());
      ++failures;
      continue;
    }
    log->info("destination {}: primary {}, user {}", name, instance->master.address, instance->dbUsername);
    const auto mode = instance->mode;
    if (mode == canal::app::InstanceMode::kDefault && !ha) {
      log->error("destination {}: default-instance.xml keeps positions in ZooKeeper; set canal.zkServers", name);
      ++failures;
      continue;
    }
    auto options = destinationOptions(*instance);
    auto zone = canal::convert::TimeZone::parse(instance->renderTimeZone);
    if (!zone) {
      log->error("destination {}: canal.instance.render.timezone: {}", name, zone.status().toString());
      ++failures;
      continue;
    }
    options.render.timeZone = *zone;
    // Filters are checked now, whatever the mode; stores and meta are opened when the
    // destination becomes active on this server.
    if (auto checked = canal::instance::Destination::create(options); !checked) {
      log->error("{}", checked.status().toString());
      ++failures;
      continue;
    }
    const fs::path dir = dataDir / name;
    const bool durable = instance->storeType == canal::app::StoreType::kRocksDb ||
                         (instance->storeType == canal::app::StoreType::kByMode && mode != canal::app::InstanceMode::kMemory);
    if (durable) options.storeDir = (dir / "store").string();
    if (mode != canal::app::InstanceMode::kMemory) options.schemaHistoryPath = (dir / "schema.history").string();
    const auto filePeriod = std::chrono::milliseconds(server->fileFlushPeriodMs);
    const auto zkPeriod = std::chrono::milliseconds(server->zkFlushPeriodMs);
    auto make = [options, mode, dir, name, filePeriod, zkPeriod](const std::shared_ptr<canal::ZooKeeperSession>& session)
        -> canal::Result<std::unique_ptr<canal::instance::Destination>> {
      std::unique_ptr<canal::meta::MetaStore> meta;
      if (mode != canal::app::InstanceMode::kMemory) {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec) return canal::Status::ioError("cannot create the data directory: " + ec.message(), dir.string());
      }
      if (mode == canal::app::InstanceMode::kFile) {
        meta = std::make_unique<canal::meta::FileMetaStore>(name, (dir / "meta.dat").string(), filePeriod);
      } else if (mode == canal::app::InstanceMode::kDefault) {
        meta = std::make_unique<canal::meta::ZooKeeperMetaStore>(name, session, zkPeriod);
      }
      return canal::instance::Destination::create(options, std::move(meta));
    };
    destinations[name] = std::make_unique<Runner>(std::move(make));
  }
  for (const auto& w : warnings) log->warn("{}", w);
  if (failures > 0) return 1;
  if (check) {
    log->info("configuration OK: {} destination(s), client port {}", names->size(), server->port);
    return 0;
  }

  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  canal::net::ServerOptions netOptions;
  netOptions.ip = server->ip;
  netOptions.port = server->port;
  netOptions.user = server->user;
  netOptions.passwordHash = server->passwordHash;
  canal::net::CanalServer net(netOptions, [&](const std::string& name) -> std::shared_ptr<canal::instance::Destination> {
    const auto it = destinations.find(name);
    return it == destinations.end() ? nullptr : it->second->current();
  });
  if (const auto s = net.start(); !s.isOk()) {
    log->error("{}", s.toString());
    return 1;
  }
  std::unique_ptr<canal::ha::RunningElection> election;
  if (ha) {
    canal::ha::ElectionOptions eo;
    eo.zkServers = server->zkServers;
    eo.sessionTimeout = std::chrono::milliseconds(server->zkSessionTimeoutMs);
    eo.address = registerAddress(*server, net.port());
    std::vector<canal::ha::ElectionMember> members;
    for (auto& [name, runner] : destinations) {
      Runner* r = runner.get();
      members.push_back({name, [r](const auto& session) { return r->activate(session); }, [r] { r->release(); }});
    }
    election = std::make_unique<canal::ha::RunningElection>(eo);
    if (const auto s = election->start(std::move(members)); !s.isOk()) {
      log->error("{}", s.toString());
      net.stop();
      return 1;
    }
    log->info("registered as {} in ZooKeeper {}", eo.address, eo.zkServers);
  } else {
    for (auto& [name, runner] : destinations) {
      if (const auto s = runner->activate(nullptr); !s.isOk()) {
        log->error("{}", s.toString());
        ++failures;
      }
    }
    if (failures > 0) {
      net.stop();
      for (auto& [name, runner] : destinations) runner->release();
      return 1;
    }
  }
  while (!stopSignal) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  log->info("signal {}: stopping", static_cast<int>(stopSignal));
  net.stop();
  if (election) election->stop();
  for (auto& [name, runner] : destinations) runner->release();
  log->info("stopped");
  return 0;
}
