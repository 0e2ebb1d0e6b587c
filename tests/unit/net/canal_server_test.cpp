// The Canal protocol server against a fake destination (ClientSessions), without a primary:
// waiting gets, timeouts, failing acks, a stopped destination, wrong passwords, and hostile or
// careless peers (huge frame lengths, no authentication, too many connections, clients that send
// without reading, no descriptors left, a stop with sessions open).

#include "server/net/canal_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>

#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/password_scramble.h"
#include "server/common/logging.h"
#include "tests/support/process.h"
#include "tests/support/raw_client.h"

namespace canal::net {
namespace {

namespace pb = canal::protocol::packet;
using testing::ackOf;
using testing::RawClient;

// A destination whose entries the test hands in; it records waiting gets and can fail acks.
class FakeSessions final : public instance::ClientSessions {
 public:
  explicit FakeSessions(std::string name = "example") : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  bool running() const override { return running_; }
  Status subscribe(std::int16_t, const std::string&) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++subscribing_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !holdSubscribes_; });
    return Status::ok();
  }
  Status unsubscribe(std::int16_t) override { return Status::ok(); }
  Result<std::int64_t> getWithoutAck(std::int16_t, std::int64_t fetchSize, std::uint64_t epoch,
                                     const instance::BatchVisitor& visit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++gets_;
    lastEpoch_ = epoch;
    if (entries_.empty()) return std::int64_t{-1};
    std::vector<std::string> taken;
    while (!entries_.empty() && static_cast<std::int64_t>(taken.size()) < fetchSize) {
      taken.push_back(std::move(entries_.front()));
      entries_.pop_front();
    }
    instance::BatchEntries views(taken.begin(), taken.end());
    visit(views);
    return ++lastBatch_;
  }
  bool readyOrNotify(const void*, std::int64_t fetchSize, std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_ || static_cast<std::int64_t>(entries_.size()) >= fetchSize) return true;
    wake_ = std::move(wake);
    ++waits_;
    changed_.notify_all();
    return false;
  }
  void cancelNotify(const void*) override {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_ = nullptr;
  }
  Status takeForAck(std::int16_t, std::int64_t batchId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return batchId <= lastBatch_ ? Status::ok() : Status::notFound("no batch " + std::to_string(batchId));
  }
  Status commitAcks(std::int16_t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failAcks_) return Status::ioError("injected write failure", "/data/example/meta.dat");
    return Status::ok();
  }
  Result<std::uint64_t> rollback(std::int16_t, std::int64_t batchId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (batchId == 0) ++epoch_;
    return epoch_;
  }
  void recordRequest(const std::string&, std::chrono::nanoseconds, std::size_t, int, bool) override {}

  // Adds entries and wakes a waiting get, as a put into the store does.
  void add(std::vector<std::string> entries) {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& e : entries) entries_.push_back(std::move(e));
      wake = std::exchange(wake_, nullptr);
    }
    if (wake) wake();
  }
  // Waits until a get has started waiting `n` times.
  bool waitForWaits(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return waits_ >= n; });
  }
  void setRunning(bool running) { running_ = running; }
  int gets() {
    std::lock_guard<std::mutex> lock(mutex_);
    return gets_;
  }
  std::uint64_t lastEpoch() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lastEpoch_;
  }
  void failAcks() {
    std::lock_guard<std::mutex> lock(mutex_);
    failAcks_ = true;
  }
  // Subscribes wait (as a slow disk write would) until released.
  void holdSubscribes(bool hold) {
    std::lock_guard<std::mutex> lock(mutex_);
    holdSubscribes_ = hold;
    changed_.notify_all();
  }
  // Waits until `n` subscribes have started.
  bool waitForSubscribing(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return subscribing_ >= n; });
  }

 private:
  const std::string name_;
  std::atomic<bool> running_{true};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> entries_;
  std::function<void()> wake_;
  int waits_ = 0;
  int gets_ = 0;
  std::uint64_t epoch_ = 1;
  std::uint64_t lastEpoch_ = 0;
  std::int64_t lastBatch_ = 0;
  bool failAcks_ = false;
  bool holdSubscribes_ = false;
  int subscribing_ = 0;
};

