#pragma once

// Canal's client protocol on TCP (canal-protocol.md): a handshake with a fresh 8-byte seed,
// authentication against canal.user / canal.passwd with the seeded SHA-1 scramble, then
// SUBSCRIPTION / UNSUBSCRIPTION / GET / CLIENTACK / CLIENTROLLBACK with Canal's replies, silent
// successes and error ACKs. Each connection is a session on a Boost.Asio io_context; a GET that
// waits runs on a thread of its own so other sessions carry on. A malformed frame or packet
// ends only its session, with a log line; idle sessions close after the client's
// net_read_timeout / net_write_timeout. Thread contract: start() and stop() from one thread.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "server/common/status.h"
#include "server/instance/destination.h"

namespace canal::net {

struct ServerOptions {
  std::string ip;                 // canal.ip; empty: every interface
  int port = 11111;               // canal.port; 0: any free port
  std::string user;               // canal.user
  std::string passwordHash;       // canal.passwd: hex of SHA1(SHA1(password))
  std::uint32_t maxFrameLength = 64u * 1024 * 1024;
  int ioThreads = 2;
};

// Finds a destination by name; null when there is none (or it is not active on this server).
// Sessions keep the destination alive while a call on it runs.
using DestinationLookup = std::function<std::shared_ptr<instance::Destination>(const std::string& name)>;

// Hex of SHA1(SHA1(password)), what canal.passwd holds.
std::string passwordHash(const std::string& password);

class CanalServer {
 public:
  CanalServer(ServerOptions options, DestinationLookup destinations);
  ~CanalServer();

  Status start();
  void stop();
  int port() const;  // the bound port
  std::size_t sessions() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canal::net
