#pragma once

// What the connections of one CanalServer share (net/ only): the options and limits in force,
// the io_context and its threads, the acceptor, every connection (with the classes they are
// counted in), the destinations' lanes for calls that write, and the authentication throttle.
// Thread contract: members are guarded as each says; the connections run on their strands.

#include <utility>  // before Boost.Asio, which uses std::exchange
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "server/common/logging.h"
#include "server/common/thread_name.h"
#include "server/net/canal_server.h"

namespace canal::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class Connection;

struct ServerCore {

  ServerOptions options;
  DestinationLookup destinations;
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  // Calls that write to disk or ZooKeeper (subscribe, unsubscribe, ack) run off the network
  // threads, on one thread per destination: a destination whose writes are slow (a RocksDB
  // journal behind a backlog, a slow disk) holds up its own clients only. The session reads its
  // next request when the call is done, so requests stay ordered.
  std::mutex lanesMutex;
  std::map<std::string, std::unique_ptr<asio::thread_pool>> lanes;
  asio::thread_pool& lane(const std::string& destination) {
    std::lock_guard<std::mutex> lock(lanesMutex);
    auto& pool = lanes[destination];
    if (!pool) {
      pool = std::make_unique<asio::thread_pool>(1);
      asio::post(*pool, [destination] { nameThisThread("acks:" + destination); });
    }
    return *pool;
  }
  std::mutex mutex;
  std::set<std::shared_ptr<Connection>> sessions;
  std::size_t unauthenticated = 0;  // sessions not authenticated and not being evicted (mutex)
  // options.user and options.passwordHash change under this (apply()); the limits are atomics.
  mutable std::mutex credentialsMutex;
  std::atomic<std::int64_t> authTimeoutMs{options.authTimeout.count()};
  std::atomic<std::size_t> maxConnections{options.maxConnections};
  std::atomic<std::size_t> maxUnauthenticated{options.maxUnauthenticated};
  std::atomic<std::size_t> receiveBudget{options.receiveBudget};
  std::pair<std::string, std::string> credentials() const {
    std::lock_guard<std::mutex> lock(credentialsMutex);
    return {options.user, options.passwordHash};
  }
  std::atomic<std::size_t> receiving{0};  // bytes of frames being received, every session
  std::atomic<std::uint64_t> overBudget{0};
  std::atomic<std::uint64_t> evicted{0};
  std::condition_variable sessionsGone;  // notified when the last session is forgotten
  std::shared_ptr<spdlog::logger> log = moduleLogger("net");
  // The acceptor is opened, armed and closed on this strand only.
  asio::strand<asio::io_context::executor_type> acceptStrand{asio::make_strand(io)};
  asio::steady_timer acceptBackoff{acceptStrand};
  std::chrono::milliseconds acceptDelay{0};  // after a failed accept (out of descriptors)
  bool stopping = false;                     // on acceptStrand
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::size_t> heldBack{0};  // sessions with readPaused
  std::atomic<std::uint64_t> acceptFailed{0};
  RepeatFilter acceptErrors;
  RepeatFilter authFailures;
  RepeatFilter unauthenticatedCloses;
  // Failed authentications by peer address. Each failure's reply is held back longer while the
  // address keeps failing, so passwords cannot be tried at network speed over many connections.
  struct FailedAuths {
    int count = 0;
    Clock::time_point last;
  };
  std::mutex authMutex;
  std::unordered_map<std::string, FailedAuths> failedAuths;

  // The delay before the reply to a failed authentication from `address`: options.authFailureDelay,
  // doubling with every further failure from it up to 32 times that; forgotten after a minute
  // without one.
  std::chrono::milliseconds authFailureDelay(const std::string& address) {
    constexpr auto kForget = std::chrono::minutes(1);
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(authMutex);
    if (failedAuths.size() > 4096) {
      for (auto it = failedAuths.begin(); it != failedAuths.end();) {
        it = now - it->second.last > kForget ? failedAuths.erase(it) : std::next(it);
      }
    }
    FailedAuths& f = failedAuths[address];
    if (now - f.last > kForget) f.count = 0;
    f.last = now;
    const int doublings = std::min(f.count++, 5);
    return options.authFailureDelay * (1 << doublings);
  }

  ServerCore(ServerOptions o, DestinationLookup d) : options(std::move(o)), destinations(std::move(d)) {}
  void accept();
  void accepted(boost::system::error_code ec, tcp::socket socket);
  void forget(const std::shared_ptr<Connection>& s);
  // Counts `s` as authenticated (out of the unauthenticated class).
  void authenticated(Connection& s);
  // Over receiveBudget: closes the session receiving the largest frame.
  void shed();
};

}  // namespace canal::net