class CanalServerUnitTest : public ::testing::Test {
 protected:
  void SetUp() override { restart([](ServerOptions&) {}); }
  void TearDown() override { server_->stop(); }

  // (Re)starts the server with the test's options, changed by `change`.
  void restart(const std::function<void(ServerOptions&)>& change) {
    if (server_) server_->stop();
    ServerOptions so;
    so.ip = "127.0.0.1";
    so.port = 0;
    so.user = "canal";
    so.passwordHash = protocol::passwordHash("canal");
    change(so);
    server_ = std::make_unique<CanalServer>(so, [this](const std::string& name) -> std::shared_ptr<instance::ClientSessions> {
      if (name == "slow") return slow_;
      return name == "example" ? fake_ : nullptr;
    });
    ASSERT_TRUE(server_->start().isOk());
  }

  // The seed of the handshake the server sends first; nullopt when none came.
  static std::optional<std::string> seedOf(RawClient& c) {
    auto hs = c.read();
    pb::Packet p;
    pb::Handshake h;
    if (!hs || !p.ParseFromString(*hs) || p.type() != pb::HANDSHAKE || !h.ParseFromString(p.body())) return {};
    return h.seeds();
  }
  static pb::ClientAuth authFor(const std::string& password, const std::string& seed) {
    pb::ClientAuth auth;
    auth.set_username("canal");
    auth.set_password(protocol::scramblePassword(password, seed));
    return auth;
  }
  // Handshake and authentication; the Ack's error code (0: accepted).
  int login(RawClient& c, const std::string& password = "canal") {
    const auto seed = seedOf(c);
    if (!seed || !c.send(pb::CLIENTAUTHENTICATION, authFor(password, *seed))) return -1;
    return nextAckCode(c);
  }
  // The Ack a subscription of client 1001 to `destination` gets.
  pb::Ack subscribeTo(RawClient& c, const std::string& destination) {
    pb::Sub sub;
    sub.set_destination(destination);
    sub.set_client_id("1001");
    EXPECT_TRUE(c.send(pb::SUBSCRIPTION, sub));
    auto reply = c.read();
    EXPECT_TRUE(reply.has_value());
    return reply ? ackOf(*reply) : pb::Ack();
  }
  void subscribe(RawClient& c) {
    const pb::Ack a = subscribeTo(c, "example");
    EXPECT_EQ(a.error_code(), 0) << a.error_message();
  }
  // A connection that authenticated and subscribed client 1001 to "example".
  std::unique_ptr<RawClient> subscribedClient() {
    auto c = std::make_unique<RawClient>(server_->port());
    EXPECT_EQ(login(*c), 0);
    subscribe(*c);
    return c;
  }
  // The error code of the next frame, an Ack; -1 when none came.
  int nextAckCode(RawClient& c) {
    auto reply = c.read();
    return reply ? ackOf(*reply).error_code() : -1;
  }
  void sendGet(RawClient& c, int fetchSize, std::int64_t timeout, int unit = 2) {
    pb::Get g;
    g.set_destination("example");
    g.set_client_id("1001");
    g.set_fetch_size(fetchSize);
    g.set_timeout(timeout);
    g.set_unit(unit);
    ASSERT_TRUE(c.send(pb::GET, g));
  }
  std::optional<pb::Messages> messages(RawClient& c) {
    auto reply = c.read();
    pb::Packet p;
    pb::Messages m;
    if (!reply || !p.ParseFromString(*reply) || p.type() != pb::MESSAGES || !m.ParseFromString(p.body())) return {};
    return m;
  }

  std::shared_ptr<FakeSessions> fake_ = std::make_shared<FakeSessions>();
  std::shared_ptr<FakeSessions> slow_ = std::make_shared<FakeSessions>("slow");
  std::unique_ptr<CanalServer> server_;
};

