// The SDK against a scripted fake server that answers with malformed or out-of-step replies:
// every case is an error Status naming what was wrong, never a crash or a hang.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "canal/client/canal_connector.h"
#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/entry_protocol.pb.h"
#include "canal/protocol/frame_codec.h"

namespace canal::client {
namespace {

namespace pb = canal::protocol::packet;
using namespace std::chrono_literals;

// Accepts one connection and runs `script` on its socket.
class FakeServer {
 public:
  explicit FakeServer(std::function<void(int)> script) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listen_, 1), 0);
    socklen_t len = sizeof a;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, script = std::move(script)] {
      const int fd = ::accept(listen_, nullptr, nullptr);
      if (fd < 0) return;
      script(fd);
      ::close(fd);
    });
  }
  ~FakeServer() {
    ::shutdown(listen_, SHUT_RDWR);
    ::close(listen_);
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int listen_ = -1;
  int port_ = 0;
  std::thread thread_;
};

void sendRaw(int fd, const std::string& bytes) { ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size())); }

void sendPacket(int fd, pb::PacketType type, const std::string& body) {
  pb::Packet p;
  p.set_type(type);
  p.set_body(body);
  sendRaw(fd, canal::protocol::encodeFrame(p.SerializeAsString()));
}

// Reads one frame from the client (its request); empty when the client went away.
std::string readFrame(int fd) {
  unsigned char header[4];
  std::size_t got = 0;
  while (got < 4) {
    const ssize_t r = ::recv(fd, header + got, 4 - got, 0);
    if (r <= 0) return "";
    got += static_cast<std::size_t>(r);
  }
  std::string payload((header[0] << 24) | (header[1] << 16) | (header[2] << 8) | header[3], '\0');
  got = 0;
  while (got < payload.size()) {
    const ssize_t r = ::recv(fd, payload.data() + got, payload.size() - got, 0);
    if (r <= 0) return "";
    got += static_cast<std::size_t>(r);
  }
  return payload;
}

void handshake(int fd) {
  pb::Handshake h;
  h.set_seeds("12345678");
  sendPacket(fd, pb::HANDSHAKE, h.SerializeAsString());
}

// Handshake, auth accepted, subscription accepted, then the client's rollback on connect and
// the subscription that confirms it; then `rest`.
std::function<void(int)> session(std::function<void(int)> rest) {
  return [rest = std::move(rest)](int fd) {
    handshake(fd);
    if (readFrame(fd).empty()) return;
    sendPacket(fd, pb::ACK, "");
    if (readFrame(fd).empty()) return;  // SUBSCRIPTION
    sendPacket(fd, pb::ACK, "");
    pb::Packet rollback;
    if (!rollback.ParseFromString(readFrame(fd)) || rollback.type() != pb::CLIENTROLLBACK) return;
    if (readFrame(fd).empty()) return;  // the confirming SUBSCRIPTION
    sendPacket(fd, pb::ACK, "");
    rest(fd);
  };
}

// Scripts answer one request at a time: Canal's strict sequence, no GET ahead.
ConnectorOptions quick() {
  ConnectorOptions o;
  o.prefetch = 0;
  o.retries = 0;
  o.soTimeout = 2s;
  o.connectTimeout = 2s;
  return o;
}

Status connectTo(const FakeServer& s) { return newSingleConnector(s.address(), "example", "", "", quick())->connect(); }

// A connector to `s` that connected and subscribed (null when either failed, with the failure
// reported).
std::unique_ptr<CanalConnector> subscribedTo(const FakeServer& s) {
  auto c = newSingleConnector(s.address(), "example", "", "", quick());
  const Status connected = c->connect();
  EXPECT_TRUE(connected.isOk()) << connected.toString();
  if (!connected.isOk()) return nullptr;
  const Status subscribed = c->subscribe();
  EXPECT_TRUE(subscribed.isOk()) << subscribed.toString();
  return subscribed.isOk() ? std::move(c) : nullptr;
}

TEST(FakeServer, AHandshakeThatIsNotAPacketIsAProtocolError) {
  FakeServer s([](int fd) { sendRaw(fd, canal::protocol::encodeFrame("\xff\xff\xff garbage")); readFrame(fd); });
  const Status st = connectTo(s);
  EXPECT_EQ(st.code(), Status::kProtocol) << st.toString();
}

TEST(FakeServer, AHandshakeBodyThatDoesNotParse) {
  FakeServer s([](int fd) { sendPacket(fd, pb::HANDSHAKE, "\x0a\xff"); readFrame(fd); });
  const Status st = connectTo(s);
  EXPECT_EQ(st.code(), Status::kProtocol) << st.toString();
  EXPECT_NE(st.message().find("HANDSHAKE"), std::string::npos) << st.toString();
}

