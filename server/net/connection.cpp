#include "server/net/connection.h"

#include <netinet/tcp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "canal/protocol/frame_codec.h"

namespace canal::net {
namespace {

// Frame bodies are read in pieces of this size, the buffer growing as they arrive.
constexpr std::size_t kReadChunk = 64 * 1024;

}  // namespace

Connection::Connection(ServerCore& s, tcp::socket socket)
    : server(s), strand(asio::make_strand(s.io)), socket_(std::move(socket)), idleTimer_(strand) {}

void Connection::start() {
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  const auto local = socket_.local_endpoint(ec);
  peer_ = remote.address().to_string() + ":" + std::to_string(remote.port());
  char id[16];
  std::snprintf(id, sizeof id, "0x%08x", static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(this)));
  channel_ = std::string("[id: ") + id + ", /" + peer_ + " => /" + local.address().to_string() + ":" +
             std::to_string(local.port()) + "]";
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.set_option(asio::socket_base::keep_alive(true), ec);
  socket_.set_option(asio::socket_base::send_buffer_size(4 << 20), ec);
  asio::dispatch(strand, [self = shared_from_this()] { self->onStart(); });
}

void Connection::armAuthDeadline() {
  const std::int64_t timeoutMs = server.authTimeoutMs;
  idleTimer_.expires_after(std::chrono::milliseconds(timeoutMs));
  idleTimer_.async_wait(asio::bind_executor(strand, [self = shared_from_this(), timeoutMs](boost::system::error_code ec) {
    if (ec || self->closed_ || self->authenticated_) return;
    self->close("not authenticated within " + std::to_string(timeoutMs) + " ms");
  }));
}

void Connection::loggedIn(std::string reply, std::chrono::milliseconds readIdle, std::chrono::milliseconds writeIdle) {
  if (readIdle.count() > 0) readIdle_ = readIdle;
  if (writeIdle.count() > 0) writeIdle_ = writeIdle;
  authenticated_ = true;
  server.authenticated(*this);
  send(std::move(reply), [self = shared_from_this()] {
    self->lastRead_ = self->lastWrite_ = Clock::now();
    self->armIdle();
  });
}

void Connection::close(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  if (!why.empty() && authenticated_) {
    server.log->info("session {} closed: {}", peer_, why);
  } else if (const auto repeats = why.empty() ? std::nullopt : server.unauthenticatedCloses.admit("closed")) {
    // Peers that never authenticate (scanners, guessers) get one line a minute with a count.
    server.log->info("session {} closed before authentication: {}{}", peer_, why,
                     *repeats ? " (and " + std::to_string(*repeats) + " more since last logged)" : "");
  }
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  idleTimer_.cancel();
  // The frame being written stays until its handler runs; what was to run after the writes
  // is dropped now, as it holds the connection.
  for (Outgoing& w : writes_) w.done = nullptr;
  onClose();
  if (readPaused_) --server.heldBack;
  readPaused_ = false;
  releaseBody();
  server.forget(shared_from_this());
}

void Connection::releaseBody() {
  server.receiving -= receiving.exchange(0);
  body_.reset();
}

void Connection::send(std::string frame, std::function<void()> done, std::size_t start) {
  if (closed_) return;
  pendingOutput_ += frame.size() - start;
  writes_.push_back(Outgoing{std::move(frame), start, std::move(done)});
  if (writes_.size() == 1) writeNext();
}

void Connection::writeNext() {
  const Outgoing& next = writes_.front();
  asio::async_write(socket_, asio::buffer(next.frame.data() + next.start, next.frame.size() - next.start),
                    asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      if (ec) return self->close(ec == asio::error::operation_aborted ? "" : "write: " + ec.message());
                      self->lastWrite_ = Clock::now();
                      auto done = std::move(self->writes_.front().done);
                      self->pendingOutput_ -= self->writes_.front().frame.size() - self->writes_.front().start;
                      self->writes_.pop_front();
                      if (done) done();
                      if (self->closed_) return;
                      if (!self->writes_.empty()) self->writeNext();
                      if (self->readPaused_ && self->pendingOutput_ <= self->server.options.maxPendingOutput) {
                        self->readPaused_ = false;
                        --self->server.heldBack;
                        self->readHeader();
                      }
                    }));
}

void Connection::readNext() {
  if (closed_) return;
  if (pendingOutput_ > server.options.maxPendingOutput) {
    readPaused_ = true;
    ++server.heldBack;
    return;
  }
  readHeader();
}

void Connection::readHeader() {
  if (closed_) return;
  readArmed_ = true;
  asio::async_read(socket_, asio::buffer(header_, 4),
                   asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                     if (ec) return self->close(ec == asio::error::eof ? "client went away" : "read: " + ec.message());
                     self->lastRead_ = Clock::now();
                     const ServerOptions& o = self->server.options;
                     const auto length =
                         protocol::decodeFrameLength(self->header_, self->authenticated_ ? o.maxFrameLength : o.maxAuthFrameLength);
                     if (!length.ok()) return self->close("bad frame: " + length.error);
                     self->bodyLength_ = length.length;
                     if (!self->body_.start(self->bodyLength_)) {
                       return self->close("no memory for a frame of " + std::to_string(self->bodyLength_) + " bytes");
                     }
                     self->ackNow();
                     self->readBody();
                   }));
}

// canal-python writes a frame's length and its body separately without TCP_NODELAY: the body
// waits for the length's acknowledgement, which the kernel delays by up to 40 ms hoping to ride
// on a reply. Acknowledging at once when a length arrives lets the body follow.
void Connection::ackNow() {
#ifdef TCP_QUICKACK
  boost::system::error_code ec;
  socket_.set_option(asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_QUICKACK>(true), ec);
#endif
}

// The body is read in chunks, the buffer growing as bytes arrive: a length alone costs nothing.
void Connection::readBody() {
  const std::size_t have = body_.size();
  const std::size_t chunk = std::min(bodyLength_ - have, kReadChunk);
  receiving += chunk;
  if (server.receiving.fetch_add(chunk) + chunk > server.receiveBudget) {
    server.shed();
    if (closed_) return;
  }
  asio::async_read(socket_, asio::buffer(body_.extend(chunk), chunk),
                   asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                     if (ec) return self->close("read: " + ec.message());
                     self->lastRead_ = Clock::now();
                     if (self->body_.size() < self->bodyLength_) return self->readBody();
                     self->requestStart_ = self->lastRead_;
                     self->readArmed_ = false;
                     self->server.receiving -= self->receiving.exchange(0);
                     const bool next = self->onFrame(self->body_.view());
                     self->body_.reset();
                     if (next) self->readNext();
                   }));
}

void Connection::armIdle() {
  idleTimer_.expires_after(std::min(readIdle_, writeIdle_));
  idleTimer_.async_wait(asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_) return;
    const auto now = Clock::now();
    if (now - self->lastRead_ >= self->readIdle_ || now - self->lastWrite_ >= self->writeIdle_) {
      return self->close("idle timeout exceeds, close channel to save server resources");
    }
    self->armIdle();
  }));
}

}  // namespace canal::net