TEST_F(CanalServerUnitTest, AWrongPasswordIsRefusedAndTheRightOneThenAccepted) {
  RawClient c(server_->port());
  const auto seed = seedOf(c);
  ASSERT_TRUE(seed.has_value());
  ASSERT_TRUE(c.send(pb::CLIENTAUTHENTICATION, authFor("wrong", *seed)));
  auto refused = c.read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(ackOf(*refused).error_code(), 400);
  EXPECT_EQ(ackOf(*refused).error_message(), "auth failed for user:canal");
  ASSERT_TRUE(c.send(pb::CLIENTAUTHENTICATION, authFor("canal", *seed)));
  EXPECT_EQ(nextAckCode(c), 0);
}

// Guessing over reconnects is held to the throttle's rate: once the address has spent its
// tokens, an attempt is refused unchecked — the right password too — and says why.
TEST_F(CanalServerUnitTest, PasswordGuessesOverReconnectsAreThrottledPerAddress) {
  auto throttle = std::make_shared<http::AuthThrottle>(http::AuthThrottleOptions{3, std::chrono::seconds(60), 50,
                                                                                 std::chrono::milliseconds(50)});
  restart([&](ServerOptions& o) {
    o.throttle = throttle;
    o.authFailureDelay = std::chrono::milliseconds(1);
  });
  for (int i = 0; i < 3; ++i) {
    RawClient c(server_->port());
    const auto seed = seedOf(c);
    ASSERT_TRUE(seed.has_value());
    ASSERT_TRUE(c.send(pb::CLIENTAUTHENTICATION, authFor("guess" + std::to_string(i), *seed)));
    auto refused = c.read();
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(ackOf(*refused).error_message(), "auth failed for user:canal");
  }
  RawClient right(server_->port());
  const auto seed = seedOf(right);
  ASSERT_TRUE(seed.has_value());
  ASSERT_TRUE(right.send(pb::CLIENTAUTHENTICATION, authFor("canal", *seed)));
  auto refused = right.read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(ackOf(*refused).error_code(), 400);
  EXPECT_NE(ackOf(*refused).error_message().find("too many failed authentications from 127.0.0.1"), std::string::npos)
      << ackOf(*refused).error_message();
  EXPECT_EQ(throttle->failures(), 3u);
  EXPECT_EQ(throttle->refused(), 1u);
}

TEST_F(CanalServerUnitTest, AWaitingGetHoldsNoThreadAndIsAnsweredWhenTheDestinationWakesIt) {
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 2, 0);  // 0: wait until the batch is enough
  ASSERT_TRUE(fake_->waitForWaits(1));
  // Another session is served meanwhile, on the same two io threads.
  RawClient other(server_->port());
  ASSERT_EQ(login(other), 0);
  subscribe(other);
  fake_->add({"one"});  // not enough: the get waits again
  ASSERT_TRUE(fake_->waitForWaits(2));
  fake_->add({"two"});
  auto m = messages(c);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->batch_id(), 1);
  ASSERT_EQ(m->messages_size(), 2);
  EXPECT_EQ(m->messages(0), "one");
  EXPECT_EQ(m->messages(1), "two");
}

// A client killed while its GET waits: the server notices at once, and the wait takes no batch
// (handed to a dead connection, it would be missing ahead of what the client's next connection
// gets, and that client would then see later changes before earlier ones).
TEST_F(CanalServerUnitTest, AClientThatGoesAwayWhileItsGetWaitsTakesNoBatch) {
  {
    RawClient c(server_->port());
    ASSERT_EQ(login(c), 0);
    subscribe(c);
    sendGet(c, 1, 0);
    ASSERT_TRUE(fake_->waitForWaits(1));
  }  // the client's socket is closed
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return server_->sessions() == 0; }))
      << "the session did not notice its peer went away while its GET waited";
  fake_->add({"one"});
  EXPECT_EQ(fake_->gets(), 0) << "a batch was taken for a dead connection";
}