TEST(FakeServer, TheWrongPacketTypeInsteadOfTheHandshake) {
  FakeServer s([](int fd) { sendPacket(fd, pb::MESSAGES, ""); readFrame(fd); });
  const Status st = connectTo(s);
  EXPECT_EQ(st.code(), Status::kProtocol) << st.toString();
}

TEST(FakeServer, AHugeFrameLengthIsRefusedWithoutAllocatingIt) {
  FakeServer s([](int fd) { sendRaw(fd, std::string("\x7f\xff\xff\xff", 4)); readFrame(fd); });
  const Status st = connectTo(s);
  EXPECT_EQ(st.code(), Status::kProtocol) << st.toString();
}

TEST(FakeServer, AServerThatClosesMidFrame) {
  FakeServer s([](int fd) { sendRaw(fd, std::string("\x00\x00\x00\x40\x08\x01", 6)); });
  const Status st = connectTo(s);
  EXPECT_EQ(st.code(), Status::kNetwork) << st.toString();
}

TEST(FakeServer, ASilentServerTimesOut) {
  FakeServer s([](int fd) { readFrame(fd); });
  auto o = quick();
  o.soTimeout = 300ms;
  const Status st = newSingleConnector(s.address(), "example", "", "", o)->connect();
  EXPECT_EQ(st.code(), Status::kTimeout) << st.toString();
}

TEST(FakeServer, AnAuthErrorAckCarriesTheServersCodeAndText) {
  FakeServer s([](int fd) {
    handshake(fd);
    readFrame(fd);
    pb::Ack a;
    a.set_error_code(400);
    a.set_error_message("auth failed for user:x");
    sendPacket(fd, pb::ACK, a.SerializeAsString());
    readFrame(fd);
  });
  const Status st = connectTo(s);
  EXPECT_EQ(st.code(), 400);
  EXPECT_EQ(st.message(), "auth failed for user:x");
}

TEST(FakeServer, MalformedMessagesAndEntries) {
  FakeServer s(session([](int fd) {
    // 1: a MESSAGES body that does not parse.
    if (readFrame(fd).empty()) return;
    sendPacket(fd, pb::MESSAGES, "\x08");
  }));
  auto c = subscribedTo(s);
  ASSERT_TRUE(c);
  auto m = c->getWithoutAck(10, 100ms);
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), Status::kProtocol) << m.status().toString();
  EXPECT_FALSE(c->checkValid()) << "the stream is out of step: the connection is dropped";
}

TEST(FakeServer, EntriesThatDoNotParseAreCountedNotFatal) {
  FakeServer s(session([](int fd) {
    if (readFrame(fd).empty()) return;
    pb::Messages m;
    m.set_batch_id(7);
    m.add_messages("\x0a\xff\xff");  // not an Entry
    m.add_messages("");               // an empty Entry parses
    sendPacket(fd, pb::MESSAGES, m.SerializeAsString());
    readFrame(fd);
  }));
  auto c = subscribedTo(s);
  ASSERT_TRUE(c);
  auto m = c->getWithoutAck(10, 100ms);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(m->id(), 7);
  EXPECT_EQ(m->entries().size(), 2u);
  EXPECT_EQ(m->unparsedEntries(), 1u);
}

// Protobuf skips an unknown group (wire types 3 and 4) whole; so does the connector's reader of
// MESSAGES packets, and it refuses a group's end without its start, as protobuf does.
TEST(FakeServer, UnknownGroupsInAMessagesPacketAreSkippedAsProtobufSkipsThem) {
  const std::string group = "\xcb\x06\x08\x01\xd3\x06\xd4\x06\xcc\x06";  // field 105: {1: 1, 106: {}}
  FakeServer s(session([&](int fd) {
    if (readFrame(fd).empty()) return;
    pb::Messages m;
    m.set_batch_id(7);
    m.add_messages("");
    sendPacket(fd, pb::MESSAGES, m.SerializeAsString() + group);
    if (readFrame(fd).empty()) return;
    sendPacket(fd, pb::MESSAGES, m.SerializeAsString() + "\xcc\x06");  // an end without its start
    readFrame(fd);
  }));
  pb::Messages parsed;
  pb::Messages damaged;
  ASSERT_TRUE(parsed.ParseFromString(parsed.SerializeAsString() + group)) << "protobuf reads the group";
  ASSERT_FALSE(damaged.ParseFromString(std::string("\xcc\x06"))) << "and refuses a lone end";
  auto c = subscribedTo(s);
  ASSERT_TRUE(c);
  auto m = c->getWithoutAck(10, 100ms);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(m->id(), 7);
  EXPECT_EQ(m->entries().size(), 1u);
  auto refused = c->getWithoutAck(10, 100ms);
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.status().code(), Status::kProtocol) << refused.status().toString();
}

