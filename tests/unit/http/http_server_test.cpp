// The HTTP layer canal-server and canal-forwarder serve their operator endpoints with, under a
// hostile client: connections that send nothing, more connections than allowed, a slow handler,
// password guessing, oversized requests and a handler that throws.

#include "http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_get.h"
#include "tests/support/process.h"

namespace canal::http {
namespace {

using namespace std::chrono_literals;

// A TCP connection to the server that sends what the test says (or nothing).
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(const std::string& bytes) { static_cast<void>(::write(fd_, bytes.data(), bytes.size())); }
  // What the server sends until it closes (or `timeout` passes: then what came so far).
  std::string readAll(std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n <= 0) {
        closed_ = n == 0;
        return out;
      }
      out.append(buffer, static_cast<std::size_t>(n));
    }
  }
  bool closedByServer() const { return closed_; }

 private:
  int fd_;
  bool connected_ = false;
  bool closed_ = false;
};

Response text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string url(const Server& s, const std::string& path) { return "http://127.0.0.1:" + std::to_string(s.port()) + path; }

TEST(HttpServer, ASilentConnectionHoldsNobodyUpAndIsClosedAtTheDeadline) {
  ServerOptions o;
  o.requestDeadline = 500ms;
  Server server(o);
  server.route("/status", [](const Request&) { return text(200, "{\"ok\":true}"); });
  ASSERT_EQ(server.listen("127.0.0.1", 0), "");
  RawConnection silent(server.port());
  ASSERT_TRUE(silent.connected());
  const auto status = testing::httpGet(url(server, "/status"));
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.body, "{\"ok\":true}");
  // Closed by the server at its deadline, without an answer.
  EXPECT_EQ(silent.readAll(5s), "");
  EXPECT_TRUE(silent.closedByServer());
  EXPECT_TRUE(testing::waitUntil(5s, [&] { return server.counters().timedOut >= 1; }));  // counted after the close
  // A request sent a byte at a time past the deadline is closed too.
  RawConnection slow(server.port());
  slow.send("GET /sta");
  EXPECT_EQ(slow.readAll(5s), "");
  EXPECT_TRUE(slow.closedByServer());
}

// At the limit a newcomer closes the oldest connection still waiting for its request: peers
// that connect and send nothing cannot keep /status out. When every connection has sent its
// request (slow handlers), the newcomer is answered 503 at once.
TEST(HttpServer, AtTheLimitIdleConnectionsMakeRoomAndOnlyBusyOnesAnswer503) {
  ServerOptions o;
  o.maxConnections = 4;
  o.requestDeadline = 20s;
  Server server(o);
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  std::atomic<int> slowStarted{0};
  server.route("/slow", [&](const Request&) {
    ++slowStarted;
    std::unique_lock<std::mutex> lock(mutex);
    released.wait(lock, [&] { return release; });
    return text(200, "slow");
  });
  server.route("/", [](const Request&) { return text(200, "{}"); });
  ASSERT_EQ(server.listen("127.0.0.1", 0), "");
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 40; ++i) idle.push_back(std::make_unique<RawConnection>(server.port()));
  const auto before = std::chrono::steady_clock::now();
  EXPECT_EQ(testing::httpGet(url(server, "/x")).status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
  EXPECT_TRUE(testing::waitUntil(5s, [&] { return server.counters().evicted >= 37; })) << server.counters().evicted;
  EXPECT_EQ(idle.front()->readAll(5s), "");
  EXPECT_TRUE(idle.front()->closedByServer()) << "the oldest idle connection was closed, unanswered";
  idle.clear();

  std::vector<std::thread> slow;
  for (int i = 0; i < 4; ++i) {
    slow.emplace_back([&] { EXPECT_EQ(testing::httpGet(url(server, "/slow")).body, "slow"); });
  }
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return slowStarted >= 2; }));  // two workers busy, two queued
  ASSERT_TRUE(testing::waitUntil(5s, [&] {
    RawConnection probe(server.port());
    return probe.readAll(2s).find(" 503 ") != std::string::npos;
  }));
  EXPECT_GE(server.counters().refusedConnections, 1u);
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  released.notify_all();
  for (auto& t : slow) t.join();
  EXPECT_TRUE(testing::waitUntil(5s, [&] { return testing::httpGet(url(server, "/x")).status == 200; }));
}

TEST(HttpServer, ASlowHandlerDoesNotHoldUpTheOthers) {
  Server server(ServerOptions{});
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  std::atomic<bool> slowStarted{false};
  server.route("/slow", [&](const Request&) {
    slowStarted = true;
    std::unique_lock<std::mutex> lock(mutex);
    released.wait(lock, [&] { return release; });
    return text(200, "slow");
  });
  server.route("/fast", [](const Request&) { return text(200, "fast"); });
  ASSERT_EQ(server.listen("127.0.0.1", 0), "");
  std::thread slow([&] { EXPECT_EQ(testing::httpGet(url(server, "/slow")).body, "slow"); });
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return slowStarted.load(); }));
  EXPECT_EQ(testing::httpGet(url(server, "/fast")).body, "fast");
  {
    std::lock_guard<std::mutex> lock(mutex);
    release = true;
  }
  released.notify_all();
  slow.join();
}

