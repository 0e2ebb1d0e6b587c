#pragma once

// The web console's view of this server (server/console/console_backend.h): logins are the
// snapshot API's (canal.admin.user / canal.admin.passwd), status is /status, and every change
// (a destination stopped or started, an instance.properties saved, a destination added) runs on
// the server's own thread, the one that runs auto-scan, at its next tick; the HTTP worker waits
// for it.
// Thread contract: the backend's methods from any thread; runPending() from the server's thread.

#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>

#include "server/app/config.h"
#include "server/app/destination_manager.h"
#include "server/app/snapshot_api.h"
#include "server/console/console_backend.h"

namespace canal::app {

class ServerConsole final : public console::ConsoleBackend {
 public:
  ServerConsole(ServerContext context, DestinationManager& destinations, const AdminLogins& logins,
                std::function<std::string()> status)
      : context_(std::move(context)), destinations_(destinations), logins_(logins), status_(std::move(status)) {}

  // Runs the changes queued since the last call.
  void runPending();

  std::string login(const std::string& authorization) override;
  std::string loginUnavailable() override;
  std::string statusJson() override { return status_(); }
  Status destinationAction(const std::string& name, const std::string& action) override;
  http::Response snapshots(const std::string& method, const std::string& name, const std::string& body) override;
  Result<std::string> instanceFile(const std::string& name) override;
  Status checkInstanceFile(const std::string& name, const std::string& text, std::vector<std::string>* warnings) override;
  Status saveInstanceFile(const std::string& name, const std::string& text) override;
  Status addDestination(const std::string& name, const std::string& text) override;

 private:
  // `change` run by runPending(); its result, or Unavailable when the server does not get to it.
  Status onServerThread(std::function<Status()> change);
  // Writes `text` as `name`'s instance.properties (a new file replaces the old at once) and
  // applies it as auto-scan would; the scan's line about `name` when it failed.
  Status writeAndScan(const std::string& name, const std::string& text);

  const ServerContext context_;
  DestinationManager& destinations_;
  const AdminLogins& logins_;
  const std::function<std::string()> status_;
  std::mutex mutex_;
  std::deque<std::packaged_task<Status()>> pending_;
};

}  // namespace canal::app
