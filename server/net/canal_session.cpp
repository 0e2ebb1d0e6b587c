#include "server/net/canal_session.h"

#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <map>
#include <optional>

#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/frame_codec.h"
#include "canal/protocol/password_scramble.h"
#include "server/common/byte_writer.h"

namespace canal::net {
namespace {

namespace pb = canal::protocol::packet;

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

class CanalSession final : public Connection {
 public:
  CanalSession(ServerCore& s, tcp::socket socket) : Connection(s, std::move(socket)), waitTimer(strand) {}

 private:
  std::shared_ptr<CanalSession> self() { return std::static_pointer_cast<CanalSession>(shared_from_this()); }

  // The handshake with this connection's seed, then the first read. The seed holds from now on:
  // a client can only answer it once it has read this frame, so a ClientAuth read after it was
  // queued is checked against it.
  void onStart() override {
    seed.resize(8);
    RAND_bytes(reinterpret_cast<unsigned char*>(seed.data()), 8);
    pb::Handshake hs;
    hs.set_seeds(seed);
    send(packet(pb::HANDSHAKE, hs.SerializeAsString()));
    armAuthDeadline();
    readHeader();
  }

  void onClose() override {
    waitTimer.cancel();
    stopWaiting();
  }

  // Canal's error text, naming the file or node behind a server-side failure when there is one.
  std::string failure(const Status& s) const {
    return "something goes wrong with channel:" + channel() +
           ", exception=com.alibaba.otter.canal.server.exception.CanalServerException: " +
           (s.where().empty() ? s.message() : s.where() + ": " + s.message());
  }

  // False when the next frame must not be read yet (a waiting GET) or the session closed.
  bool onFrame(std::string_view bytes) override {
    pb::Packet p;
    if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      close("unparsable packet");
      return false;
    }
    if (!authenticated()) return authenticate(p);
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
    if (closed() || waitingGet) return;
    if (heldRequest) {
      if (heldBack(*heldRequest)) return;  // the acks' completion resumes
      const pb::Packet held = std::move(*heldRequest);
      heldRequest.reset();
      if (dispatch(held)) readNext();
      return;
    }
    if (!reading() && !readPaused()) readNext();
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
        server.log->warn("session {}: auth failed for user:{}{}{}", peer(), auth.username(),
                         last ? ", closed after " + std::to_string(failedAuths) + " failures" : "",
                         *repeats ? " (and " + std::to_string(*repeats) + " more failures since last logged)" : "");
      }
      if (credentials && o.throttle && !throttled) o.throttle->failed(address);
      const std::string reply = "auth failed for user:" + auth.username() +
                                (throttled ? " (too many failed authentications from " + address + "; try again later)" : "");
      waitTimer.expires_after(server.authFailureDelay(address));
      waitTimer.async_wait(asio::bind_executor(
          strand, [self = self(), last, reply](boost::system::error_code waitEc) {
            if (waitEc || self->closed()) return;
            self->send(ackFrame(400, reply), [self, last] {
              if (last) return self->close("");
              self->readNext();
            });
          }));
      return false;
    }
    if (!auth.destination().empty() && !auth.client_id().empty()) {
      const auto id = parseShort(auth.client_id());
      std::shared_ptr<instance::ClientSessions> d = server.destinations(auth.destination());
      if (!id || !d || !d->subscribe(*id, auth.filter()).isOk()) {
        close("implicit subscribe of " + auth.destination() + "/" + auth.client_id() + " failed");
        return false;
      }
    }
    const auto idle = [](bool given, std::int32_t ms) { return std::chrono::milliseconds(given && ms > 0 ? ms : 0); };
    loggedIn(ackFrame(), idle(auth.has_net_read_timeout(), auth.net_read_timeout()),
             idle(auth.has_net_write_timeout(), auth.net_write_timeout()));
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
    if (d) d->recordRequest(pb::PacketType_Name(type), Clock::now() - requestStart(), bytes, errorCode, emptyBatch);
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
    asio::post(lane, [self = self(), d = std::move(d), type, work = std::move(work), replyOnSuccess] {
      const Status s = work();
      asio::post(self->strand, [self, d, type, s, replyOnSuccess] {
        if (self->closed()) return;
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
    asio::post(server.lane(next.destination->name()), [self = self(), next] {
      const Status s = next.destination->commitAcks(next.clientId);
      asio::post(self->strand, [self, next, s] {
        self->ackInFlight = false;
        if (self->closed()) return;
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
    if (waitingGet && !reading()) readHeader();
    return false;
  }

  // Answers the get when the store has enough, the deadline passed or the destination stopped.
  // Until then the session waits without a thread: the store wakes it when a put makes the
  // batch enough, and the timer at the deadline. `waitSerial` makes a wake-up that lost the race
  // a no-op.
  void pollGet(const std::shared_ptr<instance::ClientSessions>& d, std::int16_t id, std::int64_t fetchSize, Clock::time_point deadline) {
    if (closed()) return;
    const std::uint64_t serial = ++waitSerial;
    const auto again = [weak = std::weak_ptr<CanalSession>(self()), dest = std::weak_ptr<instance::ClientSessions>(d), id, fetchSize, deadline,
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

  std::string seed;
  int failedAuths = 0;
  asio::steady_timer waitTimer;
  // Acks set aside and not written yet, by destination and client.
  struct AcksToWrite {
    std::shared_ptr<instance::ClientSessions> destination;
    std::int16_t clientId;
  };
  std::deque<AcksToWrite> acksToWrite;
  bool ackInFlight = false;  // acks are written on the destination's lane
  bool waitingGet = false;   // a GET waits for entries
  // Read while a GET waited or acks were written, handled once they are done.
  std::optional<pb::Packet> heldRequest;
  // The epoch each client's last rollback of everything on this connection returned: a get of
  // a client that rolled back on a newer connection since is refused (see getWithoutAck).
  std::map<std::pair<std::string, std::int16_t>, std::uint64_t> epochs;
  std::uint64_t waitSerial = 0;                          // of the get waiting for entries
  std::shared_ptr<instance::ClientSessions> waitingOn;  // its destination, while it waits
};

}  // namespace

std::shared_ptr<Connection> makeCanalSession(ServerCore& server, tcp::socket socket) {
  return std::make_shared<CanalSession>(server, std::move(socket));
}

}  // namespace canal::net
