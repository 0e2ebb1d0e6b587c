#include "server/app/http_endpoint.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "server/common/logging.h"
#include "server/common/thread_name.h"

namespace canal::app {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 1024 * 1024;

}  // namespace

struct HttpEndpoint::Impl {
  std::string ip;
  int port = 0;
  std::map<std::string, Handler> handlers;
  std::vector<std::pair<std::string, RequestHandler>> routes;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  struct Connection : std::enable_shared_from_this<Connection> {
    Impl& owner;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    http::request<http::string_body> request;
    http::response<http::string_body> response;

    Connection(Impl& o, tcp::socket socket) : owner(o), stream(std::move(socket)) {
      parser.header_limit(kMaxHeaderBytes);
      parser.body_limit(kMaxBodyBytes);
    }

    void start() {
      stream.expires_after(std::chrono::seconds(10));
      http::async_read(stream, buffer, parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec == http::error::body_limit) return self->refuse(http::status::payload_too_large, "the body is over 1 MiB\n");
        if (ec == http::error::header_limit) {
          return self->refuse(http::status::request_header_fields_too_large, "the header is over 16 KiB\n");
        }
        if (ec) return;
        self->request = self->parser.release();
        self->answer();
      });
    }

    // Answers a request that was not read whole, and closes.
    void refuse(http::status status, const char* text) {
      response.version(11);
      response.keep_alive(false);
      response.result(status);
      response.set(http::field::content_type, "text/plain; charset=utf-8");
      response.body() = text;
      send();
    }

    void answer() {
      try {
        route();
      } catch (const std::exception& e) {  // a handler's bug must not end the process
        moduleLogger("app")->error("HTTP {} {}: {}", std::string(request.method_string()), std::string(request.target()),
                                   e.what());
        response = {};
        response.version(request.version());
        response.keep_alive(false);
        response.result(http::status::internal_server_error);
        response.set(http::field::content_type, "text/plain; charset=utf-8");
        response.body() = "internal error; see the server's log\n";
      }
      send();
    }

    void route() {
      response.version(request.version());
      response.keep_alive(false);
      response.set(http::field::server, "canal-server");
      std::string target(request.target());
      if (const auto q = target.find('?'); q != std::string::npos) target.resize(q);
      const auto found = owner.handlers.find(target);
      const auto routed = std::find_if(owner.routes.begin(), owner.routes.end(),
                                       [&](const auto& r) { return target.rfind(r.first, 0) == 0; });
      if (routed != owner.routes.end()) {
        const HttpResponse reply = routed->second(HttpRequest{std::string(request.method_string()), target,
                                                              request.body(),
                                                              std::string(request[http::field::authorization])});
        response.result(static_cast<http::status>(reply.status));
        response.set(http::field::content_type, reply.contentType);
        response.body() = reply.body;
      } else if (request.method() != http::verb::get && request.method() != http::verb::head) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "GET, HEAD");
        response.set(http::field::content_type, "text/plain; charset=utf-8");
        response.body() = "only GET is served\n";
      } else if (found == owner.handlers.end()) {
        response.result(http::status::not_found);
        response.set(http::field::content_type, "text/plain; charset=utf-8");
        std::string paths;
        for (const auto& [path, h] : owner.handlers) paths += " " + path;
        response.body() = "not found; paths:" + paths + "\n";
      } else {
        HttpReply reply = found->second();
        response.result(http::status::ok);
        response.set(http::field::content_type, reply.contentType);
        if (request.method() == http::verb::get) response.body() = std::move(reply.body);
      }
    }

    void send() {
      response.prepare_payload();
      http::async_write(stream, response, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        beast::error_code ignored;
        self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        if (!ec) self->drain();
      });
    }

    // Reads what the client still sends (a refused body) until it closes, for at most 2 s, so
    // that closing with unread bytes does not reset the connection before the answer is read.
    void drain() {
      stream.expires_after(std::chrono::seconds(2));
      stream.async_read_some(asio::buffer(discard), [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (!ec) self->drain();
      });
    }
    char discard[4096];
  };

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (!ec) std::make_shared<Connection>(*this, std::move(socket))->start();
      accept();
    });
  }
};

HttpEndpoint::HttpEndpoint(std::string ip, int port, std::map<std::string, Handler> handlers)
    : impl_(std::make_unique<Impl>()) {
  impl_->ip = std::move(ip);
  impl_->port = port;
  impl_->handlers = std::move(handlers);
}

HttpEndpoint::~HttpEndpoint() { stop(); }

void HttpEndpoint::route(std::string prefix, RequestHandler handler) {
  impl_->routes.emplace_back(std::move(prefix), std::move(handler));
}

Status HttpEndpoint::start() {
  beast::error_code ec;
  const auto address =
      impl_->ip.empty() ? asio::ip::address(asio::ip::address_v4::any()) : asio::ip::make_address(impl_->ip, ec);
  const std::string where = (impl_->ip.empty() ? "*" : impl_->ip) + ":" + std::to_string(impl_->port);
  if (ec) return Status::invalidArgument("canal.ip " + impl_->ip + ": " + ec.message());
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->port));
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::unavailable("canal.metrics.pull.port: cannot listen on " + where + ": " + ec.message());
  impl_->accept();
  impl_->thread = std::thread([this] {
    nameThisThread("canal-http");
    impl_->io.run();
  });
  moduleLogger("app")->info("serving /metrics and /status on port {}", port());
  return Status::ok();
}

void HttpEndpoint::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  impl_->io.stop();
  impl_->thread.join();
}

int HttpEndpoint::port() const {
  beast::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

}  // namespace canal::app
