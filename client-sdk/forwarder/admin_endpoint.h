#pragma once

// The running forwarder's HTTP endpoint (admin.listen), for operators and scripts:
//   GET    /status            the forwarder's counters, as JSON
//   POST   /reindex/{alias}   starts a reindex of the alias beside the live loop (202; 409 while
//                            one of that alias runs); the same steps as `canal-forwarder reindex`
//   GET    /reindex/{alias}   its state (running, done, failed, stopped), last log lines, error
//   DELETE /reindex/{alias}   stops it (the alias stays where it was, or the next run finishes
//                            a swap that happened)
//   POST   /load/{db.table}   fills a sql sink's copy of the table through a snapshot the running
//                            forwarder applies (forwarder/sql/sql_load.h); GET and DELETE as above
// With admin.password set every request needs HTTP Basic authentication as admin.user.
// A page for people is at /console/ (its files built in, its style shared with canal-server's
// console): the forwarder's figures, each sink's counters, the reindexes and loads with their
// last lines, started and stopped from it. It logs in with the same credentials, then works by
// a session cookie and, for every change, the session's CSRF token (client-sdk/http/web_sessions.h);
// its API is /console/api/{login,logout,session,status} and /console/api/{reindex,load}/{name}. Served
// by the shared HTTP layer (client-sdk/http/http_server.h): deadlines, a connection limit,
// failed authentications throttled per address. Thread contract: start() and the destructor on
// one thread; requests are answered on the layer's worker threads.

#include <functional>
#include <memory>
#include <string>

#include "canal/client/status.h"
#include "forwarder/forwarder.h"
#include "forwarder/forwarder_config.h"

namespace canal::forwarder {

class AdminEndpoint {
 public:
  using Logger = std::function<void(const std::string&)>;
  // Listens on config.admin.listen; `forwarder` must outlive the endpoint.
  static client::Result<std::unique_ptr<AdminEndpoint>> start(const ForwarderConfig& config, const Forwarder& forwarder,
                                                              Logger log);
  // Stops the listener and any reindex or load still running (waiting for it to stop).
  ~AdminEndpoint();
  int port() const;

 private:
  class Impl;
  explicit AdminEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace canal::forwarder