TEST(FakeServer, AnAckWhereMessagesWereExpectedIsTheServersError) {
  FakeServer s(session([](int fd) {
    if (readFrame(fd).empty()) return;
    pb::Ack a;
    a.set_error_code(400);
    a.set_error_message("something went wrong");
    sendPacket(fd, pb::ACK, a.SerializeAsString());
    if (readFrame(fd).empty()) return;
    sendPacket(fd, pb::HANDSHAKE, "");  // out of step
  }));
  auto c = subscribedTo(s);
  ASSERT_TRUE(c);
  auto m = c->getWithoutAck(10, 100ms);
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), 400);
  EXPECT_TRUE(c->checkValid()) << "a server error leaves the connection usable";
  auto again = c->getWithoutAck(10, 100ms);
  ASSERT_FALSE(again.isOk());
  EXPECT_EQ(again.status().code(), Status::kProtocol) << again.status().toString();
}

std::string rowsAt(const std::string& file, std::int64_t offset) {
  canal::protocol::entry::Entry e;
  e.mutable_header()->set_logfilename(file);
  e.mutable_header()->set_logfileoffset(offset);
  e.mutable_header()->set_serverid(1);
  e.set_entrytype(canal::protocol::entry::ROWDATA);
  return e.SerializeAsString();
}

void sendBatch(int fd, std::int64_t id, std::int64_t from, std::int64_t to) {
  pb::Messages m;
  m.set_batch_id(id);
  m.add_messages(rowsAt("mysql-bin.000001", from));
  m.add_messages(rowsAt("mysql-bin.000001", to));
  sendPacket(fd, pb::MESSAGES, m.SerializeAsString());
}

// The type of the client's next request; -1 when it went away.
int nextRequest(int fd) {
  pb::Packet p;
  const std::string frame = readFrame(fd);
  if (frame.empty() || !p.ParseFromString(frame)) return -1;
  return p.type();
}

// A server that, after a rollback, skips the batch given back (it was handed to a connection
// that is gone): the SDK does not return that batch, gives everything back, and returns the
// redelivery that starts where the rolled-back batch did.
TEST(FakeServer, ABatchThatSkipsWhatARollbackGaveBackIsNotReturned) {
  std::vector<int> requests;  // read once the server's thread has ended
  {
    FakeServer s(session([&](int fd) {
      const auto confirmRollback = [&] {
        requests.push_back(nextRequest(fd));  // CLIENTROLLBACK
        requests.push_back(nextRequest(fd));  // the confirming SUBSCRIPTION
        sendPacket(fd, pb::ACK, "");
      };
      if (nextRequest(fd) != pb::GET) return;
      sendBatch(fd, 1, 400, 600);
      confirmRollback();
      if (nextRequest(fd) != pb::GET) return;
      sendBatch(fd, 2, 700, 800);  // 400-600 went elsewhere
      confirmRollback();
      if (nextRequest(fd) != pb::GET) return;
      sendBatch(fd, 3, 400, 800);
      readFrame(fd);
    }));
    auto c = subscribedTo(s);
    ASSERT_TRUE(c);
    auto first = c->getWithoutAck(10, 100ms);
    ASSERT_TRUE(first.isOk()) << first.status().toString();
    ASSERT_TRUE(c->rollback().isOk());
    auto skipping = c->getWithoutAck(10, 100ms);
    ASSERT_FALSE(skipping.isOk());
    EXPECT_EQ(skipping.status().code(), Status::kOutOfSequence) << skipping.status().toString();
    EXPECT_NE(skipping.status().message().find("rolled back"), std::string::npos) << skipping.status().message();
    EXPECT_TRUE(c->checkValid());
    auto again = c->getWithoutAck(10, 100ms);
    ASSERT_TRUE(again.isOk()) << again.status().toString();
    EXPECT_EQ(again->id(), 3);
    c->disconnect();
  }
  EXPECT_EQ(requests, (std::vector<int>{pb::CLIENTROLLBACK, pb::SUBSCRIPTION, pb::CLIENTROLLBACK, pb::SUBSCRIPTION}));
}

}  // namespace
}  // namespace canal::client
