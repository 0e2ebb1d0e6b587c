// SimpleConnector: one TCP connection to one Canal server, blocking I/O with poll() deadlines.

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>

#include "batch_sequence.h"
#include "canal/client/canal_connector.h"
#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/frame_codec.h"
#include "canal/protocol/password_scramble.h"
#include "message_storage.h"
#include "wire_reader.h"

namespace canal::client {
namespace pb = canal::protocol::packet;

namespace {

using Clock = std::chrono::steady_clock;

class SimpleConnector final : public CanalConnector {
 public:
  SimpleConnector(std::string host, int port, std::string destination, std::string user, std::string password,
                  ConnectorOptions options)
      : host_(std::move(host)),
        port_(port),
        destination_(std::move(destination)),
        user_(std::move(user)),
        password_(std::move(password)),
        options_(options),
        clientId_(std::to_string(options.clientId)) {}
  ~SimpleConnector() override { disconnect(); }

  Status connect() override {
    disconnect();
    if (Status s = open(); !s) return s;
    if (Status s = authenticate(); !s) {
      disconnect();
      return s;
    }
    return Status::ok();
  }

  void disconnect() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    rolledBack_ = false;
    unconfirmed_ = false;
    pending_.clear();
    ready_.clear();
    sequence_.reset();
  }

  bool checkValid() const override { return fd_ >= 0; }

  Status subscribe(const std::string& filter) override {
    Status s = retrying([&] {
      Status dropped = dropPrefetched();
      return dropped ? subscribeOnce(filter) : dropped;
    });
    if (s) {
      subscribed_ = true;
      if (!filter.empty()) filter_ = filter;
    }
    // Like Canal's client (rollbackOnConnect), batches an earlier session of this client id
    // left unacked come again; done after the subscription, which a rollback needs to act.
    if (s && !rolledBack_) {
      s = rollback(0);
      rolledBack_ = s.isOk();
    }
    return s;
  }

  Status unsubscribe() override {
    pb::Unsub u;
    u.set_destination(destination_);
    u.set_client_id(clientId_);
    Status s = dropPrefetched();
    if (s) s = request(pb::UNSUBSCRIPTION, u);
    if (s) s = expectAck();
    if (s) {
      subscribed_ = false;
      sequence_.reset();  // a new subscription numbers its batches anew
    }
    return s;
  }

  Result<Message> getWithoutAck(int batchSize, std::optional<std::chrono::milliseconds> timeout) override {
    std::optional<Message> got;
    Status s = retrying([&]() -> Status {
      auto m = getOnce(batchSize, timeout);
      if (!m) return m.status();
      got = std::move(*m);
      return Status::ok();
    });
    if (!s) return s;
    return std::move(*got);
  }

  Status ack(std::int64_t batchId) override {
    if (batchId == -1) return Status::ok();  // the empty batch: nothing to confirm
    pb::ClientAck a;
    a.set_destination(destination_);
    a.set_client_id(clientId_);
    a.set_batch_id(batchId);
    Status s;
    if (getsInFlight() > 0 && !options_.confirmAcks) {
      // Its outcome comes before the next GET reply: an error there is reported then.
      s = request(pb::CLIENTACK, a);
      if (s) pending_.push_back({false, {}});
    } else {
      // The replies of the GETs in flight come first: read ahead, then the ack's own outcome.
      s = readAhead();
      if (s) s = silentRequest(pb::CLIENTACK, a, options_.confirmAcks);
    }
    if (s) sequence_.acked(batchId);
    return s;
  }

  Status rollback(std::int64_t batchId) override {
    pb::ClientRollback r;
    r.set_destination(destination_);
    r.set_client_id(clientId_);
    if (batchId != 0) r.set_batch_id(batchId);
    // The prefetched batches are unacked: the rollback gives them back too.
    Status s = dropPrefetched();
    if (s) s = silentRequest(pb::CLIENTROLLBACK, r, true);  // rare: always confirmed
    if (s) sequence_.rolledBack();
    return s;
  }

  Status rollback() override { return rollback(0); }

 private:
  static bool lost(const Status& s) { return s.code() == Status::kNetwork || s.code() == Status::kTimeout; }

  // Runs `call`; when the connection is lost (or was never opened), reconnects with backoff,
  // rolls back and subscribes again as before, then runs it again.
  template <typename Call>
  Status retrying(Call&& call) {
    Status s = fd_ >= 0 ? call() : Status(Status::kNotConnected, "not connected");
    auto wait = options_.retryInterval;
    for (int attempt = 0; attempt < options_.retries && (lost(s) || s.code() == Status::kNotConnected); ++attempt) {
      if (attempt > 0 || s.code() != Status::kNotConnected) {
        std::this_thread::sleep_for(wait);
        wait *= 2;
      }
      Status r = connect();
      if (r && subscribed_) r = rollbackAndResubscribe();
      if (!r) {
        s = r;
        continue;
      }
      s = call();
    }
    return s;
  }

