#include "server/net/canal_server.h"

#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <thread>
#include <vector>

#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/frame_codec.h"
#include "canal/protocol/password_scramble.h"
#include "server/common/byte_writer.h"
#include "server/common/logging.h"
#include "server/common/thread_name.h"
#include "server/net/frame_buffer.h"

namespace canal::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
namespace pb = canal::protocol::packet;
using Clock = std::chrono::steady_clock;

std::string packet(pb::PacketType type, const std::string& body, bool withVersion = true) {
  pb::Packet p;
  if (withVersion) p.set_version(1);
  p.set_type(type);
  if (!body.empty()) p.set_body(body);
  return protocol::encodeFrame(p.SerializeAsString());
}

std::string ackFrame(int code = 0, const std::string& message = {}) {
  pb::Ack ack;
  if (code) ack.set_error_code(code);
  ack.set_error_message(message);
  return packet(pb::ACK, ack.SerializeAsString());
}

// Room before a batch's entries for what precedes them on the wire: the frame header, the
// Packet's type and body length, the Messages' batch id.
constexpr std::size_t kBatchHeadroom = protocol::kFrameHeaderSize + 3 + 10 + 1 + 10;

// Request bodies are read in pieces of this size, the buffer growing as they arrive.
constexpr std::size_t kReadChunk = 64 * 1024;

// A batch as Canal's raw path writes it (no version field; docs/protocol.md, "GET"), built in one
// buffer: `entries` are appended after kBatchHeadroom bytes, then, once the batch id is known,
// prefixBatch() writes what precedes them and says where the frame starts.
void appendBatchEntries(std::string& frame, const instance::BatchEntries& entries) {
  std::size_t size = kBatchHeadroom;
  for (const std::string_view e : entries) size += 1 + varintSize(e.size()) + e.size();
  frame.reserve(size);
  frame.assign(kBatchHeadroom, '\0');
  for (const std::string_view e : entries) {
    frame.push_back(0x12);  // Messages.messages
    appendVarint(frame, e.size());
    frame += e;
  }
}

std::size_t prefixBatch(std::string& frame, std::int64_t batchId) {
  const auto id = static_cast<std::uint64_t>(batchId);
  const std::size_t body = 1 + varintSize(id) + (frame.size() - kBatchHeadroom);
  const std::size_t payload = 3 + varintSize(body) + body;
  std::string prefix;
  protocol::appendFrameHeader(prefix, static_cast<std::uint32_t>(payload));
  prefix.append("\x18\x07\x2a", 3);  // Packet.type = MESSAGES, Packet.body (length-delimited)
  appendVarint(prefix, body);
  prefix.push_back(0x08);  // Messages.batch_id
  appendVarint(prefix, id);
  const std::size_t start = kBatchHeadroom - prefix.size();
  prefix.copy(frame.data() + start, prefix.size());
  return start;
}

// Java's Short.parseShort.
std::optional<std::int16_t> parseShort(const std::string& text) {
  std::string_view t = text;
  if (!t.empty() && t[0] == '+') t.remove_prefix(1);
  int v = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() || v < -32768 || v > 32767) return std::nullopt;
  return static_cast<std::int16_t>(v);
}

// Now plus `amount` of Java's TimeUnit `unit` (default milliseconds), saturating: a timeout too
// large to represent waits forever instead of overflowing into the past.
Clock::time_point deadlineAfter(std::int64_t amount, int unit) {
  static constexpr std::int64_t kNanosPer[] = {1, 1000, 1000000, 1000000000, 60000000000, 3600000000000,
                                               86400000000000};
  const std::int64_t per = unit >= 0 && unit <= 6 ? kNanosPer[unit] : kNanosPer[2];
  const auto now = Clock::now();
  const std::int64_t room = (Clock::time_point::max() - now).count();
  if (amount > room / per) return Clock::time_point::max();
  return now + std::chrono::nanoseconds(amount * per);
}

}  // namespace

struct CanalServer::Impl {
  struct Session;

