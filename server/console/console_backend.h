#pragma once

// What the web console needs of the server it runs in; app/ implements it over the running
// server (server/app/server_console.h), the tests with fakes. Every method may be called from
// several HTTP worker threads at once.

#include <string>
#include <vector>

#include "http_server.h"
#include "server/common/status.h"

namespace canal::console {

class ConsoleBackend {
 public:
  virtual ~ConsoleBackend() = default;

  // The user an HTTP Basic `authorization` header logs in as, or empty when it does not match
  // a login allowed to use the console.
  virtual std::string login(const std::string& authorization) = 0;
  // Why no one can log in (no admin password set), or empty.
  virtual std::string loginUnavailable() = 0;
  // The server's /status JSON.
  virtual std::string statusJson() = 0;
  // "start", "stop" or "restart" of a destination; the error names what went wrong.
  virtual Status destinationAction(const std::string& name, const std::string& action) = 0;
  // The snapshot API's answer (docs/snapshots.md) to `method` with `body` for a destination.
  virtual http::Response snapshots(const std::string& method, const std::string& name, const std::string& body) = 0;
  // A destination's instance.properties as it is on disk.
  virtual Result<std::string> instanceFile(const std::string& name) = 0;
  // The server's checks (those of canal-server --check) of `text` as `name`'s instance.properties;
  // the warnings they raise are appended to `warnings`.
  virtual Status checkInstanceFile(const std::string& name, const std::string& text, std::vector<std::string>* warnings) = 0;
  // `text` checked, written as `name`'s instance.properties and applied as auto-scan applies a
  // changed file. Nothing changes when the check fails.
  virtual Status saveInstanceFile(const std::string& name, const std::string& text) = 0;
  // A new destination `name` with `text` as its instance.properties, checked, written and started.
  virtual Status addDestination(const std::string& name, const std::string& text) = 0;
};

}  // namespace canal::console