  Status rollbackAndResubscribe() {
    pb::ClientRollback r;
    r.set_destination(destination_);
    r.set_client_id(clientId_);
    if (Status s = request(pb::CLIENTROLLBACK, r); !s) return s;
    Status s = subscribeOnce(filter_);
    rolledBack_ = s.isOk();
    return s;
  }

  Status subscribeOnce(const std::string& filter) {
    pb::Sub sub;
    sub.set_destination(destination_);
    sub.set_client_id(clientId_);
    if (!filter.empty()) sub.set_filter(filter);
    if (Status s = request(pb::SUBSCRIPTION, sub); !s) return s;
    return expectAck();
  }

  Result<Message> getOnce(int batchSize, std::optional<std::chrono::milliseconds> timeout) {
    pb::Get g;
    g.set_destination(destination_);
    g.set_client_id(clientId_);
    g.set_fetch_size(batchSize <= 0 ? 1000 : batchSize);
    g.set_timeout(timeout ? timeout->count() : -1);
    g.set_unit(2);  // milliseconds
    g.set_auto_ack(false);
    // This call's GET and `prefetch` more, so the server prepares the next batches and they
    // travel while the application handles this one.
    while (getsInFlight() + ready_.size() < 1 + static_cast<std::size_t>(std::max(0, options_.prefetch))) {
      if (Status s = request(pb::GET, g); !s) return s;
      pending_.push_back({true, timeout ? *timeout + options_.soTimeout : options_.soTimeout});
    }
    auto batch = [&]() -> Result<Message> {
      if (ready_.empty()) return nextBatch();
      Result<Message> read = std::move(ready_.front());  // read ahead by an ack
      ready_.pop_front();
      return read;
    }();
    if (!batch) return batch.status();
    if (options_.checkSequence) {
      if (Status s = sequence_.check(batch->id(), batch->rawEntries()); !s) return giveBack(std::move(s));
    }
    return batch;
  }

  // The reply to the oldest GET in flight. The acks sent before it had no reply if it is a
  // batch; an error before it may be theirs or the GET's, so the connection is dropped (the
  // next call reconnects and rolls back).
  Result<Message> nextBatch() {
    bool acksBefore = unconfirmed_;
    while (!pending_.empty() && !pending_.front().get) {
      pending_.pop_front();
      acksBefore = true;
    }
    if (pending_.empty()) return broken("no GET in flight");
    if (Status s = readFrame(pending_.front().wait); !s) return s;
    pending_.pop_front();
    if (auto batch = messagesIn(payload_, pool_.get())) {
      unconfirmed_ = false;
      return std::move(*batch);
    }
    pb::Packet packet;
    if (!packet.ParseFromString(payload_)) return broken("a frame that is not a Packet");
    if (packet.type() == pb::ACK) {
      unconfirmed_ = unconfirmed_ || acksBefore;
      return ackStatus(packet);
    }
    if (packet.type() == pb::MESSAGES) return broken("the MESSAGES reply does not parse");
    return outOfStep("a MESSAGES reply", packet);
  }

  // Reads the replies of the GETs in flight into ready_ (each as long as its GET waits), so the
  // next request's reply is the next thing to read. Acks sent after the last of them stay
  // unconfirmed: their outcome comes with that reply.
  Status readAhead() {
    while (getsInFlight() > 0) {
      ready_.push_back(nextBatch());
      if (fd_ < 0) return ready_.back().status();  // the connection is gone
    }
    if (!pending_.empty()) unconfirmed_ = true;
    pending_.clear();
    return Status::ok();
  }

  // Reads the replies of the GETs in flight and drops them with those read ahead: unacked, they
  // come again after the rollback (or new subscription) that follows.
  Status dropPrefetched() {
    const Status s = readAhead();
    ready_.clear();
    return s;
  }

  // The batch in a MESSAGES packet, read in place: each entry is copied once, into storage from
  // the pool. nullopt for another packet type or a malformed one.
  static std::optional<Message> messagesIn(const std::string& payload, MessagePool* pool) {
    using Field = detail::WireReader::Field;
    std::uint64_t type = 0;
    std::string_view body;
    if (!detail::forEachField(payload,
                              [&](const Field& f) {
                                if (f.number == 3 && f.type == 0) type = f.varint;
                                if (f.number == 5 && f.type == 2) body = f.bytes;
                                return true;
                              }) ||
        type != pb::MESSAGES) {
      return std::nullopt;
    }
    std::int64_t id = 0;
    auto storage = pool->take();
    storage->reset();
    if (!detail::forEachField(body, [&](const Field& f) {
          if (f.number == 1 && f.type == 0) id = static_cast<std::int64_t>(f.varint);
          if (f.number == 2 && f.type == 2) storage->add(f.bytes);
          return true;
        })) {
      return std::nullopt;
    }
    storage->finish();
    return messageIn(id, std::move(storage));
  }

