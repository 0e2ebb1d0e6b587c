#pragma once

// The web console (docs/operations.md, "Web console"), served under /console/ on the operations
// port: the page and its files (embedded, nothing fetched from elsewhere), and a JSON API the
// page calls:
//   POST /console/api/login          HTTP Basic credentials -> a session cookie and a CSRF token
//   POST /console/api/logout         GET /console/api/session
//   GET  /console/api/status         the server's /status    GET /console/api/history  rates
//   GET  /console/api/destinations/<d>/logs?level=warn&max=200   the destination's last lines
//   POST /console/api/destinations/<d>/{start,stop,restart}
//   GET|POST|DELETE /console/api/destinations/<d>/snapshots      the snapshot API
//   GET|PUT /console/api/destinations/<d>/config  instance.properties, secrets masked
//   POST /console/api/destinations/<d>/config/check               validation only
//   POST /console/api/destinations   {"name": ..., "properties": ...}  a new destination
// Every API call but login needs the session cookie; every one that changes state also its
// X-CSRF-Token. State changes are logged with who made them, from where.
// Thread contract: handle() and sample() from any thread, several at once.

#include <chrono>
#include <cstdint>
#include <string>

#include <vector>

#include "http_server.h"
#include "server/console/console_backend.h"
#include "server/console/rate_history.h"
#include "web_page.h"
#include "web_sessions.h"

namespace canal::console {

// The console's files (files/ and client-sdk/http/web/console.css), built in.
const std::vector<http::WebFile>& consoleFiles();

class Console {
 public:
  explicit Console(ConsoleBackend& backend) : backend_(backend), sessions_("canal_console") {}

  http::Response handle(const http::Request& request);
  // Records the destinations' totals for the rate chart (the server calls it every 10 s).
  void sample(std::int64_t nowMs);
  const http::WebSessions& sessions() const { return sessions_; }

 private:
  http::Response api(const http::Request& request, const std::string& path);
  http::Response destinationApi(const http::Request& request, const http::Session& session, const std::string& rest);
  void audit(const http::Session& session, const http::Request& request, const std::string& what, const Status& result);

  ConsoleBackend& backend_;
  http::WebSessions sessions_;
  RateHistory history_;
};

}  // namespace canal::console