// A connection's gets carry the epoch of its own last rollback of everything.
TEST_F(CanalServerUnitTest, GetsCarryTheEpochOfTheConnectionsRollback) {
  auto client = subscribedClient();
  RawClient& c = *client;
  fake_->add({"one", "two"});
  sendGet(c, 1, -1);
  ASSERT_TRUE(messages(c).has_value());
  EXPECT_EQ(fake_->lastEpoch(), 0u) << "no rollback on this connection yet: no epoch";
  pb::ClientRollback rb;
  rb.set_destination("example");
  rb.set_client_id("1001");
  ASSERT_TRUE(c.send(pb::CLIENTROLLBACK, rb));  // no reply
  sendGet(c, 1, -1);
  ASSERT_TRUE(messages(c).has_value());
  EXPECT_EQ(fake_->lastEpoch(), 2u);
}

// Requests sent while a GET waits are answered after it, in order.
TEST_F(CanalServerUnitTest, RequestsSentWhileAGetWaitsAreAnsweredAfterIt) {
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 1, 0);
  ASSERT_TRUE(fake_->waitForWaits(1));
  pb::Sub sub;
  sub.set_destination("example");
  sub.set_client_id("1001");
  ASSERT_TRUE(c.send(pb::SUBSCRIPTION, sub));  // pipelined behind the waiting GET
  fake_->add({"one"});
  auto m = messages(c);
  ASSERT_TRUE(m.has_value()) << "the GET's reply comes first";
  EXPECT_EQ(m->batch_id(), 1);
  EXPECT_EQ(nextAckCode(c), 0);
}

TEST_F(CanalServerUnitTest, AGetTimeoutTooLargeToRepresentWaitsInsteadOfReturningAtOnce) {
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 1, std::numeric_limits<std::int64_t>::max(), 6);  // Long.MAX_VALUE days
  ASSERT_TRUE(fake_->waitForWaits(1)) << "the get did not wait";
  fake_->add({"late"});
  auto m = messages(c);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->batch_id(), 1);
  ASSERT_EQ(m->messages_size(), 1);
}

TEST_F(CanalServerUnitTest, AGetThatTimesOutAnswersAnEmptyBatch) {
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 5, 20);  // 20 ms
  auto m = messages(c);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->batch_id(), -1);
  EXPECT_EQ(m->messages_size(), 0);
  sendGet(c, 5, -1);  // no wait
  m = messages(c);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->batch_id(), -1);
}

TEST_F(CanalServerUnitTest, AnAckThatCannotBeRecordedIsReportedAndTheConnectionClosed) {
  auto client = subscribedClient();
  RawClient& c = *client;
  fake_->add({"entry"});
  sendGet(c, 1, -1);
  auto m = messages(c);
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->batch_id(), 1);
  fake_->failAcks();
  pb::ClientAck ack;
  ack.set_destination("example");
  ack.set_client_id("1001");
  ack.set_batch_id(1);
  ASSERT_TRUE(c.send(pb::CLIENTACK, ack));
  auto reply = c.read();
  ASSERT_TRUE(reply.has_value());
  const pb::Ack a = ackOf(*reply);
  EXPECT_EQ(a.error_code(), 400);
  EXPECT_NE(a.error_message().find("meta.dat"), std::string::npos) << a.error_message();
  EXPECT_TRUE(c.closedByServer());
}