  ServerOptions options;
  DestinationLookup destinations;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  // Calls that write to disk or ZooKeeper (subscribe, unsubscribe, ack) run off the network
  // threads, on one thread per destination: a destination whose writes are slow (a RocksDB
  // journal behind a backlog, a slow disk) holds up its own clients only. The session reads its
  // next request when the call is done, so requests stay ordered.
  std::mutex lanesMutex;
  std::map<std::string, std::unique_ptr<asio::thread_pool>> lanes;
  asio::thread_pool& lane(const std::string& destination) {
    std::lock_guard<std::mutex> lock(lanesMutex);
    auto& pool = lanes[destination];
    if (!pool) {
      pool = std::make_unique<asio::thread_pool>(1);
      asio::post(*pool, [destination] { nameThisThread("acks:" + destination); });
    }
    return *pool;
  }
  std::mutex mutex;
  std::set<std::shared_ptr<Session>> sessions;
  std::size_t unauthenticated = 0;  // sessions not authenticated and not being evicted (mutex)
  // options.user and options.passwordHash change under this (apply()); the limits are atomics.
  mutable std::mutex credentialsMutex;
  std::atomic<std::int64_t> authTimeoutMs{options.authTimeout.count()};
  std::atomic<std::size_t> maxConnections{options.maxConnections};
  std::atomic<std::size_t> maxUnauthenticated{options.maxUnauthenticated};
  std::atomic<std::size_t> receiveBudget{options.receiveBudget};
  std::pair<std::string, std::string> credentials() const {
    std::lock_guard<std::mutex> lock(credentialsMutex);
    return {options.user, options.passwordHash};
  }
  std::atomic<std::size_t> receiving{0};  // bytes of frames being received, every session
  std::atomic<std::uint64_t> overBudget{0};
  std::atomic<std::uint64_t> evicted{0};
  std::condition_variable sessionsGone;  // notified when the last session is forgotten
  std::shared_ptr<spdlog::logger> log = moduleLogger("net");
  // The acceptor is opened, armed and closed on this strand only.
  asio::strand<asio::io_context::executor_type> acceptStrand{asio::make_strand(io)};
  asio::steady_timer acceptBackoff{acceptStrand};
  std::chrono::milliseconds acceptDelay{0};  // after a failed accept (out of descriptors)
  bool stopping = false;                     // on acceptStrand
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::size_t> heldBack{0};  // sessions with readPaused
  std::atomic<std::uint64_t> acceptFailed{0};
  RepeatFilter acceptErrors;
  RepeatFilter authFailures;
  RepeatFilter unauthenticatedCloses;
  // Failed authentications by peer address. Each failure's reply is held back longer while the
  // address keeps failing, so passwords cannot be tried at network speed over many connections.
  struct FailedAuths {
    int count = 0;
    Clock::time_point last;
  };
  std::mutex authMutex;
  std::unordered_map<std::string, FailedAuths> failedAuths;

  // The delay before the reply to a failed authentication from `address`: options.authFailureDelay,
  // doubling with every further failure from it up to 32 times that; forgotten after a minute
  // without one.
  std::chrono::milliseconds authFailureDelay(const std::string& address) {
    constexpr auto kForget = std::chrono::minutes(1);
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(authMutex);
    if (failedAuths.size() > 4096) {
      for (auto it = failedAuths.begin(); it != failedAuths.end();) {
        it = now - it->second.last > kForget ? failedAuths.erase(it) : std::next(it);
      }
    }
    FailedAuths& f = failedAuths[address];
    if (now - f.last > kForget) f.count = 0;
    f.last = now;
    const int doublings = std::min(f.count++, 5);
    return options.authFailureDelay * (1 << doublings);
  }

  Impl(ServerOptions o, DestinationLookup d) : options(std::move(o)), destinations(std::move(d)) {}
  void accept();
  void accepted(boost::system::error_code ec, tcp::socket socket);
  void forget(const std::shared_ptr<Session>& s);
  // Counts `s` as authenticated (out of the unauthenticated class).
  void authenticated(Session& s);
  // Over receiveBudget: closes the session receiving the largest frame.
  void shed();
};

struct CanalServer::Impl::Session : std::enable_shared_from_this<Session> {
  Impl& server;
  tcp::socket socket;
  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer idleTimer;
  asio::steady_timer waitTimer;
  std::string seed;
  bool authenticated = false;
  bool closed = false;
  // Under the server's mutex: counted among the unauthenticated (until it authenticates, goes,
  // or is chosen to make room), and when it was accepted.
  bool countedUnauthenticated = true;
  Clock::time_point accepted = Clock::now();
  std::string address;  // the peer's IP address
  std::atomic<std::size_t> receiving{0};  // bytes of `body` counted in the server's receiving
  int failedAuths = 0;
  unsigned char header[4]{};
  FrameBuffer body;
  std::size_t bodyLength = 0;     // of the frame being read
  std::size_t pendingOutput = 0;  // bytes queued for writing
  bool readPaused = false;        // the next request is read once the queued replies drain
  struct Outgoing {
    std::string frame;
    std::size_t start = 0;        // where the frame starts in `frame`
    std::function<void()> done;   // runs once it is written
  };
  std::deque<Outgoing> writes;
  std::chrono::milliseconds readIdle{3600000};
  std::chrono::milliseconds writeIdle{3600000};
  Clock::time_point lastRead = Clock::now();
  Clock::time_point lastWrite = Clock::now();
  std::string peer;
  std::string channel;
  Clock::time_point requestStart;  // when the request being handled was read
  // Acks set aside and not written yet, by destination and client.
  struct AcksToWrite {
    std::shared_ptr<instance::ClientSessions> destination;
    std::int16_t clientId;
  };
  std::deque<AcksToWrite> acksToWrite;
  bool ackInFlight = false;               // acks are written on the destination's lane
  bool waitingGet = false;                // a GET waits for entries
  bool readArmed = false;                 // a request is being read
  // Read while a GET waited or acks were written, handled once they are done.
  std::optional<pb::Packet> heldRequest;
  // The epoch each client's last rollback of everything on this connection returned: a get of
  // a client that rolled back on a newer connection since is refused (see getWithoutAck).
  std::map<std::pair<std::string, std::int16_t>, std::uint64_t> epochs;
  std::uint64_t waitSerial = 0;                       // of the get waiting for entries
  std::shared_ptr<instance::ClientSessions> waitingOn;   // its destination, while it waits