  // CLIENTACK / CLIENTROLLBACK: no reply on success. `confirm`: wait for the outcome (a no-op
  // request behind it has a reply either way).
  Status silentRequest(pb::PacketType type, const google::protobuf::Message& body, bool confirm) {
    if (fd_ < 0) return Status(Status::kNotConnected, "not connected");
    if (Status s = request(type, body); !s) return s;
    if (!confirm) {
      unconfirmed_ = true;
      return Status::ok();
    }
    // A subscribe without filter changes nothing and always has a reply: an error before that
    // reply is this request's.
    pb::Sub probe;
    probe.set_destination(destination_);
    probe.set_client_id(clientId_);
    if (Status s = request(pb::SUBSCRIPTION, probe); !s) return s;
    auto first = readPacket(options_.soTimeout);
    if (!first) return first.status();
    if (first->type() != pb::ACK) return outOfStep("an ACK reply", *first);
    Status s = ackStatus(*first);
    if (s) return s;
    // The probe's reply follows, unless the server closed the connection after the error (an
    // ack it could not record): the error is the answer either way, the next call reconnects.
    auto second = readPacket(options_.soTimeout);
    if (second && second->type() != pb::ACK) return outOfStep("an ACK reply", *second);
    return s;
  }

  Status expectAck() {
    auto packet = readPacket(options_.soTimeout);
    if (!packet) return packet.status();
    if (packet->type() != pb::ACK) return outOfStep("an ACK reply", *packet);
    return ackStatus(*packet);
  }

  // The Status an ACK packet carries. An error while an unconfirmed ack is outstanding may be
  // that ack's: the replies can no longer be matched to requests, so the connection is
  // dropped (the next call reconnects and rolls back).
  Status ackStatus(const pb::Packet& packet) {
    pb::Ack a;
    if (!a.ParseFromString(packet.body())) return broken("an ACK reply does not parse");
    if (a.error_code() == 0) {
      unconfirmed_ = false;
      return Status::ok();
    }
    Status s(a.error_code(), a.error_message());
    if (unconfirmed_) {
      disconnect();
      return Status(a.error_code(), a.error_message() + " (after an unconfirmed ack; reconnecting)");
    }
    return s;
  }

  // A batch out of sequence is not handed to the application: everything unacked is given back,
  // so the server delivers again from the last ack.
  Status giveBack(Status why) {
    const Status r = rollback(0);
    if (!r) return Status(why.code(), why.message() + "; the rollback that follows failed: " + r.toString());
    return Status(why.code(), why.message() + "; rolled back");
  }

  Status outOfStep(const std::string& wanted, const pb::Packet& got) {
    return broken("expected " + wanted + ", got packet type " + std::to_string(static_cast<int>(got.type())));
  }

  Status broken(const std::string& what) {
    disconnect();
    return Status(Status::kProtocol, "canal server " + host_ + ":" + std::to_string(port_) + ": " + what);
  }