TEST_F(CanalServerUnitTest, ADestinationSlowToWriteHoldsUpOnlyItsOwnClients) {
  // Three clients of "slow" whose subscribes hang (a disk or ZooKeeper that does not answer).
  slow_->holdSubscribes(true);
  struct Release {
    FakeSessions& slow;
    ~Release() { slow.holdSubscribes(false); }  // also when an assertion ends the test early
  } release{*slow_};
  std::vector<std::unique_ptr<RawClient>> stuck;
  for (int i = 0; i < 3; ++i) {
    stuck.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_EQ(login(*stuck.back()), 0);
    pb::Sub sub;
    sub.set_destination("slow");
    sub.set_client_id(std::to_string(1001 + i));
    ASSERT_TRUE(stuck.back()->send(pb::SUBSCRIPTION, sub));
  }
  ASSERT_TRUE(slow_->waitForSubscribing(1));
  // Another destination's client subscribes, gets and acks meanwhile.
  auto client = subscribedClient();
  fake_->add({"entry"});
  sendGet(*client, 1, -1);
  auto m = messages(*client);
  ASSERT_TRUE(m.has_value());
  pb::ClientAck ack;
  ack.set_destination("example");
  ack.set_client_id("1001");
  ack.set_batch_id(m->batch_id());
  ASSERT_TRUE(client->send(pb::CLIENTACK, ack));
  sendGet(*client, 1, -1);  // answered after the ack is written: an empty batch
  auto after = messages(*client);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->batch_id(), -1);
  // Released, the slow destination's clients are answered, in turn.
  slow_->holdSubscribes(false);
  for (auto& c : stuck) EXPECT_EQ(nextAckCode(*c), 0);
}

TEST_F(CanalServerUnitTest, AStoppedDestinationAnswersShouldStartFirst) {
  fake_->setRunning(false);
  RawClient c(server_->port());
  ASSERT_EQ(login(c), 0);
  const pb::Ack stopped = subscribeTo(c, "example");
  EXPECT_EQ(stopped.error_code(), 400);
  EXPECT_NE(stopped.error_message().find("destination:example should start first"), std::string::npos);
  const pb::Ack unknown = subscribeTo(c, "nowhere");
  EXPECT_EQ(unknown.error_code(), 400);
  EXPECT_NE(unknown.error_message().find("destination:nowhere should start first"), std::string::npos);
}

TEST_F(CanalServerUnitTest, AClientThatNeverReadsHoldsUpNeitherOthersNorShutdown) {
  RawClient stuck(server_->port());
  stuck.setReceiveBuffer(4096);
  ASSERT_EQ(login(stuck), 0);
  subscribe(stuck);
  // 16 MB of batches it never reads: the server's writes to it stall.
  for (int i = 0; i < 16; ++i) fake_->add({std::string(1 << 20, 'x')});
  for (int i = 0; i < 16; ++i) sendGet(stuck, 1, -1);
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 1, 20);
  auto m = messages(c);
  ASSERT_TRUE(m.has_value()) << "a session was held up by one that does not read";
  EXPECT_EQ(server_->sessions(), 2u);
  server_->stop();  // returns although a write is stuck
  EXPECT_EQ(server_->sessions(), 0u);
}

// Hostile or careless peers, before and after authentication.

// The sanitizer build (address + undefined): RSS counts ASan's quarantine of freed buffers, and
// the runtime's own checks need file descriptors (it probes memory through a pipe).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizers = true;
#else
constexpr bool kSanitizers = false;
#endif

long rssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

std::string frameHeader(std::uint32_t length) {
  std::string h(4, '\0');
  h[0] = static_cast<char>(length >> 24);
  h[1] = static_cast<char>(length >> 16);
  h[2] = static_cast<char>(length >> 8);
  h[3] = static_cast<char>(length);
  return h;
}

TEST_F(CanalServerUnitTest, ALargeFrameBeforeAuthenticationClosesTheConnection) {
  RawClient c(server_->port());
  ASSERT_TRUE(c.read().has_value());  // the handshake
  ASSERT_TRUE(c.sendRaw(frameHeader(64u << 20)));
  EXPECT_TRUE(c.closedByServer());
}


