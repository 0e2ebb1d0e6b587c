#pragma once

// The operations HTTP port (canal.metrics.pull.port): GET of a registered path answers with
// what its handler renders at that moment; a path under a routed prefix goes, with any method,
// to that prefix's handler; other paths get 404, other methods 405. Served by the shared HTTP
// layer (client-sdk/http/http_server.h): one request per connection under deadlines, at most 64
// connections, handlers on two worker threads, failed authentications throttled per address.
// Thread contract: start() and stop() from one thread; handlers run on the workers, two at once.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "auth_throttle.h"
#include "http_server.h"
#include "server/common/status.h"

namespace canal::app {

struct HttpReply {
  std::string contentType;
  std::string body;
};

struct HttpRequest {
  std::string method;         // "GET", "POST", "DELETE", ...
  std::string path;           // without the query
  std::string body;
  std::string authorization;  // the Authorization header
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
};

class HttpEndpoint {
 public:
  using Handler = std::function<HttpReply()>;
  using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;
  HttpEndpoint(std::string ip, int port, std::map<std::string, Handler> handlers);
  ~HttpEndpoint();

  // Requests whose path starts with `prefix` go to `handler` (before start()).
  void route(std::string prefix, RequestHandler handler);
  // The same, with the HTTP layer's own request and response (headers, the peer's address).
  void route(std::string prefix, http::Server::Handler handler);
  // Failed authentications counted with the process's other ports (before start()).
  void shareThrottle(std::shared_ptr<http::AuthThrottle> throttle);
  // Binds (port 0: any free one); Unavailable naming the address when it cannot.
  Status start();
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canal::app
