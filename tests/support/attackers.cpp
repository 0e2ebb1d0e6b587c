#include "tests/support/attackers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/password_scramble.h"
#include "tests/support/raw_client.h"

namespace canal::testing {
namespace {

namespace pb = canal::protocol::packet;

// A TCP connection from `source` to 127.0.0.1:`port`; -1 when it cannot be made.
int connectFrom(const std::string& source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string frameHeader(std::uint32_t length) {
  return {static_cast<char>(length >> 24), static_cast<char>(length >> 16), static_cast<char>(length >> 8),
          static_cast<char>(length)};
}

// The seed of the handshake, then an authentication with `password`; the Ack's error message
// ("" accepted), or nullopt when the server answered nothing within `waitMs` (or `running`
// turned false meanwhile).
std::optional<std::string> login(RawClient& c, const std::string& user, const std::string& password, int waitMs,
                                 const std::atomic<bool>& running) {
  auto hs = c.read(2000);
  pb::Packet p;
  pb::Handshake h;
  if (!hs || !p.ParseFromString(*hs) || !h.ParseFromString(p.body())) return std::nullopt;
  pb::ClientAuth auth;
  auth.set_username(user);
  auth.set_password(protocol::scramblePassword(password, h.seeds()));
  if (!c.send(pb::CLIENTAUTHENTICATION, auth)) return std::nullopt;
  std::optional<std::string> reply;
  for (int waited = 0; !reply && waited < waitMs && running; waited += 200) reply = c.read(200);
  if (!reply) return std::nullopt;
  const pb::Ack ack = ackOf(*reply);
  return ack.error_code() == 0 ? std::string() : ack.error_message();
}

}  // namespace

Attackers::Attackers(AttackOptions options) : options_(std::move(options)) {}

Attackers::~Attackers() {
  stop();
  for (const int fd : kept_) ::close(fd);
}

void Attackers::start() {
  running_ = true;
  threads_.emplace_back([this] { idle(options_.clientPort, options_.idleClientConnections); });
  threads_.emplace_back([this] { idle(options_.httpPort, options_.idleHttpConnections); });
  for (int i = 0; i < options_.guessers; ++i) {
    threads_.emplace_back([this] { guessClientPort(); });
    threads_.emplace_back([this] { guessHttp(); });
  }
  for (int i = 0; i < options_.largeFrames; ++i) threads_.emplace_back([this] { largeFrame(); });
}

void Attackers::stop() {
  running_ = false;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

AttackFigures Attackers::figures() const {
  return {counters_.idleOpened, counters_.clientGuesses, counters_.clientChecked, counters_.httpGuesses,
          counters_.httpChecked, counters_.framesSent, counters_.framesClosed};
}

void Attackers::idle(int port, int count) {
  std::vector<int> fds(static_cast<std::size_t>(count), -1);
  while (running_) {
    for (int& fd : fds) {
      if (fd >= 0) {
        pollfd p{fd, POLLRDHUP, 0};
        if (::poll(&p, 1, 0) == 0) continue;  // still open
        ::close(fd);
      }
      fd = connectFrom(options_.idleSource, port);
      if (fd >= 0) ++counters_.idleOpened;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::lock_guard<std::mutex> lock(keptMutex_);
  for (const int fd : fds) {
    if (fd >= 0) kept_.push_back(fd);
  }
}

void Attackers::guessClientPort() {
  while (running_) {
    RawClient c(options_.clientPort, options_.guessSource);
    if (!c.connected()) continue;
    // The server holds the answers to failures back (up to 8 s): many guessers wait in parallel.
    const auto said = login(c, options_.user, "guess", 10000, running_);
    if (!said) continue;
    ++counters_.clientGuesses;
    if (said->find("too many") == std::string::npos) ++counters_.clientChecked;
  }
}

void Attackers::guessHttp() {
  unsigned char encoded[64] = {};
  const std::string credentials = "admin:guess";
  EVP_EncodeBlock(encoded, reinterpret_cast<const unsigned char*>(credentials.data()), static_cast<int>(credentials.size()));
  const std::string request = "GET " + options_.httpPath + " HTTP/1.1\r\nHost: canal\r\nAuthorization: Basic " +
                              reinterpret_cast<const char*>(encoded) + "\r\nConnection: close\r\n\r\n";
  while (running_) {
    const int fd = connectFrom(options_.guessSource, options_.httpPort);
    if (fd < 0) continue;
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char status[16] = {};
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()) &&
        ::recv(fd, status, 12, MSG_WAITALL) == 12) {
      ++counters_.httpGuesses;
      if (std::string(status + 9, 3) == "401") ++counters_.httpChecked;
    }
    ::close(fd);
  }
}

void Attackers::largeFrame() {
  while (running_) {
    RawClient c(options_.clientPort, options_.frameSource);
    const auto said = login(c, options_.user, options_.password, 2000, running_);
    if (!said || !said->empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (!c.sendRaw(frameHeader(60u << 20)) || !c.sendRaw(std::string(options_.frameBytes, 'x'))) {
      ++counters_.framesClosed;
      continue;
    }
    ++counters_.framesSent;
    // Held until the server closes it, or the attack ends.
    while (running_) {
      if (c.closedByServer(200)) {
        ++counters_.framesClosed;
        break;
      }
    }
  }
}

ProcessFigures processFigures(pid_t pid) {
  ProcessFigures f;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) f.rssKb = std::stol(line.substr(6));
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++f.descriptors;
  }
  return f;
}

}  // namespace canal::testing
