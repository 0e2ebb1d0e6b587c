#include "server/app/server.h"

#include <spdlog/spdlog.h>

#include <map>
#include <system_error>

#include "server/app/server_reload.h"
#include "server/common/clock.h"
#include "server/common/logging.h"

namespace canal::app {
namespace {

namespace fs = std::filesystem;

// The address published in ZooKeeper: canal.register.ip, else canal.ip, else this host's.
std::string registerAddress(const ServerConfig& server, int port) {
  std::string ip = !server.registerIp.empty() ? server.registerIp : server.ip;
  if (ip.empty()) {
    const auto a = hostIpv4();
    ip = std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." + std::to_string(a[3]);
  }
  return ip + ":" + std::to_string(port);
}

// Canal resolves canal.conf.dir (../conf in its stock file) against its bin/ directory; a conf/
// named with --conf holds the destinations itself, unless canal.conf.dir is absolute. The data
// directory, ${canal.conf.dir} by default, follows.
ServerContext contextOf(const ServerArgs& args, const ServerConfig& server, const PropertiesFile& canalFile) {
  const fs::path base = fs::path(args.configPath).parent_path();
  ServerContext context{server, canalFile, server.confDir, server.fileDataDir, !server.zkServers.empty()};
  const bool dataFollowsConf = server.fileDataDir == server.confDir;
  if (args.confDirGiven && context.confDir.is_relative()) {
    context.confDir = base;
  } else if (context.confDir.is_relative()) {
    context.confDir = base / context.confDir;
  }
  if (dataFollowsConf) {
    context.dataDir = context.confDir;
  } else if (context.dataDir.is_relative()) {
    context.dataDir = base / context.dataDir;
  }
  return context;
}

// Where the client port listens; its credentials and limits are applied as a reload applies them.
net::ServerOptions netOptionsOf(const ServerConfig& server, std::shared_ptr<http::AuthThrottle> throttle) {
  net::ServerOptions o;
  o.throttle = std::move(throttle);  // password guessing is held to one rate over both ports
  o.ip = server.ip;
  o.port = server.port;
  return o;
}

std::string joinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k;
  return out.empty() ? std::string("nothing") : out;
}

}  // namespace

Result<std::unique_ptr<Server>> Server::create(const ServerArgs& args) {
  auto log = moduleLogger("app");
  auto canalFile = PropertiesFile::load(args.configPath);
  if (!canalFile) return canalFile.status();
  Warnings warnings;
  auto server = loadServerConfig(*canalFile, processEnvironment(), &warnings);
  if (!server) return server.status();
  ServerContext context = contextOf(args, *server, *canalFile);
  auto configured = destinationNames(*server);
  if (!configured) return configured.status();
  int failures = 0;
  std::vector<DestinationConfig> configs;
  for (const auto& name : destinationsInConf(context, *configured)) {
    auto config = loadDestination(context, name, &warnings);
    if (!config) {
      log->error("destination {}: {}", name, config.status().toString());
      ++failures;
      continue;
    }
    configs.push_back(std::move(*config));
  }
  for (const auto& w : warnings) log->warn("{}", w);
  if (failures > 0) {
    return Status::invalidArgument(std::to_string(failures) + " destination(s) do not load (above)");
  }
  return std::unique_ptr<Server>(
      new Server(args, std::move(*canalFile), std::move(*server), std::move(context), std::move(configs)));
}

Server::Server(ServerArgs args, PropertiesFile canalFile, ServerConfig config, ServerContext context,
               std::vector<DestinationConfig> destinations)
    : args_(std::move(args)),
      canalFile_(std::move(canalFile)),
      config_(std::move(config)),
      context_(std::move(context)),
      configs_(std::move(destinations)),
      throttle_(std::make_shared<http::AuthThrottle>()),
      adminLogins_({config_.adminUser, config_.adminPasswordHash}) {
  net_ = std::make_unique<net::CanalServer>(
      netOptionsOf(config_, throttle_), [this](const std::string& name) -> std::shared_ptr<instance::ClientSessions> {
        return destinations_ ? destinations_->lookup(name) : nullptr;
      });
  net_->apply(runtimeOptions(config_));
}

Server::~Server() { stop(); }

bool Server::check(bool connect) {
  auto log = moduleLogger("app");
  int problems = 0;
  if (connect) {
    for (const auto& config : configs_) {
      for (const auto& problem : config.checkPrimaries()) {
        log->error("destination {}: {}", config.name, problem);
        ++problems;
      }
    }
  }
  if (problems > 0) {
    log->error("{} problem(s) found", problems);
    return false;
  }
  if (config_.serverMode != ServerMode::kTcp) {
    log->info("configuration OK: {} destination(s), MQ mode {}", configs_.size(), serverModeName(config_.serverMode));
  } else {
    log->info("configuration OK: {} destination(s), client port {}", configs_.size(), config_.port);
  }
  return true;
}