TEST_F(CanalServerUnitTest, AFrameLengthAloneCostsNoMemory) {
  if (kSanitizers) GTEST_SKIP() << "RSS is not the server's own under AddressSanitizer";
  // Eight authenticated peers announce 64 MiB each and send 16 MiB of it: the server holds what
  // arrived, not what was announced (allocating the announced lengths would take 512 MiB).
  std::vector<std::unique_ptr<RawClient>> peers;
  for (int i = 0; i < 8; ++i) {
    peers.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_EQ(login(*peers.back()), 0);
  }
  const std::string part(16u << 20, 'x');  // the test's own memory, before the measure starts
  const long before = rssKb();
  for (auto& p : peers) {
    // send() returns once the kernel took the 16 MiB, more than the socket buffers hold: the
    // server has read the header and part of the body.
    ASSERT_TRUE(p->sendRaw(frameHeader((64u << 20) - 1)));
    ASSERT_TRUE(p->sendRaw(part));
  }
  ASSERT_TRUE(canal::testing::waitUntil(std::chrono::seconds(10), [&] { return server_->receivingBytes() >= (8u * 16 << 20); }));
  const long grown = rssKb() - before;
  EXPECT_LT(grown, 300 * 1024) << "RSS grew by " << grown << " kB";
  // Their connections close: the buffers are given back to the system, not kept by the allocator.
  peers.clear();
  ASSERT_TRUE(canal::testing::waitUntil(std::chrono::seconds(10), [&] { return server_->sessions() == 0; }));
  const long left = rssKb() - before;
  std::printf("[ figures ] 8 peers announcing 64 MiB and sending 16 MiB: RSS grew by %ld kB, %ld kB once they closed\n",
              grown, left);
  EXPECT_GT(grown, 100 * 1024) << "the partial frames are held while they arrive";
  EXPECT_LT(left, 16 * 1024) << "RSS after the peers closed: +" << left << " kB";
}

TEST_F(CanalServerUnitTest, APeerThatDoesNotAuthenticateInTimeIsClosed) {
  restart([](ServerOptions& o) { o.authTimeout = std::chrono::milliseconds(100); });
  RawClient silent(server_->port());
  ASSERT_TRUE(silent.read().has_value());
  EXPECT_TRUE(silent.closedByServer());
  RawClient c(server_->port());
  ASSERT_EQ(login(c), 0);
  subscribe(c);  // an authenticated session is not closed by the deadline
  sendGet(c, 1, 300);
  EXPECT_TRUE(messages(c).has_value());
}

TEST_F(CanalServerUnitTest, ConnectionsOverTheLimitAreClosedAtOnce) {
  restart([](ServerOptions& o) { o.maxConnections = 2; });
  RawClient a(server_->port());
  RawClient b(server_->port());
  ASSERT_EQ(login(a), 0);
  ASSERT_EQ(login(b), 0);
  RawClient third(server_->port());
  EXPECT_FALSE(third.read().has_value()) << "no handshake over the limit";
  EXPECT_EQ(server_->refusedConnections(), 1u);
  subscribe(a);  // the others go on
}

// Peers that connect and never authenticate (or authenticate slowly) have a class of their own:
// beyond its limit, or at the connection limit, a newcomer closes the oldest of them. Clients
// that authenticated stay, and a client connecting during the flood gets in.
TEST_F(CanalServerUnitTest, IdlePeersCannotKeepClientsOut) {
  restart([](ServerOptions& o) {
    o.maxConnections = 16;
    o.maxUnauthenticated = 4;
  });
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_EQ(login(*clients.back()), 0);
  }
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 40; ++i) idle.push_back(std::make_unique<RawClient>(server_->port()));
  ASSERT_TRUE(canal::testing::waitUntil(std::chrono::seconds(5), [&] { return server_->unauthenticatedEvictions() >= 36; }))
      << server_->unauthenticatedEvictions();
  EXPECT_EQ(server_->refusedConnections(), 0u);
  const auto before = std::chrono::steady_clock::now();
  RawClient newcomer(server_->port());
  ASSERT_EQ(login(newcomer), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
  subscribe(newcomer);
  for (auto& c : clients) subscribe(*c);  // the authenticated ones were not closed
  EXPECT_LE(server_->sessions(), 2u + 1u + 4u);
}