TEST(HttpServer, FailedAuthenticationsAreThrottledPerAddress) {
  ServerOptions o;
  o.throttle = std::make_shared<AuthThrottle>(AuthThrottleOptions{3, 300ms});
  Server server(o);
  std::atomic<int> reached{0};
  server.route("/", [&](const Request& r) {
    ++reached;
    return r.authorization == "Basic right" ? text(200, "in") : text(401, "who?");
  });
  ASSERT_EQ(server.listen("127.0.0.1", 0), "");
  std::vector<long> statuses;
  for (int i = 0; i < 6; ++i) statuses.push_back(testing::httpRequest("GET", url(server, "/"), "", "x", "guess").status);
  EXPECT_EQ(statuses, (std::vector<long>{401, 401, 401, 429, 429, 429}));
  EXPECT_EQ(reached.load(), 3) << "throttled guesses never reach the handler";
  EXPECT_EQ(server.counters().throttled, 3u);
  // A request without credentials (a metrics scrape) is not a guess: it goes on.
  EXPECT_EQ(testing::httpGet(url(server, "/")).status, 401);
  EXPECT_EQ(reached.load(), 4);
  // A token comes back after the refill interval.
  EXPECT_TRUE(testing::waitUntil(5s, [&] { return testing::httpRequest("GET", url(server, "/"), "", "x", "guess").status == 401; }));
}

TEST(AuthThrottle, EachAddressHasItsBurstAndAllShareABudget) {
  AuthThrottle throttle(AuthThrottleOptions{2, std::chrono::hours(1), 5, std::chrono::hours(1)});
  EXPECT_TRUE(throttle.admit("10.0.0.1"));
  throttle.failed("10.0.0.1");
  throttle.failed("10.0.0.1");
  EXPECT_FALSE(throttle.admit("10.0.0.1")) << "its burst is spent";
  EXPECT_TRUE(throttle.admit("10.0.0.2")) << "another address has its own";
  throttle.failed("10.0.0.2");
  throttle.failed("10.0.0.3");
  throttle.failed("10.0.0.4");
  // Five failures in all: the shared budget is spent, for addresses never seen too.
  EXPECT_FALSE(throttle.admit("10.0.0.9"));
  EXPECT_EQ(throttle.failures(), 5u);
  EXPECT_EQ(throttle.refused(), 2u);
}

TEST(AuthThrottle, TokensComeBackAtTheRefillRate) {
  AuthThrottle throttle(AuthThrottleOptions{1, std::chrono::milliseconds(100), 50, std::chrono::milliseconds(1)});
  throttle.failed("a");
  EXPECT_FALSE(throttle.admit("a"));
  EXPECT_TRUE(testing::waitUntil(5s, [&] { return throttle.admit("a"); }, 10ms));
}

TEST(HttpServer, OversizedRequestsAndAThrowingHandlerAreAnsweredAndTheServerGoesOn) {
  ServerOptions o;
  o.maxBodyBytes = 1000;
  std::vector<std::string> logged;
  std::mutex logMutex;
  o.logError = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(logMutex);
    logged.push_back(line);
  };
  Server server(o);
  server.route("/throw", [](const Request&) -> Response { throw std::runtime_error("a bug"); });
  server.route("/", [](const Request& r) { return text(200, r.method + " " + r.path + " ? " + r.query); });
  ASSERT_EQ(server.listen("127.0.0.1", 0), "");
  EXPECT_EQ(testing::httpRequest("POST", url(server, "/x"), std::string(5000, 'b')).status, 413);
  RawConnection big(server.port());
  big.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'h') + "\r\n\r\n");
  EXPECT_NE(big.readAll(5s).find(" 431 "), std::string::npos);
  EXPECT_EQ(testing::httpGet(url(server, "/throw")).status, 500);
  {
    std::lock_guard<std::mutex> lock(logMutex);
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_NE(logged[0].find("a bug"), std::string::npos);
  }
  EXPECT_EQ(testing::httpGet(url(server, "/a/b?c=d")).body, "GET /a/b ? c=d");
}

TEST(HttpServer, AnAddressInUseIsNamed) {
  Server first(ServerOptions{});
  ASSERT_EQ(first.listen("127.0.0.1", 0), "");
  Server second(ServerOptions{});
  const std::string error = second.listen("127.0.0.1", first.port());
  EXPECT_NE(error.find("127.0.0.1:" + std::to_string(first.port())), std::string::npos) << error;
}

}  // namespace
}  // namespace canal::http
