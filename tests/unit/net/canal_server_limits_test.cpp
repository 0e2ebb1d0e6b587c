// The client port under hostile or careless peers: clients that never read, huge frame lengths,
// no authentication, too many connections, floods from one address, frames beyond the receive
// budget, repeated wrong passwords, clients that send without reading, no descriptors left, a
// stop with sessions open.

#include "tests/unit/net/canal_server_fixture.h"

namespace canal::net {
namespace {

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