  Session(Impl& s, tcp::socket sock)
      : server(s), socket(std::move(sock)), strand(asio::make_strand(s.io)), idleTimer(strand), waitTimer(strand) {}

  void start() {
    boost::system::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    const auto local = socket.local_endpoint(ec);
    peer = remote.address().to_string() + ":" + std::to_string(remote.port());
    char id[16];
    std::snprintf(id, sizeof id, "0x%08x", static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(this)));
    channel = std::string("[id: ") + id + ", /" + peer + " => /" + local.address().to_string() + ":" +
              std::to_string(local.port()) + "]";
    socket.set_option(tcp::no_delay(true), ec);
    socket.set_option(asio::socket_base::keep_alive(true), ec);
    socket.set_option(asio::socket_base::send_buffer_size(4 << 20), ec);
    seed.resize(8);
    RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), 8);
    pb::Handshake hs;
    hs.set_seeds(seed);
    asio::dispatch(strand, [self = shared_from_this(), frame = packet(pb::HANDSHAKE, hs.SerializeAsString())]() mutable {
      // The seed holds from now on: a client can only answer it once it has read this frame, so
      // a ClientAuth read after it was queued is checked against it (arming it when the write
      // completes raced with a fast client's reply).
      self->send(std::move(frame));
      self->armAuthDeadline();
      self->readHeader();
    });
  }

  // A peer that does not authenticate in time costs nothing further.
  void armAuthDeadline() {
    const std::int64_t timeoutMs = server.authTimeoutMs;
    idleTimer.expires_after(std::chrono::milliseconds(timeoutMs));
    idleTimer.async_wait(asio::bind_executor(strand, [self = shared_from_this(), timeoutMs](boost::system::error_code ec) {
      if (ec || self->closed || self->authenticated) return;
      self->close("not authenticated within " + std::to_string(timeoutMs) + " ms");
    }));
  }

  void close(const std::string& why) {
    if (closed) return;
    closed = true;
    if (!why.empty() && authenticated) {
      server.log->info("session {} closed: {}", peer, why);
    } else if (const auto repeats = why.empty() ? std::nullopt : server.unauthenticatedCloses.admit("closed")) {
      // Peers that never authenticate (scanners, guessers) get one line a minute with a count.
      server.log->info("session {} closed before authentication: {}{}", peer, why,
                       *repeats ? " (and " + std::to_string(*repeats) + " more since last logged)" : "");
    }
    boost::system::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    idleTimer.cancel();
    waitTimer.cancel();
    // The frame being written stays until its handler runs; what was to run after the writes
    // is dropped now, as it holds the session.
    for (Outgoing& w : writes) w.done = nullptr;
    stopWaiting();
    if (readPaused) --server.heldBack;
    readPaused = false;
    releaseBody();
    server.forget(shared_from_this());
  }

  // The frame buffer goes, and with it its bytes from the server's receiving count.
  void releaseBody() {
    server.receiving -= receiving.exchange(0);
    body.reset();
  }

  // Queues a frame (the bytes of `frame` from `start` on); `done` runs on the strand once it is
  // written.
  void send(std::string frame, std::function<void()> done = {}, std::size_t start = 0) {
    if (closed) return;
    pendingOutput += frame.size() - start;
    writes.push_back(Outgoing{std::move(frame), start, std::move(done)});
    if (writes.size() == 1) writeNext();
  }

  void writeNext() {
    const Outgoing& next = writes.front();
    asio::async_write(socket, asio::buffer(next.frame.data() + next.start, next.frame.size() - next.start),
                      asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (ec) return self->close(ec == asio::error::operation_aborted ? "" : "write: " + ec.message());
                        self->lastWrite = Clock::now();
                        auto done = std::move(self->writes.front().done);
                        self->pendingOutput -= self->writes.front().frame.size() - self->writes.front().start;
                        self->writes.pop_front();
                        if (done) done();
                        if (self->closed) return;
                        if (!self->writes.empty()) self->writeNext();
                        if (self->readPaused && self->pendingOutput <= self->server.options.maxPendingOutput) {
                          self->readPaused = false;
                          --self->server.heldBack;
                          self->readHeader();
                        }
                      }));
  }

  // Reads the next request, unless the replies queued for the client exceed maxPendingOutput:
  // then it is read once they drain (a client that sends without reading is held back).
  void readNext() {
    if (closed) return;
    if (pendingOutput > server.options.maxPendingOutput) {
      readPaused = true;
      ++server.heldBack;
      return;
    }
    readHeader();
  }

  void readHeader() {
    if (closed) return;
    readArmed = true;
    asio::async_read(socket, asio::buffer(header, 4),
                     asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) return self->close(ec == asio::error::eof ? "client went away" : "read: " + ec.message());
                       self->lastRead = Clock::now();
                       const ServerOptions& o = self->server.options;
                       const auto length =
                           protocol::decodeFrameLength(self->header, self->authenticated ? o.maxFrameLength : o.maxAuthFrameLength);
                       if (!length.ok()) return self->close("bad frame: " + length.error);
                       self->bodyLength = length.length;
                       if (!self->body.start(self->bodyLength)) {
                         return self->close("no memory for a frame of " + std::to_string(self->bodyLength) + " bytes");
                       }
                       self->ackNow();
                       self->readBody();
                     }));
  }

  // Clients that write a frame's length and its body separately without TCP_NODELAY (canal-python
  // does) hold the body back until the length is acknowledged, and the kernel delays that
  // acknowledgement by up to 40 ms hoping to ride on a reply: every request would wait that long.
  // Acknowledging at once when a length arrives lets the body follow. (Linux; elsewhere a no-op.)
  void ackNow() {
#ifdef TCP_QUICKACK
    boost::system::error_code ec;
    socket.set_option(asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_QUICKACK>(true), ec);
#endif
  }

  // Reads the body in chunks, growing the buffer as bytes arrive: a length alone costs nothing.
  void readBody() {
    const std::size_t have = body.size();
    const std::size_t chunk = std::min(bodyLength - have, kReadChunk);
    receiving += chunk;
    if (server.receiving.fetch_add(chunk) + chunk > server.receiveBudget) {
      server.shed();
      if (closed) return;
    }
    asio::async_read(socket, asio::buffer(body.extend(chunk), chunk),
                     asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                       if (ec) return self->close("read: " + ec.message());
                       self->lastRead = Clock::now();
                       if (self->body.size() < self->bodyLength) return self->readBody();
                       self->requestStart = self->lastRead;
                       self->readArmed = false;
                       self->server.receiving -= self->receiving.exchange(0);
                       const bool next = self->handle();
                       self->body.reset();
                       if (next) self->readNext();
                     }));
  }

  void armIdle() {
    idleTimer.expires_after(std::min(readIdle, writeIdle));
    idleTimer.async_wait(asio::bind_executor(strand, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->closed) return;
      const auto now = Clock::now();
      if (now - self->lastRead >= self->readIdle || now - self->lastWrite >= self->writeIdle) {
        return self->close("idle timeout exceeds, close channel to save server resources");
      }
      self->armIdle();
    }));
  }

  // Canal's error text, naming the file or node behind a server-side failure when there is one.
  std::string failure(const Status& s) const {
    return "something goes wrong with channel:" + channel +
           ", exception=com.alibaba.otter.canal.server.exception.CanalServerException: " +
           (s.where().empty() ? s.message() : s.where() + ": " + s.message());
  }

  // False when the next frame must not be read yet (a waiting GET) or the session closed.
  bool handle() {
    pb::Packet p;
    const std::string_view bytes = body.view();
    if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      close("unparsable packet");
      return false;
    }
    if (!authenticated) return authenticate(p);
    if (heldBack(p)) {
      heldRequest = std::move(p);
      return false;
    }
    return dispatch(p);
  }

  // A request that must wait: anything while a GET waits (requests stay in order); anything but
  // GET and CLIENTACK while acks are written (see clientAck()).
  bool heldBack(const pb::Packet& p) const {
    return waitingGet || (ackInFlight && p.type() != pb::GET && p.type() != pb::CLIENTACK);
  }

  // Carries on once what held requests back is done: the held request, else the next read.
  void resume() {
    if (closed || waitingGet) return;
    if (heldRequest) {
      if (heldBack(*heldRequest)) return;  // the acks' completion resumes
      const pb::Packet held = std::move(*heldRequest);
      heldRequest.reset();
      if (dispatch(held)) readNext();
      return;
    }
    if (!readArmed && !readPaused) readNext();
  }

  bool dispatch(const pb::Packet& p) {
    switch (p.type()) {
      case pb::SUBSCRIPTION: return subscription(p, true);
      case pb::UNSUBSCRIPTION: return subscription(p, false);
      case pb::GET: return get(p);
      case pb::CLIENTACK: return clientAck(p);
      case pb::CLIENTROLLBACK: return clientRollback(p);
      default: {
        const std::string name = pb::PacketType_IsValid(p.type()) ? pb::PacketType_Name(p.type()) : "UNRECOGNIZED";
        send(ackFrame(400, "packet type=" + name + " is NOT supported!"));
        return true;
      }
    }
  }

  bool authenticate(const pb::Packet& p) {
    pb::ClientAuth auth;
    if (!auth.ParseFromString(p.body())) {
      close("unparsable ClientAuth");
      return false;
    }
    const ServerOptions& o = server.options;
    const auto [user, passwordHash] = server.credentials();
    // Guessing is held to a rate shared with the HTTP port: a refused attempt is not checked.
    const bool credentials = !user.empty() || !passwordHash.empty();
    const bool throttled = credentials && o.throttle && !o.throttle->admit(address);
    bool ok = !throttled;
    if (ok && !user.empty() && auth.username() != user) ok = false;
    if (ok && !passwordHash.empty()) {
      if (auth.password().empty()) {
        ok = false;
      } else {
        const auto check = protocol::checkScramble(auth.password(), seed, passwordHash);
        if (check == protocol::ScrambleCheck::kMalformed) {
          close("password is not the hex of a 20-byte scramble");
          return false;
        }
        ok = check == protocol::ScrambleCheck::kMatch;
      }
    }
    if (!ok) {
      // Logged once a minute at most with the count held back. The reply comes after a delay
      // that grows while the peer's address keeps failing, and nothing more is read meanwhile;
      // the connection is closed after authAttempts failures.
      const bool last = ++failedAuths >= server.options.authAttempts;
      if (const auto repeats = server.authFailures.admit("auth failed")) {
        server.log->warn("session {}: auth failed for user:{}{}{}", peer, auth.username(),
                         last ? ", closed after " + std::to_string(failedAuths) + " failures" : "",
                         *repeats ? " (and " + std::to_string(*repeats) + " more failures since last logged)" : "");
      }
      if (credentials && o.throttle && !throttled) o.throttle->failed(address);
      const std::string reply = "auth failed for user:" + auth.username() +
                                (throttled ? " (too many failed authentications from " + address + "; try again later)" : "");
      waitTimer.expires_after(server.authFailureDelay(address));
      waitTimer.async_wait(asio::bind_executor(
          strand, [self = shared_from_this(), last, reply](boost::system::error_code waitEc) {
            if (waitEc || self->closed) return;
            self->send(ackFrame(400, reply), [self, last] {
              if (last) return self->close("");
              self->readNext();
            });
          }));
      return false;
    }
    if (auth.has_net_read_timeout() && auth.net_read_timeout() > 0) {
      readIdle = std::chrono::milliseconds(auth.net_read_timeout());
    }
    if (auth.has_net_write_timeout() && auth.net_write_timeout() > 0) {
      writeIdle = std::chrono::milliseconds(auth.net_write_timeout());
    }
    if (!auth.destination().empty() && !auth.client_id().empty()) {
      const auto id = parseShort(auth.client_id());
      std::shared_ptr<instance::ClientSessions> d = server.destinations(auth.destination());
      if (!id || !d || !d->subscribe(*id, auth.filter()).isOk()) {
        close("implicit subscribe of " + auth.destination() + "/" + auth.client_id() + " failed");
        return false;
      }
    }
    authenticated = true;
    server.authenticated(*this);
    send(ackFrame(), [self = shared_from_this()] {
      self->lastRead = self->lastWrite = Clock::now();
      self->armIdle();
    });
    return true;
  }

  // The destination and client id of a request, or the error reply already sent.
  template <typename Request>
  std::optional<std::pair<std::shared_ptr<instance::ClientSessions>, std::int16_t>> target(const pb::Packet& p, Request& r) {
    if (!r.ParseFromString(p.body())) {
      send(ackFrame(400, failure(Status::invalidArgument("com.google.protobuf.InvalidProtocolBufferException"))));
      return std::nullopt;
    }
    if (r.destination().empty() || r.client_id().empty()) {
      send(ackFrame(401, "destination or clientId is null"));
      return std::nullopt;
    }
    std::shared_ptr<instance::ClientSessions> d = server.destinations(r.destination());
    const auto id = parseShort(r.client_id());
    if (!id) {
      reply(d, p.type(), Status::invalidArgument("java.lang.NumberFormatException: For input string: \"" +
                                                  r.client_id() + "\""));
      return std::nullopt;
    }
    if (!d || !d->running()) {
      reply(d, p.type(), Status::unavailable("destination:" + r.destination() + " should start first"));
      return std::nullopt;
    }
    return std::make_pair(d, *id);
  }

  // Counts a handled request in the destination's figures.
  void account(const std::shared_ptr<instance::ClientSessions>& d, pb::PacketType type, std::size_t bytes, int errorCode,
               bool emptyBatch = false) {
    if (d) d->recordRequest(pb::PacketType_Name(type), Clock::now() - requestStart, bytes, errorCode, emptyBatch);
  }

  // Sends the reply to a request of `type` (none on success unless `replyOnSuccess`).
  void reply(const std::shared_ptr<instance::ClientSessions>& d, pb::PacketType type, const Status& s,
             bool replyOnSuccess = true) {
    std::string frame;
    if (!s.isOk()) {
      frame = ackFrame(400, failure(s));
    } else if (replyOnSuccess) {
      frame = ackFrame();
    }
    account(d, type, frame.size(), s.isOk() ? 0 : 400);
    if (!frame.empty()) send(std::move(frame));
  }

  // Runs `work` on the destination's lane, then replies on the strand (success has a reply only
  // when `replyOnSuccess`) and reads the next request.
  bool offload(std::shared_ptr<instance::ClientSessions> d, pb::PacketType type, std::function<Status()> work,
               bool replyOnSuccess) {
    asio::thread_pool& lane = server.lane(d->name());
    asio::post(lane, [self = shared_from_this(), d = std::move(d), type, work = std::move(work), replyOnSuccess] {
      const Status s = work();
      asio::post(self->strand, [self, d, type, s, replyOnSuccess] {
        if (self->closed) return;
        self->reply(d, type, s, replyOnSuccess);
        self->resume();
      });
    });
    return false;
  }

  bool subscription(const pb::Packet& p, bool subscribe) {
    if (subscribe) {
      pb::Sub r;
      auto t = target(p, r);
      if (!t) return true;
      return offload(t->first, p.type(), [t, filter = r.filter()] { return t->first->subscribe(t->second, filter); },
                     true);
    }
    pb::Unsub r;
    auto t = target(p, r);
    if (!t) return true;
    return offload(t->first, p.type(), [t] { return t->first->unsubscribe(t->second); }, true);
  }

  bool clientAck(const pb::Packet& p) {
    pb::ClientAck r;
    auto t = target(p, r);
    if (!t) return true;
    if (r.batch_id() == 0) {
      std::string frame = ackFrame(402, "batchId should assign value");
      account(t->first, p.type(), frame.size(), 402);
      send(std::move(frame));
      return true;
    }
    // Success has no reply. The batch is checked and set aside at once (so Canal's errors come in
    // order); the cursor and journal writes run on the destination's lane while gets go on being
    // served, so a client that acks and asks for the next batch does not wait for the disk, and
    // acks that arrive meanwhile are written together. Any other request waits until they are
    // written, so a rollback or the SDK's confirming subscribe sees them. When the writing
    // fails, the error is sent and the connection closed.
    const Status taken = t->first->takeForAck(t->second, r.batch_id());
    reply(t->first, p.type(), taken, false);  // counted now; only a failure has a reply
    if (!taken.isOk()) return true;
    const auto queued = std::find_if(acksToWrite.begin(), acksToWrite.end(), [&](const AcksToWrite& a) {
      return a.destination == t->first && a.clientId == t->second;
    });
    if (queued == acksToWrite.end()) acksToWrite.push_back(AcksToWrite{t->first, t->second});
    if (!ackInFlight) writeAcks();
    return true;
  }

  void writeAcks() {
    ackInFlight = true;
    const AcksToWrite next = acksToWrite.front();
    acksToWrite.pop_front();
    asio::post(server.lane(next.destination->name()), [self = shared_from_this(), next] {
      const Status s = next.destination->commitAcks(next.clientId);
      asio::post(self->strand, [self, next, s] {
        self->ackInFlight = false;
        if (self->closed) return;
        if (!s.isOk()) {
          // The batches are unacknowledged again, and so are those acked after them; gets may
          // have been answered meanwhile. The client reconnects (which rolls back) and is in
          // step again.
          self->send(ackFrame(400, self->failure(s)),
                     [self] { self->close("an ack could not be recorded: the client must reconnect"); });
          return;
        }
        if (!self->acksToWrite.empty()) return self->writeAcks();
        self->resume();
      });
    });
  }

  bool clientRollback(const pb::Packet& p) {
    pb::ClientRollback r;
    auto t = target(p, r);
    if (!t) return true;
    const auto rolled = t->first->rollback(t->second, r.batch_id());  // in memory only
    if (rolled && r.batch_id() == 0) epochs[{t->first->name(), t->second}] = *rolled;
    reply(t->first, p.type(), rolled.status(), false);
    return true;
  }

  bool get(const pb::Packet& p) {
    pb::Get r;
    auto t = target(p, r);
    if (!t) return true;
    const std::int64_t timeout = r.has_timeout() ? r.timeout() : 0;
    if (timeout == -1) {  // takes what is there
      finishGet(t->first, t->second, r.fetch_size());
      return true;
    }
    // Waits without holding a thread, until the batch is enough or time is up; 0 or less: forever.
    // Meanwhile the socket is read: a client that went away ends the wait, and no batch is taken
    // for it (which a new connection of the same client would otherwise find missing).
    const auto deadline = timeout <= 0 ? Clock::time_point::max() : deadlineAfter(timeout, r.has_unit() ? r.unit() : 2);
    waitingGet = true;
    pollGet(t->first, t->second, r.fetch_size(), deadline);
    if (waitingGet && !readArmed) readHeader();
    return false;
  }

  // Answers the get when the store has enough, the deadline passed or the destination stopped.
  // Until then the session waits without a thread: the store wakes it when a put makes the
  // batch enough, and the timer at the deadline. `waitSerial` makes a wake-up that lost the race
  // a no-op.
  void pollGet(const std::shared_ptr<instance::ClientSessions>& d, std::int16_t id, std::int64_t fetchSize, Clock::time_point deadline) {
    if (closed) return;
    const std::uint64_t serial = ++waitSerial;
    const auto again = [weak = weak_from_this(), dest = std::weak_ptr<instance::ClientSessions>(d), id, fetchSize, deadline,
                        serial] {
      auto self = weak.lock();
      if (!self) return;
      asio::post(self->strand, [self, dest, id, fetchSize, deadline, serial] {
        auto d = dest.lock();
        if (d && self->waitSerial == serial) self->pollGet(d, id, fetchSize, deadline);
      });
    };
    if (Clock::now() >= deadline || d->readyOrNotify(this, fetchSize, again)) {
      stopWaiting();
      waitingGet = false;
      finishGet(d, id, fetchSize);
      resume();
      return;
    }
    waitingOn = d;
    if (deadline == Clock::time_point::max()) return;
    waitTimer.expires_at(deadline);
    waitTimer.async_wait(asio::bind_executor(strand, [again](boost::system::error_code ec) {
      if (!ec) again();
    }));
  }

  void stopWaiting() {
    ++waitSerial;
    if (waitingOn) waitingOn->cancelNotify(this);
    waitingOn.reset();
  }

  void finishGet(const std::shared_ptr<instance::ClientSessions>& d, std::int16_t id, std::int64_t fetchSize) {
    std::string frame;
    const auto epoch = epochs.find({d->name(), id});
    auto batchId = d->getWithoutAck(id, fetchSize, epoch == epochs.end() ? 0 : epoch->second,
                                    [&frame](const instance::BatchEntries& entries) { appendBatchEntries(frame, entries); });
    if (!batchId) return reply(d, pb::GET, batchId.status());
    std::size_t start = 0;
    if (*batchId == -1) {
      pb::Messages m;
      m.set_batch_id(-1);
      frame = packet(pb::MESSAGES, m.SerializeAsString());
    } else {
      start = prefixBatch(frame, *batchId);
    }
    account(d, pb::GET, frame.size() - start, 0, *batchId == -1);
    send(std::move(frame), {}, start);
  }
};

