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
#include <map>
#include <memory>

#include "server/app/config.h"
#include "server/common/logging.h"
#include "server/instance/destination.h"
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

// Canal's replica server_id when canal.instance.mysql.slaveId is not set: the destination
// name's Java hashCode (7 bits) over the last three bytes of this host's IPv4 address, so
// destinations on one primary, and servers of one cluster, do not share an id.
std::uint32_t autoSlaveId(const std::string& destination) {
  std::int32_t hash = 0;  // Java String.hashCode over UTF-16 code units; names are ASCII
  for (unsigned char c : destination) hash = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(hash) + c);
  std::uint8_t ip[4] = {127, 0, 0, 1};
  char host[256] = {};
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (::gethostname(host, sizeof host - 1) == 0 && ::getaddrinfo(host, nullptr, &hints, &found) == 0) {
    for (addrinfo* a = found; a; a = a->ai_next) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      std::memcpy(ip, &in->sin_addr, 4);
      if (ip[0] != 127) break;
    }
    ::freeaddrinfo(found);
  }
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
  int failures = 0;
  std::map<std::string, std::unique_ptr<canal::instance::Destination>> destinations;
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
    if (instance->mode != canal::app::InstanceMode::kMemory) {
      warnings.push_back("destination " + name +
                         ": only the memory instance mode is served yet; positions and events are kept in memory");
    }
    auto options = destinationOptions(*instance);
    auto zone = canal::convert::TimeZone::parse(instance->renderTimeZone);
    if (!zone) {
      log->error("destination {}: canal.instance.render.timezone: {}", name, zone.status().toString());
      ++failures;
      continue;
    }
    options.render.timeZone = *zone;
    auto destination = canal::instance::Destination::create(std::move(options));
    if (!destination) {
      log->error("{}", destination.status().toString());
      ++failures;
      continue;
    }
    destinations[name] = std::move(*destination);
  }
  for (const auto& w : warnings) log->warn("{}", w);
  if (failures > 0) return 1;
  if (check) {
    log->info("configuration OK: {} destination(s), client port {}", names->size(), server->port);
    return 0;
  }

  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  for (auto& [name, d] : destinations) d->start();
  canal::net::ServerOptions netOptions;
  netOptions.ip = server->ip;
  netOptions.port = server->port;
  netOptions.user = server->user;
  netOptions.passwordHash = server->passwordHash;
  canal::net::CanalServer net(netOptions, [&](const std::string& name) -> canal::instance::Destination* {
    const auto it = destinations.find(name);
    return it == destinations.end() ? nullptr : it->second.get();
  });
  if (const auto s = net.start(); !s.isOk()) {
    log->error("{}", s.toString());
    return 1;
  }
  while (!stopSignal) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  log->info("signal {}: stopping", static_cast<int>(stopSignal));
  net.stop();
  for (auto& [name, d] : destinations) d->stop();
  log->info("stopped");
  return 0;
}
