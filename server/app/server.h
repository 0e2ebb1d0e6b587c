#pragma once

// canal-server composed: canal.properties and every destination loaded (create), checked
// (check), the parts started in the order HA needs (start), canal.properties and conf/ followed
// while it runs (tick), everything stopped (stop). main() keeps argv, logging and signals.
// Thread contract: one thread calls every method; the parts run their own threads.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "server/app/config.h"
#include "server/app/destination_manager.h"
#include "server/app/http_endpoint.h"
#include "server/app/server_console.h"
#include "server/app/server_report.h"
#include "server/app/snapshot_api.h"
#include "server/common/status.h"
#include "server/console/console.h"
#include "server/ha/running_election.h"
#include "server/net/canal_server.h"

namespace canal::app {

struct ServerArgs {
  std::string configPath = "conf/canal.properties";
  bool confDirGiven = false;  // --conf DIR: the destinations are in DIR
};

class Server {
 public:
  // Loads canal.properties and every destination's files; a problem in any is an error (all
  // are logged, with the warnings).
  static Result<std::unique_ptr<Server>> create(const ServerArgs& args);
  ~Server();

  // --check: the configuration loaded; with `connect`, every primary and standby reached.
  // Logs what it found; false on any problem.
  bool check(bool connect);

  // Without HA the destinations start first, so a client never meets "should start first" from
  // a server that is starting; with HA the client port is bound first (the address registered
  // in ZooKeeper names it), then the election and the destinations, then clients are accepted.
  Status start();
  // Called about every 100 ms: the web console's changes are applied; `hangup` (SIGHUP) re-reads canal.properties and rescans conf/;
  // otherwise auto-scan does so every canal.auto.scan.interval seconds (canal.properties only
  // when it changed).
  void tick(bool hangup);
  void stop();

 private:
  Server(ServerArgs args, PropertiesFile canalFile, ServerConfig config, ServerContext context,
         std::vector<DestinationConfig> destinations);
  // canal.properties again: what can change at run time is applied, the rest is named as needing
  // a restart; a file that does not load changes nothing.
  void reloadServerFile(const char* why);
  Status startHttp();
  ServerFacts facts() const;

  const ServerArgs args_;
  const PropertiesFile canalFile_;
  const ServerConfig config_;
  const ServerContext context_;
  std::vector<DestinationConfig> configs_;  // until start()
  std::shared_ptr<http::AuthThrottle> throttle_;
  std::unique_ptr<net::CanalServer> net_;
  std::unique_ptr<ha::RunningElection> election_;
  std::unique_ptr<DestinationManager> destinations_;
  std::unique_ptr<HttpEndpoint> http_;
  std::unique_ptr<ServerConsole> consoleBackend_;
  std::unique_ptr<console::Console> console_;
  std::chrono::steady_clock::time_point nextSample_;
  AdminLogins adminLogins_;
  ServerFacts facts_;
  std::filesystem::file_time_type serverFileTime_;
  std::chrono::steady_clock::time_point nextScan_;
  bool stopped_ = false;
};

}  // namespace canal::app
