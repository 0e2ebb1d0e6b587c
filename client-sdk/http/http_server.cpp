#include "http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <list>
#include <thread>

namespace canal::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

// Linux shows at most 15 characters of a thread's name.
void nameThread(const std::string& name) { pthread_setname_np(pthread_self(), name.substr(0, 15).c_str()); }

Response plain(int status, std::string text) {
  Response r;
  r.status = status;
  r.contentType = "text/plain; charset=utf-8";
  r.body = std::move(text);
  return r;
}

}  // namespace

struct Server::Impl {
  explicit Impl(ServerOptions o)
      : options(std::move(o)),
        throttle(options.throttle ? options.throttle : std::make_shared<AuthThrottle>()) {}

  ServerOptions options;
  std::vector<std::pair<std::string, Handler>> routes;
  std::shared_ptr<AuthThrottle> throttle;
  // Before io: connections still queued in io when it goes away count themselves out here.
  std::atomic<std::size_t> connections{0};
  std::atomic<std::uint64_t> requests{0}, refused{0}, throttled{0}, timedOut{0}, evicted{0};
  std::atomic<std::int64_t> authLoggedAt{0};  // steady-clock seconds of the last authentication line

  // At most once a minute: the failed and refused authentications so far, and the last address.
  void logAuthentication(const std::string& peer, bool refusedNow) {
    if (!options.logWarning) return;
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
    std::int64_t last = authLoggedAt;
    if (last != 0 && now - last < 60) return;
    if (!authLoggedAt.compare_exchange_strong(last, now)) return;
    options.logWarning(std::string(refusedNow ? "refused an authentication from " : "failed authentication from ") + peer +
                     "; so far " + std::to_string(throttle->failures()) + " failed, " +
                     std::to_string(throttle->refused()) + " refused unchecked (too many failures)");
  }
  struct Connection;
  // Connections waiting for their request, oldest first (the network thread only).
  std::list<std::weak_ptr<Connection>> waiting;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;  // the network thread: accepts, reads, writes
  // The handlers' threads.
  asio::io_context workers;
  asio::executor_work_guard<asio::io_context::executor_type> workersBusy = asio::make_work_guard(workers);
  std::vector<std::thread> workerThreads;

  Response dispatch(const Request& request) {
    for (const auto& [prefix, handler] : routes) {
      if (request.path.rfind(prefix, 0) != 0) continue;
      try {
        return handler(request);
      } catch (const std::exception& e) {  // a handler's bug must not end the process
        if (options.logError) options.logError("HTTP " + request.method + " " + request.path + ": " + e.what());
        return plain(500, "internal error; see the log\n");
      }
    }
    return plain(404, "not found\n");
  }

  struct Connection : std::enable_shared_from_this<Connection> {
    Impl* owner;
    std::list<std::weak_ptr<Connection>>::iterator slot;  // in owner->waiting while reading
    bool inWaiting = false;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bhttp::request_parser<bhttp::string_body> parser;
    bhttp::response<bhttp::string_body> response;
    std::string peer;
    char discard[4096];

    Connection(Impl* o, tcp::socket socket) : owner(o), stream(std::move(socket)) {
      parser.header_limit(owner->options.maxHeaderBytes);
      parser.body_limit(owner->options.maxBodyBytes);
      beast::error_code ec;
      peer = stream.socket().remote_endpoint(ec).address().to_string(ec);
      ++owner->connections;
    }
    ~Connection() { --owner->connections; }

    void start() {
      stream.expires_after(owner->options.requestDeadline);
      slot = owner->waiting.insert(owner->waiting.end(), weak_from_this());
      inWaiting = true;
      bhttp::async_read(stream, buffer, parser, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        self->leaveWaiting();
        if (ec == bhttp::error::body_limit) {
          return self->send(plain(413, "the body is over " + std::to_string(self->owner->options.maxBodyBytes) + " bytes\n"));
        }
        if (ec == bhttp::error::header_limit) {
          return self->send(
              plain(431, "the header is over " + std::to_string(self->owner->options.maxHeaderBytes) + " bytes\n"));
        }
        if (ec == beast::error::timeout) ++self->owner->timedOut;
        if (ec) return;
        self->handle();
      });
    }

    void leaveWaiting() {
      if (inWaiting) owner->waiting.erase(slot);
      inWaiting = false;
    }

    // Closed for a newcomer: the read ends with an error, and nothing is answered.
    void evict() {
      leaveWaiting();
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream.socket().close(ignored);
    }

