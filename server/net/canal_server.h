#pragma once

// Canal's client protocol on TCP (docs/protocol.md): a handshake with a fresh 8-byte seed,
// authentication against canal.user / canal.passwd with the seeded SHA-1 scramble, then
// SUBSCRIPTION / UNSUBSCRIPTION / GET / CLIENTACK / CLIENTROLLBACK with Canal's replies, silent
// successes and error ACKs. Each connection is a session on a strand of a Boost.Asio io_context;
// a GET that waits holds no thread (the destination wakes it when its batch is ready, a timer at
// its deadline), and subscribe, unsubscribe and ack, which write to disk or ZooKeeper, run off the
// network threads on one thread per destination (a destination slow to write holds up only its
// own clients). A malformed frame or packet ends only its session, with a log line; idle
// sessions close after the client's net_read_timeout / net_write_timeout.
// Destinations are reached through instance::ClientSessions only.
// Thread contract: listen(), start() and stop() from one thread; the rest from any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "auth_throttle.h"
#include "server/common/status.h"
#include "server/instance/client_sessions.h"

namespace canal::net {

struct ServerOptions {
  std::string ip;                 // canal.ip; empty: every interface
  int port = 11111;               // canal.port; 0: any free port
  std::string user;               // canal.user
  std::string passwordHash;       // canal.passwd: hex of SHA1(SHA1(password))
  std::uint32_t maxFrameLength = 64u * 1024 * 1024;  // once authenticated
  std::uint32_t maxAuthFrameLength = 64u * 1024;     // before: a ClientAuth is tiny
  // A connection that has not authenticated by then is closed (canal.net.auth.timeout).
  std::chrono::milliseconds authTimeout{30000};
  int authAttempts = 3;            // failed authentications before the connection is closed
  // The reply to a failed authentication comes after this delay, doubled for each further failure
  // from the same address within a minute (up to 32 times), over every connection.
  std::chrono::milliseconds authFailureDelay{250};
  // Failed authentications held to a rate per address and in all, shared with the HTTP port
  // (null: none); an attempt it refuses is answered as failed without being checked.
  std::shared_ptr<http::AuthThrottle> throttle;
  std::size_t maxConnections = 1024;  // canal.net.connections.max; more are closed at once
  // Connections not authenticated yet, at most (canal.net.connections.unauthenticated.max): a
  // new one beyond it, or beyond maxConnections, closes the oldest of them, so idle or slow peers
  // cannot keep clients out. Authenticated clients are never closed for a newcomer.
  std::size_t maxUnauthenticated = 128;
  // Bytes of frames being received, over every connection (canal.net.receive.budget): beyond it
  // the connection receiving the largest frame is closed.
  std::size_t receiveBudget = 256u * 1024 * 1024;
  // Replies queued for a session beyond this: its next request is read once they drain.
  std::size_t maxPendingOutput = 4u * 1024 * 1024;
  int ioThreads = 2;
};

// What may change while the server runs (canal.properties re-read on SIGHUP).
struct RuntimeOptions {
  std::string user;
  std::string passwordHash;
  std::chrono::milliseconds authTimeout{30000};
  std::size_t maxConnections = 1024;
  std::size_t maxUnauthenticated = 128;
  std::size_t receiveBudget = 256u * 1024 * 1024;
};

// Finds a destination's client sessions by name; null when there is none (or it is not active on
// this server). Sessions keep what it returns alive while a call on it runs.
using DestinationLookup = std::function<std::shared_ptr<instance::ClientSessions>(const std::string& name)>;

struct ServerCore;  // server_core.h

class CanalServer {
 public:
  CanalServer(ServerOptions options, DestinationLookup destinations);
  ~CanalServer();

  // Binds and listens (the port is known from then on); connections wait in the backlog.
  Status listen();
  // Starts accepting and serving (listens first if listen() was not called).
  Status start();
  void stop();
  // New credentials and limits for what comes next: logins from now on, connections accepted
  // from now on (sessions already open stay), frames read from now on.
  void apply(const RuntimeOptions& runtime);
  int port() const;  // the bound port
  std::size_t sessions() const;
  // Connections refused (over maxConnections) and accept failures (out of descriptors), so far.
  std::uint64_t refusedConnections() const;
  std::uint64_t acceptFailures() const;
  // Sessions whose next request waits until their queued replies drain (clients not reading).
  std::size_t heldBackSessions() const;
  // Bytes of frames being received now, and connections closed to stay within receiveBudget or
  // to make room for a newcomer (the oldest unauthenticated), so far.
  std::size_t receivingBytes() const;
  std::uint64_t overBudgetCloses() const;
  std::uint64_t unauthenticatedEvictions() const;

 private:
  std::unique_ptr<ServerCore> impl_;
};

}  // namespace canal::net