// Room is made from the address with the most unauthenticated connections: a client that
// connected before a flood from another address can still log in after it.
TEST_F(CanalServerUnitTest, AFloodFromOneAddressMakesRoomFromItsOwnConnections) {
  restart([](ServerOptions& o) {
    o.maxConnections = 16;
    o.maxUnauthenticated = 4;
  });
  RawClient early(server_->port());
  const auto seed = seedOf(early);
  ASSERT_TRUE(seed.has_value());
  std::vector<std::unique_ptr<RawClient>> flood;
  for (int i = 0; i < 40; ++i) flood.push_back(std::make_unique<RawClient>(server_->port(), "127.0.0.2"));
  ASSERT_TRUE(canal::testing::waitUntil(std::chrono::seconds(5), [&] { return server_->unauthenticatedEvictions() >= 37; }));
  ASSERT_TRUE(early.send(pb::CLIENTAUTHENTICATION, authFor("canal", *seed)));
  EXPECT_EQ(nextAckCode(early), 0) << "the earlier client was not the one closed";
  subscribe(early);
}

// Bytes of frames being received are bounded over every connection: beyond the budget the
// connection receiving the largest frame is closed, the others go on, and the count goes down.
TEST_F(CanalServerUnitTest, FramesBeyondTheReceiveBudgetCloseTheConnectionWithTheLargest) {
  restart([](ServerOptions& o) { o.receiveBudget = 8u << 20; });
  RawClient large(server_->port());
  RawClient small(server_->port());
  RawClient other(server_->port());
  for (RawClient* c : {&large, &small, &other}) ASSERT_EQ(login(*c), 0);
  ASSERT_TRUE(large.sendRaw(frameHeader(60u << 20) + std::string(6u << 20, 'x')));
  ASSERT_TRUE(canal::testing::waitUntil(std::chrono::seconds(5), [&] { return server_->receivingBytes() >= (6u << 20); }));
  ASSERT_TRUE(small.sendRaw(frameHeader(60u << 20) + std::string(3u << 20, 'y')));
  EXPECT_TRUE(large.closedByServer());
  EXPECT_EQ(server_->overBudgetCloses(), 1u);
  // What arrived of the smaller frame, and the chunk being read.
  const std::size_t smallOnly = (3u << 20) + 64 * 1024;
  ASSERT_TRUE(canal::testing::waitUntil(std::chrono::seconds(5), [&] { return server_->receivingBytes() <= smallOnly; }))
      << server_->receivingBytes();
  subscribe(other);
  // The closed one is forgotten just after its socket closes; the smaller frame's stays.
  EXPECT_TRUE(canal::testing::waitUntil(std::chrono::seconds(5), [&] { return server_->sessions() == 2u; }))
      << server_->sessions();
  EXPECT_EQ(server_->overBudgetCloses(), 1u);
}

TEST_F(CanalServerUnitTest, RepeatedWrongPasswordsCloseTheConnection) {
  restart([](ServerOptions& o) { o.authFailureDelay = std::chrono::milliseconds(1); });
  RawClient c(server_->port());
  const auto seed = seedOf(c);
  ASSERT_TRUE(seed.has_value());
  const pb::ClientAuth auth = authFor("guess", *seed);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(pb::CLIENTAUTHENTICATION, auth));
    auto reply = c.read();
    ASSERT_TRUE(reply.has_value()) << "attempt " << i + 1;
    EXPECT_EQ(ackOf(*reply).error_message(), "auth failed for user:canal");
  }
  EXPECT_TRUE(c.closedByServer()) << "closed after the third failure";
}