Status Server::start() {
  auto log = moduleLogger("app");
  if (!context_.ha) {
    destinations_ = std::make_unique<DestinationManager>(context_, nullptr);
    CANAL_RETURN_IF_ERROR(destinations_->start(std::move(configs_)));
  }
  // canal.withoutNetty (forced in MQ mode, as Canal does): no client port; with HA the address
  // registered in ZooKeeper still names canal.ip:canal.port.
  if (!config_.withoutNetty) CANAL_RETURN_IF_ERROR(net_->listen());
  facts_.address = registerAddress(config_, config_.withoutNetty ? config_.port : net_->port());
  facts_.zkServers = config_.zkServers;
  facts_.mode = serverModeName(config_.serverMode);
  facts_.startedMs = wallClockMs();
  if (context_.ha) {
    ha::ElectionOptions eo;
    eo.zkServers = config_.zkServers;
    eo.sessionTimeout = std::chrono::milliseconds(config_.zkSessionTimeoutMs);
    eo.address = facts_.address;
    election_ = std::make_unique<ha::RunningElection>(eo);
    CANAL_RETURN_IF_ERROR(election_->start({}));
    log->info("registered as {} in ZooKeeper {}", eo.address, eo.zkServers);
    destinations_ = std::make_unique<DestinationManager>(context_, election_.get());
    CANAL_RETURN_IF_ERROR(destinations_->start(std::move(configs_)));
  }
  if (config_.withoutNetty) {
    log->info("client port not opened (canal.withoutNetty, or canal.serverMode = {})",
              serverModeName(config_.serverMode));
  } else {
    CANAL_RETURN_IF_ERROR(net_->start());
  }
  std::error_code ec;
  serverFileTime_ = fs::last_write_time(args_.configPath, ec);
  if (config_.metricsPort > 0) CANAL_RETURN_IF_ERROR(startHttp());
  nextScan_ = std::chrono::steady_clock::now() + std::chrono::seconds(config_.autoScanIntervalSeconds);
  return Status::ok();
}

ServerFacts Server::facts() const {
  ServerFacts f = facts_;
  f.sessions = net_->sessions();
  f.receivingBytes = net_->receivingBytes();
  f.refusedConnections = net_->refusedConnections();
  f.overBudgetCloses = net_->overBudgetCloses();
  f.unauthenticatedEvictions = net_->unauthenticatedEvictions();
  return f;
}

Status Server::startHttp() {
  std::map<std::string, HttpEndpoint::Handler> handlers;
  handlers["/metrics"] = [this] {
    return HttpReply{"text/plain; version=0.0.4; charset=utf-8",
                     renderMetrics(facts(), destinations_->views(), wallClockMs())};
  };
  handlers["/status"] = [this] {
    return HttpReply{"application/json", renderStatus(facts(), destinations_->views(), wallClockMs())};
  };
  http_ = std::make_unique<HttpEndpoint>(config_.ip, config_.metricsPort, std::move(handlers));
  http_->shareThrottle(throttle_);
  http_->route("/destinations/", [this](const HttpRequest& request) {
    return handleSnapshotRequest(request, adminLogins_.get(), *destinations_);
  });
  consoleBackend_ = std::make_unique<ServerConsole>(context_, *destinations_, adminLogins_, [this] {
    return renderStatus(facts(), destinations_->views(), wallClockMs());
  });
  console_ = std::make_unique<console::Console>(*consoleBackend_);
  http_->route("/console", [this](const http::Request& request) { return console_->handle(request); });
  return http_->start();
}

void Server::reloadServerFile(const char* why) {
  auto log = moduleLogger("app");
  auto edited = PropertiesFile::load(args_.configPath);
  Warnings warnings;
  auto config = edited ? loadServerConfig(*edited, processEnvironment(), &warnings)
                       : Result<ServerConfig>(edited.status());
  if (!config) {
    log->error("{}: {}; the running values stay", why, config.status().toString());
    return;
  }
  for (const auto& w : warnings) log->warn("{}", w);
  net_->apply(runtimeOptions(*config));
  adminLogins_.set({config->adminUser, config->adminPasswordHash});
  const auto changes = compareServerFiles(canalFile_, *edited);
  log->info("{}: {} re-read; applied: {}; changed, needing a restart: {}", why, args_.configPath,
            joinKeys(changes.applied), joinKeys(changes.needRestart));
}

void Server::tick(bool hangup) {
  const auto now = std::chrono::steady_clock::now();
  if (console_) {
    consoleBackend_->runPending();
    if (now >= nextSample_) {
      console_->sample(wallClockMs());
      nextSample_ = now + std::chrono::seconds(10);
    }
  }
  const bool due = config_.autoScan && now >= nextScan_;
  if (!hangup && !due) return;
  std::error_code ec;
  const auto fileTime = fs::last_write_time(args_.configPath, ec);
  if (hangup) {
    reloadServerFile("SIGHUP");
    moduleLogger("app")->info("SIGHUP: scanning {}", context_.confDir.string());
  } else if (!ec && fileTime != serverFileTime_) {
    reloadServerFile("auto-scan");
  }
  if (!ec) serverFileTime_ = fileTime;
  if (destinations_) destinations_->scan();
  nextScan_ = now + std::chrono::seconds(config_.autoScanIntervalSeconds);
}

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (http_) http_->stop();
  if (consoleBackend_) consoleBackend_->runPending();  // a change a request waits for
  net_->stop();
  if (destinations_) destinations_->stopAll();
  if (election_) election_->stop();
}

}  // namespace canal::app
