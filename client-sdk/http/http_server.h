#pragma once

// The HTTP layer of canal-server's operations port and canal-forwarder's admin endpoint (Boost.Beast):
// one request per connection, every connection under deadlines (the whole request must arrive
// within requestDeadline, the answer must be taken within writeDeadline), bounded sizes, a
// bounded number of connections (beyond it a connection is answered 503 and closed at once),
// handlers run on a few worker threads (a slow handler does not hold the others up, nor the
// network thread), and password guessing held to a rate (auth_throttle.h): a handler's 401 to a
// request with credentials counts as a failed attempt of its address; while the throttle refuses
// the address, its requests with credentials are answered 429 without reaching a handler (those
// without, a metrics scrape, go on).
// Thread contract: route() before listen(); listen(), stop() and the destructor on one thread.
// Handlers run on the worker threads, several at once.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "auth_throttle.h"

namespace canal::http {

struct Request {
  std::string method;         // "GET", "POST", "DELETE", ...
  std::string path;           // without the query
  std::string query;          // after '?', empty when none
  std::string body;
  std::string authorization;  // the Authorization header
  std::string cookie;         // the Cookie header
  std::string csrfToken;      // the X-CSRF-Token header
  std::string peer;           // the client's address
};

struct Response {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // more header fields
};

struct ServerOptions {
  std::string name = "canal";  // the Server header
  std::string threadName = "http";  // the network thread; the workers' are this + "-work"
  std::chrono::milliseconds requestDeadline{10000};
  std::chrono::milliseconds writeDeadline{10000};
  std::uint32_t maxHeaderBytes = 16 * 1024;
  std::uint64_t maxBodyBytes = 1024 * 1024;
  // Connections at once. A newcomer beyond it closes the oldest connection still waiting for its
  // request (idle or slow peers cannot keep others out); with none such it is answered 503.
  std::size_t maxConnections = 64;
  std::size_t workers = 2;
  // Shared with the process's other ports (null: one of its own, with AuthThrottle's defaults).
  std::shared_ptr<AuthThrottle> throttle;
  std::function<void(const std::string&)> logError;  // a handler that threw, a listener error
  // At most once a minute: failed and refused authentications, with their counts.
  std::function<void(const std::string&)> logWarning;
};

struct ServerCounters {
  std::uint64_t requests = 0;
  std::uint64_t refusedConnections = 0;  // over maxConnections, every connection busy
  std::uint64_t evicted = 0;             // waiting for a request, closed for a newcomer
  std::uint64_t throttled = 0;           // answered 429
  std::uint64_t timedOut = 0;            // closed at a deadline
};

class Server {
 public:
  using Handler = std::function<Response(const Request&)>;
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Requests whose path starts with `prefix` go to `handler`; the first route that matches
  // wins; a path no route matches is answered 404.
  void route(std::string prefix, Handler handler);
  // Listens on ip:port (port 0: any free one; ip empty: every address) and starts serving.
  // An empty string, or the reason it cannot.
  std::string listen(const std::string& ip, int port);
  void stop();
  int port() const;
  ServerCounters counters() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canal::http