void CanalServer::Impl::accept() {
  if (stopping || !acceptor.is_open()) return;
  acceptor.async_accept(asio::make_strand(io), asio::bind_executor(acceptStrand, [this](boost::system::error_code ec,
                                                                                        tcp::socket socket) {
    accepted(ec, std::move(socket));
  }));
}

// On acceptStrand.
void CanalServer::Impl::accepted(boost::system::error_code ec, tcp::socket socket) {
  if (stopping || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors (or memory): the connection stays in the backlog, so accepting again at
    // once would spin. Back off, up to a second, and log once a minute with the count.
    ++acceptFailed;
    acceptDelay = std::min<std::chrono::milliseconds>(std::max(acceptDelay * 2, std::chrono::milliseconds(10)),
                                                      std::chrono::seconds(1));
    if (const auto repeats = acceptErrors.admit(ec.message())) {
      log->warn("accept: {}{}; accepting again in up to 1 s", ec.message(),
                *repeats ? " (and " + std::to_string(*repeats) + " more since last logged)" : "");
    }
    acceptBackoff.expires_after(acceptDelay);
    acceptBackoff.async_wait(asio::bind_executor(acceptStrand, [this](boost::system::error_code waited) {
      if (!waited) accept();
    }));
    return;
  }
  acceptDelay = std::chrono::milliseconds(0);
  std::shared_ptr<Session> s;
  std::shared_ptr<Session> oldest;  // closed to make room
  {
    std::lock_guard<std::mutex> lock(mutex);
    const bool full = sessions.size() >= maxConnections;
    if (full || unauthenticated >= maxUnauthenticated) {
      // The oldest unauthenticated connection of the address that has the most of them: a flood
      // from one address makes room from its own connections, not from a client logging in.
      std::unordered_map<std::string, std::pair<int, std::shared_ptr<Session>>> byAddress;
      for (const auto& candidate : sessions) {
        if (!candidate->countedUnauthenticated) continue;
        auto& [count, first] = byAddress[candidate->address];
        ++count;
        if (!first || candidate->accepted < first->accepted) first = candidate;
      }
      int most = 0;
      for (const auto& [address, entry] : byAddress) {
        if (entry.first > most || (entry.first == most && entry.second->accepted < oldest->accepted)) {
          most = entry.first;
          oldest = entry.second;
        }
      }
      if (oldest) {
        oldest->countedUnauthenticated = false;
        --unauthenticated;
      }
    }
    if (oldest || !full) {
      boost::system::error_code ignored;
      const std::string address = socket.remote_endpoint(ignored).address().to_string(ignored);
      s = std::make_shared<Session>(*this, std::move(socket));
      s->address = address;
      sessions.insert(s);
      ++unauthenticated;
    }
  }
  if (oldest) {
    ++evicted;
    asio::dispatch(oldest->strand, [oldest] { oldest->close("unauthenticated, and the oldest such when room was needed"); });
  }
  if (s) {
    s->start();
  } else {
    ++refused;
    if (const auto repeats = acceptErrors.admit("connection limit")) {
      log->warn("{} connections already: closing new ones{}", maxConnections.load(),
                *repeats ? " (" + std::to_string(*repeats) + " more since last logged)" : "");
    }
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  accept();
}

void CanalServer::Impl::forget(const std::shared_ptr<Session>& s) {
  std::lock_guard<std::mutex> lock(mutex);
  if (sessions.erase(s) > 0 && s->countedUnauthenticated) --unauthenticated;
  s->countedUnauthenticated = false;
  if (sessions.empty()) sessionsGone.notify_all();
}

void CanalServer::Impl::authenticated(Session& s) {
  std::lock_guard<std::mutex> lock(mutex);
  if (s.countedUnauthenticated) --unauthenticated;
  s.countedUnauthenticated = false;
}

void CanalServer::Impl::shed() {
  std::shared_ptr<Session> largest;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& s : sessions) {
      if (!largest || s->receiving > largest->receiving) largest = s;
    }
  }
  if (!largest || largest->receiving == 0) return;
  ++overBudget;
  const std::string why = "frames being received exceed canal.net.receive.budget (" +
                          std::to_string(receiveBudget.load()) + " bytes); this connection's is the largest (" +
                          std::to_string(largest->receiving.load()) + " bytes)";
  log->warn("session from {}: {}", largest->address, why);
  // The session calling is on its own strand: it closes at once; another on its strand.
  if (largest->strand.running_in_this_thread()) return largest->close(why);
  asio::dispatch(largest->strand, [largest, why] { largest->close(why); });
}