// Guessing over new connections gains nothing: the replies to failures from one address come
// later and later, and attempts sent meanwhile are not read.
TEST_F(CanalServerUnitTest, FailedAuthenticationsFromOneAddressAreAnsweredEverLater) {
  restart([](ServerOptions& o) { o.authFailureDelay = std::chrono::milliseconds(20); });
  std::vector<std::chrono::steady_clock::duration> replyTimes;
  for (int connection = 0; connection < 2; ++connection) {
    RawClient c(server_->port());
    const auto seed = seedOf(c);
    ASSERT_TRUE(seed.has_value());
    const pb::ClientAuth auth = authFor("guess", *seed);
    const auto sent = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.send(pb::CLIENTAUTHENTICATION, auth));  // pipelined
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(c.read().has_value()) << "connection " << connection << ", attempt " << i + 1;
      replyTimes.push_back(std::chrono::steady_clock::now() - sent);
    }
    EXPECT_TRUE(c.closedByServer());
  }
  // 20, 40, 80 ms on the first connection; 160, 320, 640 on the second: its last reply comes
  // after at least 1.12 s, although all three were sent at once.
  EXPECT_GE(replyTimes[2], std::chrono::milliseconds(140));
  EXPECT_GE(replyTimes[5], std::chrono::milliseconds(1120));
  RawClient right(server_->port());
  EXPECT_EQ(login(right), 0) << "the right password is accepted at once from the same address";
}

TEST_F(CanalServerUnitTest, AClientThatSendsWithoutReadingIsHeldBack) {
  for (int i = 0; i < 200; ++i) fake_->add({std::string(1 << 20, 'x')});
  RawClient c(server_->port());
  c.setReceiveBuffer(64 * 1024);
  ASSERT_EQ(login(c), 0);
  subscribe(c);
  for (int i = 0; i < 200; ++i) sendGet(c, 1, -1);  // 200 MiB of replies asked for, none read
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return server_->heldBackSessions() == 1; }));
  std::printf("[ figures ] 200 GETs of 1 MiB sent without reading: %d served before the session was held back\n",
              fake_->gets());
  EXPECT_LT(fake_->gets(), 40) << "the server kept reading requests whose replies it could not send";
  int read = 0;
  while (read < 200 && messages(c).has_value()) ++read;
  EXPECT_EQ(read, 200) << "every reply arrives once the client reads";
  EXPECT_EQ(server_->heldBackSessions(), 0u);
}

TEST_F(CanalServerUnitTest, OutOfDescriptorsTheServerBacksOffAndRecovers) {
  if (kSanitizers) GTEST_SKIP() << "the sanitizers' runtime needs file descriptors of its own";
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // Client sockets made first; then every descriptor left is taken, so the server's accept fails.
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(::socket(AF_INET, SOCK_STREAM, 0));
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) filler.push_back(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (const int fd : clients) ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const bool failed = testing::waitUntil(std::chrono::seconds(10), [&] { return server_->acceptFailures() > 0; });
  for (const int fd : filler) ::close(fd);
  ::setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(failed);
  // Each client gets its handshake once descriptors are back.
  for (const int fd : clients) {
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char header[4];
    EXPECT_EQ(::recv(fd, header, 4, MSG_WAITALL), 4);
    ::close(fd);
  }
  std::printf("[ figures ] out of descriptors: %llu failed accepts before recovering\n",
              static_cast<unsigned long long>(server_->acceptFailures()));
  EXPECT_LT(server_->acceptFailures(), 100u) << "the accept loop spun instead of backing off";
}

TEST_F(CanalServerUnitTest, StoppingWithSessionsOpenLogsNoSocketErrors) {
  auto log = moduleLogger("net");
  auto captured = std::make_shared<std::ostringstream>();
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*captured);
  log->sinks().push_back(sink);
  // However the test ends, the server stops before the sink goes (its sessions log as they close).
  struct Detach {
    CanalServer& server;
    std::shared_ptr<spdlog::logger> log;
    ~Detach() {
      server.stop();
      log->sinks().pop_back();
    }
  } detach{*server_, log};
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_EQ(login(*clients.back()), 0);
    subscribe(*clients.back());
    if (i % 4 == 0) sendGet(*clients.back(), 1, 0);  // waiting when the server stops
  }
  ASSERT_TRUE(fake_->waitForWaits(5));
  server_->stop();
  const std::string text = captured->str();
  EXPECT_EQ(text.find("Bad file descriptor"), std::string::npos) << text;
  EXPECT_EQ(text.find("accept:"), std::string::npos) << text;
  EXPECT_EQ(server_->sessions(), 0u);
}

}  // namespace
}  // namespace canal::net
