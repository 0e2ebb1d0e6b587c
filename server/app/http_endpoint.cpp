#include "server/app/http_endpoint.h"

#include <spdlog/spdlog.h>

#include "server/common/logging.h"

namespace canal::app {

struct HttpEndpoint::Impl {
  std::string ip;
  int port = 0;
  std::map<std::string, Handler> handlers;
  std::vector<std::pair<std::string, http::Server::Handler>> routes;
  std::unique_ptr<http::Server> server;
  std::shared_ptr<http::AuthThrottle> throttle;

  // The GET handlers; a path under a routed prefix is the route's (registered before this).
  http::Response answer(const http::Request& request) {
    http::Response response;
    response.contentType = "text/plain; charset=utf-8";
    if (request.method != "GET" && request.method != "HEAD") {
      response.status = 405;
      response.headers.emplace_back("Allow", "GET, HEAD");
      response.body = "only GET is served\n";
      return response;
    }
    const auto found = handlers.find(request.path);
    if (found == handlers.end()) {
      response.status = 404;
      std::string paths;
      for (const auto& [path, h] : handlers) paths += " " + path;
      response.body = "not found; paths:" + paths + "\n";
      return response;
    }
    HttpReply reply = found->second();
    response.contentType = reply.contentType;
    response.body = std::move(reply.body);
    return response;
  }
};

HttpEndpoint::HttpEndpoint(std::string ip, int port, std::map<std::string, Handler> handlers)
    : impl_(std::make_unique<Impl>()) {
  impl_->ip = std::move(ip);
  impl_->port = port;
  impl_->handlers = std::move(handlers);
}

HttpEndpoint::~HttpEndpoint() { stop(); }

void HttpEndpoint::shareThrottle(std::shared_ptr<http::AuthThrottle> throttle) { impl_->throttle = std::move(throttle); }

void HttpEndpoint::route(std::string prefix, RequestHandler handler) {
  route(std::move(prefix), [handler = std::move(handler)](const http::Request& r) {
    const HttpResponse reply = handler(HttpRequest{r.method, r.path, r.body, r.authorization});
    http::Response response;
    response.status = reply.status;
    response.contentType = reply.contentType;
    response.body = reply.body;
    return response;
  });
}

void HttpEndpoint::route(std::string prefix, http::Server::Handler handler) {
  impl_->routes.emplace_back(std::move(prefix), std::move(handler));
}

Status HttpEndpoint::start() {
  http::ServerOptions options;
  options.name = "canal-server";
  options.threadName = "canal-http";
  options.throttle = impl_->throttle;
  options.logError = [](const std::string& what) { moduleLogger("app")->error("{}", what); };
  options.logWarning = [](const std::string& what) { moduleLogger("app")->warn("HTTP port: {}", what); };
  impl_->server = std::make_unique<http::Server>(options);
  for (const auto& [prefix, handler] : impl_->routes) impl_->server->route(prefix, handler);
  impl_->server->route("/", [impl = impl_.get()](const http::Request& r) { return impl->answer(r); });
  if (const std::string error = impl_->server->listen(impl_->ip, impl_->port); !error.empty()) {
    impl_->server.reset();
    return Status::unavailable("canal.metrics.pull.port: " + error);
  }
  moduleLogger("app")->info("serving /metrics and /status on port {}", port());
  return Status::ok();
}

void HttpEndpoint::stop() {
  if (impl_->server) impl_->server->stop();
}

int HttpEndpoint::port() const { return impl_->server ? impl_->server->port() : 0; }

}  // namespace canal::app