CanalServer::CanalServer(ServerOptions options, DestinationLookup destinations)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(destinations))) {}

CanalServer::~CanalServer() { stop(); }

Status CanalServer::listen() {
  if (impl_->acceptor.is_open()) return Status::ok();
  boost::system::error_code ec;
  const auto address = impl_->options.ip.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                                 : asio::ip::make_address(impl_->options.ip, ec);
  if (ec) return Status::invalidArgument("canal.ip " + impl_->options.ip + ": " + ec.message());
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->options.port));
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    return Status::unavailable("cannot listen on " + (impl_->options.ip.empty() ? "*" : impl_->options.ip) + ":" +
                               std::to_string(impl_->options.port) + ": " + ec.message());
  }
  return Status::ok();
}

Status CanalServer::start() {
  if (!impl_->threads.empty()) return Status::ok();
  CANAL_RETURN_IF_ERROR(listen());
  impl_->work.emplace(impl_->io.get_executor());
  asio::post(impl_->acceptStrand, [this] { impl_->accept(); });
  for (int i = 0; i < std::max(1, impl_->options.ioThreads); ++i) {
    impl_->threads.emplace_back([this] {
      nameThisThread("canal-net");
      impl_->io.run();
    });
  }
  impl_->log->info("serving the Canal protocol on port {}", port());
  return Status::ok();
}

