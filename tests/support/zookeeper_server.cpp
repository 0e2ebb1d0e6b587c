#include "tests/support/zookeeper_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace canal::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kClasspath = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar";
constexpr const char* kJar = "/usr/share/java/zookeeper.jar";

}  // namespace

std::string zooKeeperFourLetter(int port, const std::string& command) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::send(fd, command.data(), command.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(command.size())) {
    char buffer[1024];
    ssize_t n;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) reply.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

Result<std::unique_ptr<ZooKeeperServer>> ZooKeeperServer::start() {
  if (!std::filesystem::exists(kJar)) {
    return Status::unavailable(std::string("ZooKeeper is not installed (") + kJar + " missing; run bin/install-deps.sh)");
  }
  std::unique_ptr<ZooKeeperServer> server(new ZooKeeperServer());
  server->dir_ = std::make_unique<TempDir>("canal-zookeeper");
  CANAL_RETURN_IF_ERROR(server->launch());
  return server;
}

Status ZooKeeperServer::launch() {
  const auto root = dir_->path();
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (port_ == 0 || attempt > 0) port_ = freePort();
    const auto cfg = root / "zoo.cfg";
    {
      std::ofstream out(cfg);
      out << "tickTime=500\n"
          << "initLimit=10\nsyncLimit=5\n"
          << "dataDir=" << (root / "data").string() << "\n"
          << "clientPort=" << port_ << "\n"
          << "clientPortAddress=127.0.0.1\n"
          << "admin.enableServer=false\n"
          << "4lw.commands.whitelist=ruok,srvr,stat,mntr\n"
          << "maxSessionTimeout=60000\n";
    }
    std::filesystem::create_directories(root / "data");
    CANAL_RETURN_IF_ERROR(process_.start({"java", "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.jmx.log4j.disable=true",
                                          "-cp", kClasspath, "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                          cfg.string()},
                                         (root / "zookeeper.log").string()));
    bool exited = false;
    const bool up = waitUntil(60s, [&] {
      if (!process_.running()) {
        exited = true;
        return true;
      }
      return zooKeeperFourLetter(port_, "ruok") == "imok";
    });
    if (up && !exited) return Status::ok();
    const std::string log = process_.logTail();
    process_.stop();
    if (!up) return Status::unavailable("ZooKeeper did not answer within 60 s: " + log);
    // Debian's ZooKeeper logs through SLF4J without a binding, so a port another process took
    // between freePort() and the bind ("Address already in use") exits it without a word: an
    // exit at start is tried again on another port, and reported after the last attempt.
    if (attempt == 2) return Status::unavailable("ZooKeeper exited at start (3 attempts, fresh ports): " + log);
  }
  return Status::unavailable("ZooKeeper could not start");
}

ZooKeeperServer::~ZooKeeperServer() { process_.stop(); }

Status ZooKeeperServer::restart() {
  process_.stop();
  return launch();
}

}  // namespace canal::testing