    void handle() {
      auto message = parser.release();
      ++owner->requests;
      Request request;
      request.method = std::string(message.method_string());
      request.path = std::string(message.target());
      if (const auto q = request.path.find('?'); q != std::string::npos) {
        request.query = request.path.substr(q + 1);
        request.path.resize(q);
      }
      request.body = std::move(message.body());
      request.authorization = std::string(message[bhttp::field::authorization]);
      request.cookie = std::string(message[bhttp::field::cookie]);
      request.csrfToken = std::string(message["X-CSRF-Token"]);
      request.peer = peer;
      if (!request.authorization.empty() && !owner->throttle->admit(peer)) {
        ++owner->throttled;
        owner->logAuthentication(peer, true);
        Response r = plain(429, "too many failed authentications from " + peer + "; try again later\n");
        const auto seconds = std::chrono::duration<double>(owner->throttle->refill()).count();
        r.headers.emplace_back("Retry-After", std::to_string(static_cast<long long>(std::ceil(seconds))));
        return send(std::move(r));
      }
      // The handler runs on a worker; the answer goes back to this connection's strand.
      asio::post(owner->workers, [self = shared_from_this(), request = std::move(request)]() mutable {
        Response r = self->owner->dispatch(request);
        if (r.status == 401 && !request.authorization.empty()) {
          self->owner->throttle->failed(request.peer);
          self->owner->logAuthentication(request.peer, false);
        }
        if (request.method == "HEAD") r.body.clear();
        asio::post(self->stream.get_executor(), [self, r = std::move(r)]() mutable { self->send(std::move(r)); });
      });
    }

    void send(Response r) {
      response = {};
      response.version(11);
      response.keep_alive(false);
      response.result(static_cast<bhttp::status>(r.status));
      response.set(bhttp::field::server, owner->options.name);
      response.set(bhttp::field::content_type, r.contentType);
      for (const auto& [name, value] : r.headers) response.set(name, value);
      response.body() = std::move(r.body);
      response.prepare_payload();
      stream.expires_after(owner->options.writeDeadline);
      bhttp::async_write(stream, response, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec == beast::error::timeout) ++self->owner->timedOut;
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
  };

  void accept() {
    acceptor.async_accept(asio::make_strand(io), [self = this](beast::error_code ec, tcp::socket socket) {
      if (!self->acceptor.is_open()) return;
      if (!ec) {
        // At the limit, the oldest connection still waiting for its request makes room (it
        // counts itself out once its read has ended).
        bool room = self->connections < self->options.maxConnections;
        while (!room && !self->waiting.empty()) {
          auto oldest = self->waiting.front().lock();
          if (!oldest) {
            self->waiting.pop_front();
            continue;
          }
          oldest->evict();
          ++self->evicted;
          room = true;
        }
        if (!room) {
          // Over the limit: said at once, without waiting for the request, and closed.
          ++self->refused;
          static const char kBusy[] =
              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n"
              "Connection: close\r\n\r\ntoo many connections; retry\r\n";
          beast::error_code ignored;
          socket.non_blocking(true, ignored);
          socket.write_some(asio::buffer(kBusy, sizeof kBusy - 1), ignored);
          socket.shutdown(tcp::socket::shutdown_both, ignored);
          socket.close(ignored);
        } else {
          std::make_shared<Connection>(self, std::move(socket))->start();
        }
      } else if (ec == asio::error::no_descriptors) {
        // Out of descriptors: wait a little rather than spin; the others go on.
        auto timer = std::make_shared<asio::steady_timer>(self->io, std::chrono::milliseconds(50));
        timer->async_wait([self, timer](beast::error_code) { self->accept(); });
        return;
      }
      self->accept();
    });
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() { stop(); }

void Server::route(std::string prefix, Handler handler) { impl_->routes.emplace_back(std::move(prefix), std::move(handler)); }

std::string Server::listen(const std::string& ip, int port) {
  beast::error_code ec;
  const auto address = ip.empty() ? asio::ip::address(asio::ip::address_v4::any()) : asio::ip::make_address(ip, ec);
  const std::string where = (ip.empty() ? "*" : ip) + ":" + std::to_string(port);
  if (ec) return "address " + ip + ": " + ec.message();
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + where + ": " + ec.message();
  impl_->accept();
  Impl* impl = impl_.get();
  impl->thread = std::thread([impl] {
    nameThread(impl->options.threadName);
    impl->io.run();
  });
  for (std::size_t i = 0; i < std::max<std::size_t>(1, impl->options.workers); ++i) {
    impl->workerThreads.emplace_back([impl] {
      nameThread(impl->options.threadName + "-work");
      impl->workers.run();
    });
  }
  return "";
}

void Server::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  impl_->io.stop();
  impl_->thread.join();
  impl_->workersBusy.reset();
  impl_->workers.stop();
  for (std::thread& t : impl_->workerThreads) t.join();
  impl_->workerThreads.clear();
}

int Server::port() const {
  beast::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

ServerCounters Server::counters() const {
  return {impl_->requests.load(), impl_->refused.load(), impl_->evicted.load(), impl_->throttled.load(),
          impl_->timedOut.load()};
}

}  // namespace canal::http
