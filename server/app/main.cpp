// canal-server: loads canal.properties and every destination's instance.properties.
//
//   canal-server [--conf DIR | --config FILE] [--logs DIR] [--check] [--list-keys]
//
// Relative directories in the configuration (canal.conf.dir, canal.file.data.dir) are resolved
// against the directory holding canal.properties, so the server can be started from anywhere;
// with --conf DIR the destinations are in DIR itself unless canal.conf.dir is absolute.

#include <malloc.h>
#include <sys/stat.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "server/app/config.h"
#include "server/app/destination_manager.h"
#include "server/app/http_endpoint.h"
#include "server/app/server_reload.h"
#include "server/app/snapshot_api.h"
#include "server/app/server_report.h"
#include "server/common/clock.h"
#include "server/common/logging.h"
#include "server/ha/running_election.h"
#include "server/net/canal_server.h"

namespace {

namespace fs = std::filesystem;

// The address published in ZooKeeper: canal.register.ip, else canal.ip, else this host's.
std::string registerAddress(const canal::app::ServerConfig& server, int port) {
  std::string ip = !server.registerIp.empty() ? server.registerIp : server.ip;
  if (ip.empty()) {
    const auto a = canal::app::hostIpv4();
    ip = std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." + std::to_string(a[3]);
  }
  return ip + ":" + std::to_string(port);
}

volatile std::sig_atomic_t stopSignal = 0;
volatile std::sig_atomic_t scanRequested = 0;
extern "C" void onSignal(int sig) { stopSignal = sig; }
extern "C" void onHangup(int) { scanRequested = 1; }

int usage() {
  std::cerr << "usage: canal-server [--conf DIR | --config FILE] [--logs DIR] [--check [--connect]] [--list-keys]\n"
               "  --conf DIR     directory holding canal.properties and DESTINATION/instance.properties\n"
               "  --config FILE  canal.properties to load (default conf/canal.properties)\n"
               "  --logs DIR     log to DIR/canal/canal.log and DIR/DESTINATION/DESTINATION.log (rotated);\n"
               "                 stderr keeps warnings and errors\n"
               "  --check        validate the configuration of the server and every destination, then exit\n"
               "  --connect      with --check: also reach every primary and standby (login, binlog on in ROW\n"
               "                 format with full row images, replication privileges, the filter matching a table)\n"
               "  --list-keys    print every configuration key with its type, default and meaning\n"
               "SIGHUP re-reads canal.properties (credentials and the client port's limits apply at once)\n"
               "and rescans conf/ for destinations added, changed or removed.\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  // Entries and batch frames are buffers of tens of kB to a few MB, allocated and freed at the
  // stream's pace. Keep them in the heap instead of mapping, unmapping and trimming them on
  // every batch: page faults were a third of the server's CPU. The store bounds what is held.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // The store holds row values, meta.dat cursors, the schema history table definitions and the
  // logs statements: the files and directories the server creates are its user's alone.
  ::umask(::umask(0) | 077);
  std::string configPath = "conf/canal.properties";
  bool confDirGiven = false;  // --conf DIR: the destinations are in DIR
  std::string logDir;
  bool check = false;
  bool connect = false;  // with --check: reach every primary
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      configPath = argv[++i];
    } else if (arg == "--conf" && i + 1 < argc) {
      configPath = (fs::path(argv[++i]) / "canal.properties").string();
      confDirGiven = true;
    } else if (arg == "--logs" && i + 1 < argc) {
      logDir = argv[++i];
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--connect") {
      connect = true;
    } else if (arg == "--list-keys") {
      std::cout << canal::app::describeKeys();
      return 0;
    } else {
      return usage();
    }
  }
  if (!logDir.empty() && !check) {
    canal::LoggingOptions lo;
    lo.directory = logDir;
    lo.stderrLevel = "warn";  // everything goes to the files; stderr shows what needs attention
    std::string error;
    if (!canal::initLogging(lo, &error)) {
      std::cerr << "canal-server: --logs " << logDir << ": " << error << "\n";
      return 1;
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
  canal::app::ServerContext context{*server, *canalFile, server->confDir, server->fileDataDir, !server->zkServers.empty()};
  // Canal resolves canal.conf.dir (../conf in its stock file) against its bin/ directory; a conf/
  // named with --conf holds the destinations itself, unless canal.conf.dir is absolute. The data
  // directory, ${canal.conf.dir} by default, follows.
  const bool dataFollowsConf = server->fileDataDir == server->confDir;
  if (confDirGiven && context.confDir.is_relative()) {
    context.confDir = base;
  } else if (context.confDir.is_relative()) {
    context.confDir = base / context.confDir;
  }
  if (dataFollowsConf) {
    context.dataDir = context.confDir;
  } else if (context.dataDir.is_relative()) {
    context.dataDir = base / context.dataDir;
  }

  auto configured = canal::app::destinationNames(*server);
  if (!configured) {
    log->error("{}", configured.status().toString());
    return 1;
  }
  const auto names = canal::app::destinationsInConf(context, *configured);
  int failures = 0;
  std::vector<canal::app::DestinationConfig> configs;
  for (const auto& name : names) {
    auto config = canal::app::loadDestination(context, name, &warnings);
    if (!config) {
      log->error("destination {}: {}", name, config.status().toString());
      ++failures;
      continue;
    }
    configs.push_back(std::move(*config));
  }
  for (const auto& w : warnings) log->warn("{}", w);
  if (failures > 0) return 1;
  if (connect && !check) return usage();
  if (check && connect) {
    for (const auto& config : configs) {
      for (const auto& problem : config.checkPrimaries()) {
        log->error("destination {}: {}", config.name, problem);
        ++failures;
      }
    }
    if (failures > 0) {
      log->error("{} problem(s) found", failures);
      return 1;
    }
  }
  if (check) {
    if (server->serverMode != canal::app::ServerMode::kTcp) {
      log->info("configuration OK: {} destination(s), MQ mode {}", names.size(), canal::app::serverModeName(server->serverMode));
    } else {
      log->info("configuration OK: {} destination(s), client port {}", names.size(), server->port);
    }
    return 0;
  }

  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  std::signal(SIGHUP, onHangup);
  std::unique_ptr<canal::ha::RunningElection> election;
  std::unique_ptr<canal::app::DestinationManager> destinations;
  // Password guessing is held to one rate over the client port and the HTTP port.
  const auto throttle = std::make_shared<canal::http::AuthThrottle>();
  canal::net::ServerOptions netOptions;
  netOptions.throttle = throttle;
  netOptions.ip = server->ip;
  netOptions.port = server->port;
  netOptions.user = server->user;
  netOptions.passwordHash = server->passwordHash;
  netOptions.authTimeout = std::chrono::milliseconds(server->authTimeoutMs);
  netOptions.maxConnections = static_cast<std::size_t>(server->maxConnections);
  netOptions.maxUnauthenticated = static_cast<std::size_t>(server->maxUnauthenticated);
  netOptions.receiveBudget = static_cast<std::size_t>(server->receiveBudget);
  canal::net::CanalServer net(netOptions, [&](const std::string& name) -> std::shared_ptr<canal::instance::ClientSessions> {
    return destinations ? destinations->lookup(name) : nullptr;
  });
  // Everything the client port's sessions look up is built before it accepts anyone: without HA
  // the destinations start first (as Canal's do), so a client never meets "should start first"
  // from a server that is starting; with HA the port is bound first, since the address this
  // server registers in ZooKeeper names it, then the election and the destinations are set up,
  // then connections are accepted.
  const auto shutdown = [&] {
    net.stop();
    if (destinations) destinations->stopAll();
    if (election) election->stop();
  };
  if (!context.ha) {
    destinations = std::make_unique<canal::app::DestinationManager>(context, nullptr);
    if (const auto s = destinations->start(std::move(configs)); !s.isOk()) {
      log->error("{}", s.toString());
      destinations->stopAll();
      return 1;
    }
  }
  // canal.withoutNetty (forced in MQ mode, as Canal does): no client port; with HA the address
  // registered in ZooKeeper still names canal.ip:canal.port.
  if (const auto s = server->withoutNetty ? canal::Status::ok() : net.listen(); !s.isOk()) {
    log->error("{}", s.toString());
    shutdown();
    return 1;
  }
  canal::app::ServerFacts facts;
  facts.address = registerAddress(*server, server->withoutNetty ? server->port : net.port());
  facts.zkServers = server->zkServers;
  facts.startedMs = canal::wallClockMs();
  if (context.ha) {
    canal::ha::ElectionOptions eo;
    eo.zkServers = server->zkServers;
    eo.sessionTimeout = std::chrono::milliseconds(server->zkSessionTimeoutMs);
    eo.address = facts.address;
    election = std::make_unique<canal::ha::RunningElection>(eo);
    if (const auto s = election->start({}); !s.isOk()) {
      log->error("{}", s.toString());
      shutdown();
      return 1;
    }
    log->info("registered as {} in ZooKeeper {}", eo.address, eo.zkServers);
    destinations = std::make_unique<canal::app::DestinationManager>(context, election.get());
    if (const auto s = destinations->start(std::move(configs)); !s.isOk()) {
      log->error("{}", s.toString());
      shutdown();
      return 1;
    }
  }
  if (server->withoutNetty) {
    log->info("client port not opened (canal.withoutNetty, or canal.serverMode = {})",
              canal::app::serverModeName(server->serverMode));
  } else if (const auto s = net.start(); !s.isOk()) {
    log->error("{}", s.toString());
    shutdown();
    return 1;
  }
  canal::app::AdminLogins adminLogins({server->adminUser, server->adminPasswordHash});
  // canal.properties edited: what can change at run time is applied, the rest is named as
  // needing a restart; a file that does not load changes nothing.
  const auto reloadServerFile = [&](const char* why) {
    auto edited = canal::app::PropertiesFile::load(configPath);
    canal::app::Warnings reloadWarnings;
    auto config = edited ? canal::app::loadServerConfig(*edited, canal::app::processEnvironment(), &reloadWarnings)
                         : canal::Result<canal::app::ServerConfig>(edited.status());
    if (!config) {
      log->error("{}: {}; the running values stay", why, config.status().toString());
      return;
    }
    for (const auto& w : reloadWarnings) log->warn("{}", w);
    net.apply(canal::app::runtimeOptions(*config));
    adminLogins.set({config->adminUser, config->adminPasswordHash});
    const auto changes = canal::app::compareServerFiles(*canalFile, *edited);
    const auto join = [](const std::vector<std::string>& keys) {
      std::string out;
      for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
      return out.empty() ? std::string("nothing") : out;
    };
    log->info("{}: {} re-read; applied: {}; changed, needing a restart: {}", why, configPath, join(changes.applied),
              join(changes.needRestart));
  };
  std::error_code mtimeEc;
  auto serverFileTime = fs::last_write_time(configPath, mtimeEc);
  std::unique_ptr<canal::app::HttpEndpoint> http;
  if (server->metricsPort > 0) {
    const auto snapshot = [&] {
      canal::app::ServerFacts f = facts;
      f.sessions = net.sessions();
      f.receivingBytes = net.receivingBytes();
      f.refusedConnections = net.refusedConnections();
      f.overBudgetCloses = net.overBudgetCloses();
      f.unauthenticatedEvictions = net.unauthenticatedEvictions();
      return f;
    };
    std::map<std::string, canal::app::HttpEndpoint::Handler> handlers;
    handlers["/metrics"] = [&, snapshot] {
      return canal::app::HttpReply{"text/plain; version=0.0.4; charset=utf-8",
                                   canal::app::renderMetrics(snapshot(), destinations->views(), canal::wallClockMs())};
    };
    handlers["/status"] = [&, snapshot] {
      return canal::app::HttpReply{"application/json",
                                   canal::app::renderStatus(snapshot(), destinations->views(), canal::wallClockMs())};
    };
    http = std::make_unique<canal::app::HttpEndpoint>(server->ip, server->metricsPort, std::move(handlers));
    http->shareThrottle(throttle);
    http->route("/destinations/", [&](const canal::app::HttpRequest& request) {
      return canal::app::handleSnapshotRequest(request, adminLogins.get(), *destinations);
    });
    if (const auto s = http->start(); !s.isOk()) {
      log->error("{}", s.toString());
      shutdown();
      return 1;
    }
  }
  const auto interval = std::chrono::seconds(server->autoScanIntervalSeconds);
  auto nextScan = std::chrono::steady_clock::now() + interval;
  while (!stopSignal) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const bool due = server->autoScan && std::chrono::steady_clock::now() >= nextScan;
    if (scanRequested || due) {
      const auto fileTime = fs::last_write_time(configPath, mtimeEc);
      if (scanRequested) {
        reloadServerFile("SIGHUP");
        log->info("SIGHUP: scanning {}", context.confDir.string());
      } else if (!mtimeEc && fileTime != serverFileTime) {
        reloadServerFile("auto-scan");
      }
      if (!mtimeEc) serverFileTime = fileTime;
      scanRequested = 0;
      destinations->scan();
      nextScan = std::chrono::steady_clock::now() + interval;
    }
  }
  log->info("signal {}: stopping", static_cast<int>(stopSignal));
  if (http) http->stop();
  shutdown();
  log->info("stopped");
  return 0;
}