  Status open() {
    if (host_.empty() || port_ <= 0 || port_ > 65535) {
      return Status(Status::kInvalidArgument, "canal server address " + host_ + ":" + std::to_string(port_) +
                                                  " is not host:port");
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(port_);
    if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &found); rc != 0) {
      return Status(Status::kNetwork, "cannot resolve " + host_ + ": " + gai_strerror(rc));
    }
    std::string error = "no address";
    for (addrinfo* a = found; a && fd_ < 0; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
      // A batch is up to a few MB: a receive window that holds it whole lets the server write
      // it in one go instead of waiting for this side to drain the window several times.
      int window = 4 << 20;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof window);
      int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        rc = ::poll(&p, 1, static_cast<int>(options_.connectTimeout.count()));
        int err = 0;
        socklen_t len = sizeof err;
        if (rc == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
          rc = 0;
        } else {
          errno = rc == 0 ? ETIMEDOUT : err;
          rc = -1;
        }
      }
      if (rc != 0) {
        error = std::strerror(errno);
        ::close(fd);
        continue;
      }
      ::fcntl(fd, F_SETFL, 0);
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fd_ = fd;
    }
    ::freeaddrinfo(found);
    if (fd_ < 0) return Status(Status::kNetwork, "cannot connect to " + host_ + ":" + port + ": " + error);
    return Status::ok();
  }

  Status authenticate() {
    auto hello = readPacket(options_.soTimeout);
    if (!hello) return hello.status();
    if (hello->type() != pb::HANDSHAKE) return outOfStep("the HANDSHAKE", *hello);
    pb::Handshake hs;
    if (!hs.ParseFromString(hello->body())) return broken("the HANDSHAKE does not parse");
    pb::ClientAuth auth;
    auth.set_username(user_);
    if (!password_.empty()) auth.set_password(canal::protocol::scramblePassword(password_, hs.seeds()));
    auth.set_net_read_timeout(static_cast<std::int32_t>(options_.idleTimeout.count()));
    auth.set_net_write_timeout(static_cast<std::int32_t>(options_.idleTimeout.count()));
    if (Status s = request(pb::CLIENTAUTHENTICATION, auth); !s) return s;
    return expectAck();
  }

  Status request(pb::PacketType type, const google::protobuf::Message& body) {
    if (fd_ < 0) return Status(Status::kNotConnected, "not connected");
    pb::Packet p;
    p.set_type(type);
    p.set_body(body.SerializeAsString());
    const std::string frame = canal::protocol::encodeFrame(p.SerializeAsString());
    std::size_t sent = 0;
    while (sent < frame.size()) {
      const ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return lostConnection(std::strerror(errno));
      sent += static_cast<std::size_t>(n);
    }
    return Status::ok();
  }

  // The next frame's payload into payload_, whose buffer is kept from frame to frame.
  Status readFrame(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string header;
    if (Status s = readExactly(header, canal::protocol::kFrameHeaderSize, deadline); !s) return s;
    const auto length = canal::protocol::decodeFrameLength(reinterpret_cast<const unsigned char*>(header.data()));
    if (!length.ok()) return broken("bad frame: " + length.error);
    return readExactly(payload_, length.length, deadline);
  }

  Result<pb::Packet> readPacket(std::chrono::milliseconds timeout) {
    if (Status s = readFrame(timeout); !s) return s;
    pb::Packet p;
    if (!p.ParseFromString(payload_)) return broken("a frame that is not a Packet");
    return p;
  }

  Status readExactly(std::string& out, std::size_t n, Clock::time_point deadline) {
    out.resize(n);
    std::size_t got = 0;
    while (got < n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      const int rc = left > 0 ? ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30))) : 0;
      if (rc < 0 && errno == EINTR) continue;
      if (rc == 0) {
        disconnect();
        return Status(Status::kTimeout, "no reply from canal server " + host_ + ":" + std::to_string(port_) +
                                            " within " + std::to_string(left > 0 ? left : 0) + " ms");
      }
      const ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return lostConnection("closed by the server");
      if (r < 0) return lostConnection(std::strerror(errno));
      got += static_cast<std::size_t>(r);
    }
    return Status::ok();
  }

  Status lostConnection(const std::string& why) {
    disconnect();
    return Status(Status::kNetwork, "connection to canal server " + host_ + ":" + std::to_string(port_) + " lost: " + why);
  }

  const std::string host_;
  const int port_;
  const std::string destination_;
  const std::string user_;
  const std::string password_;
  const ConnectorOptions options_;
  const std::string clientId_;
  int fd_ = -1;
  bool subscribed_ = false;
  std::string filter_;
  bool unconfirmed_ = false;  // an ack/rollback was sent whose outcome is not known yet
  // Requests sent whose replies are not read yet, in order: GETs (with how long to wait for
  // the reply) and acks (a reply only when they fail).
  struct Pending {
    bool get;
    std::chrono::milliseconds wait;
  };
  std::deque<Pending> pending_;
  std::size_t getsInFlight() const {
    return static_cast<std::size_t>(std::count_if(pending_.begin(), pending_.end(), [](const Pending& p) { return p.get; }));
  }
  std::deque<Result<Message>> ready_;  // replies read ahead of the call they are for
  // Batches' storage, recycled: the application's batch, those read ahead and one being read.
  const std::shared_ptr<MessagePool> pool_ =
      MessagePool::create(2 + static_cast<std::size_t>(std::max(0, options_.prefetch)));
  bool rolledBack_ = false;   // this connection has given back what earlier ones left unacked
  std::string payload_;       // the last frame read
  BatchSequence sequence_;    // what this connection handed out
};

}  // namespace

std::unique_ptr<CanalConnector> newSingleConnector(const std::string& address, const std::string& destination,
                                                   const std::string& user, const std::string& password,
                                                   ConnectorOptions options) {
  // host:port, [v6]:port, or a bare host (port 11111).
  std::string host = address;
  int port = 11111;
  std::string portText;
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    host = address.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < address.size() && address[close + 1] == ':') {
      portText = address.substr(close + 2);
    }
  } else if (const auto colon = address.rfind(':'); colon != std::string::npos) {
    host = address.substr(0, colon);
    portText = address.substr(colon + 1);
  }
  if (!portText.empty()) port = std::atoi(portText.c_str());
  return std::make_unique<SimpleConnector>(host, port, destination, user, password, options);
}

}  // namespace canal::client