void CanalServer::stop() {
  if (impl_->threads.empty()) {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    return;
  }
  asio::post(impl_->acceptStrand, [this] {
    impl_->stopping = true;
    impl_->acceptBackoff.cancel();
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    std::set<std::shared_ptr<Impl::Session>> sessions;
    {
      std::lock_guard<std::mutex> lock(impl_->mutex);
      sessions = impl_->sessions;
    }
    for (const auto& s : sessions) asio::post(s->strand, [s] { s->close(""); });
  });
  impl_->work.reset();
  // Sessions close on their strands; whatever is still pending after that is dropped.
  {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    impl_->sessionsGone.wait_for(lock, std::chrono::seconds(2), [this] { return impl_->sessions.empty(); });
  }
  {
    // Calls under way finish; their replies are dropped with the sessions.
    std::lock_guard<std::mutex> lock(impl_->lanesMutex);
    for (auto& [name, lane] : impl_->lanes) lane->join();
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  std::lock_guard<std::mutex> lock(impl_->lanesMutex);
  impl_->lanes.clear();
}

int CanalServer::port() const {
  boost::system::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

std::size_t CanalServer::sessions() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->sessions.size();
}

std::uint64_t CanalServer::refusedConnections() const { return impl_->refused; }

std::uint64_t CanalServer::acceptFailures() const { return impl_->acceptFailed; }

std::size_t CanalServer::heldBackSessions() const { return impl_->heldBack; }

void CanalServer::apply(const RuntimeOptions& runtime) {
  {
    std::lock_guard<std::mutex> lock(impl_->credentialsMutex);
    impl_->options.user = runtime.user;
    impl_->options.passwordHash = runtime.passwordHash;
  }
  impl_->authTimeoutMs = runtime.authTimeout.count();
  impl_->maxConnections = runtime.maxConnections;
  impl_->maxUnauthenticated = runtime.maxUnauthenticated;
  impl_->receiveBudget = runtime.receiveBudget;
}
std::size_t CanalServer::receivingBytes() const { return impl_->receiving; }
std::uint64_t CanalServer::overBudgetCloses() const { return impl_->overBudget; }
std::uint64_t CanalServer::unauthenticatedEvictions() const { return impl_->evicted; }

}  // namespace canal::net
