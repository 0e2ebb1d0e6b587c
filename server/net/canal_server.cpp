#include "server/net/canal_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/net/canal_session.h"
#include "server/net/connection.h"
#include "server/net/server_core.h"

namespace canal::net {

void ServerCore::accept() {
  if (stopping || !acceptor.is_open()) return;
  acceptor.async_accept(asio::make_strand(io), asio::bind_executor(acceptStrand, [this](boost::system::error_code ec,
                                                                                        tcp::socket socket) {
    accepted(ec, std::move(socket));
  }));
}

// On acceptStrand.
void ServerCore::accepted(boost::system::error_code ec, tcp::socket socket) {
  if (stopping || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors (or memory): the connection stays in the backlog, so accepting again at
    // once would spin. Back off, up to a second, and log once a minute with the count.
    ++acceptFailed;
    acceptDelay = std::min<std::chrono::milliseconds>(std::max(acceptDelay * 2, std::chrono::milliseconds(10)),
                                                      std::chrono::seconds(1));
    if (const auto repeats = acceptErrors.admit(ec.message())) {
      log->warn("accept: {}{}; accepting again in up to 1 s", ec.message(),
                *repeats ? " (and " + std::to_string(*repeats) + " more since last logged)" : "");
    }
    acceptBackoff.expires_after(acceptDelay);
    acceptBackoff.async_wait(asio::bind_executor(acceptStrand, [this](boost::system::error_code waited) {
      if (!waited) accept();
    }));
    return;
  }
  acceptDelay = std::chrono::milliseconds(0);
  std::shared_ptr<Connection> s;
  std::shared_ptr<Connection> oldest;  // closed to make room
  {
    std::lock_guard<std::mutex> lock(mutex);
    const bool full = sessions.size() >= maxConnections;
    if (full || unauthenticated >= maxUnauthenticated) {
      // The oldest unauthenticated connection of the address that has the most of them: a flood
      // from one address makes room from its own connections, not from a client logging in.
      std::unordered_map<std::string, std::pair<int, std::shared_ptr<Connection>>> byAddress;
      for (const auto& candidate : sessions) {
        if (!candidate->countedUnauthenticated) continue;
        auto& [count, first] = byAddress[candidate->address];
        ++count;
        if (!first || candidate->accepted < first->accepted) first = candidate;
      }
      int most = 0;
      for (const auto& [address, entry] : byAddress) {
        if (entry.first > most || (entry.first == most && entry.second->accepted < oldest->accepted)) {
          most = entry.first;
          oldest = entry.second;
        }
      }
      if (oldest) {
        oldest->countedUnauthenticated = false;
        --unauthenticated;
      }
    }
    if (oldest || !full) {
      boost::system::error_code ignored;
      const std::string address = socket.remote_endpoint(ignored).address().to_string(ignored);
      s = makeCanalSession(*this, std::move(socket));
      s->address = address;
      sessions.insert(s);
      ++unauthenticated;
    }
  }
  if (oldest) {
    ++evicted;
    asio::dispatch(oldest->strand, [oldest] { oldest->close("unauthenticated, and the oldest such when room was needed"); });
  }
  if (s) {
    s->start();
  } else {
    ++refused;
    if (const auto repeats = acceptErrors.admit("connection limit")) {
      log->warn("{} connections already: closing new ones{}", maxConnections.load(),
                *repeats ? " (" + std::to_string(*repeats) + " more since last logged)" : "");
    }
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  accept();
}

void ServerCore::forget(const std::shared_ptr<Connection>& s) {
  std::lock_guard<std::mutex> lock(mutex);
  if (sessions.erase(s) > 0 && s->countedUnauthenticated) --unauthenticated;
  s->countedUnauthenticated = false;
  if (sessions.empty()) sessionsGone.notify_all();
}

void ServerCore::authenticated(Connection& s) {
  std::lock_guard<std::mutex> lock(mutex);
  if (s.countedUnauthenticated) --unauthenticated;
  s.countedUnauthenticated = false;
}

void ServerCore::shed() {
  std::shared_ptr<Connection> largest;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& s : sessions) {
      if (!largest || s->receiving > largest->receiving) largest = s;
    }
  }
  if (!largest || largest->receiving == 0) return;
  ++overBudget;
  const std::string why = "frames being received exceed canal.net.receive.budget (" +
                          std::to_string(receiveBudget.load()) + " bytes); this connection's is the largest (" +
                          std::to_string(largest->receiving.load()) + " bytes)";
  log->warn("session from {}: {}", largest->address, why);
  // The session calling is on its own strand: it closes at once; another on its strand.
  if (largest->strand.running_in_this_thread()) return largest->close(why);
  asio::dispatch(largest->strand, [largest, why] { largest->close(why); });
}

CanalServer::CanalServer(ServerOptions options, DestinationLookup destinations)
    : impl_(std::make_unique<ServerCore>(std::move(options), std::move(destinations))) {}

CanalServer::~CanalServer() { stop(); }

Status CanalServer::listen() {
  if (impl_->acceptor.is_open()) return Status::ok();
  boost::system::error_code ec;
  const auto address = impl_->options.ip.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                                 : asio::ip::make_address(impl_->options.ip, ec);
  if (ec) return Status::invalidArgument("canal.ip " + impl_->options.ip + ": " + ec.message());
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->options.port));
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    return Status::unavailable("cannot listen on " + (impl_->options.ip.empty() ? "*" : impl_->options.ip) + ":" +
                               std::to_string(impl_->options.port) + ": " + ec.message());
  }
  return Status::ok();
}

Status CanalServer::start() {
  if (!impl_->threads.empty()) return Status::ok();
  CANAL_RETURN_IF_ERROR(listen());
  impl_->work.emplace(impl_->io.get_executor());
  asio::post(impl_->acceptStrand, [this] { impl_->accept(); });
  for (int i = 0; i < std::max(1, impl_->options.ioThreads); ++i) {
    impl_->threads.emplace_back([this] {
      nameThisThread("canal-net");
      impl_->io.run();
    });
  }
  impl_->log->info("serving the Canal protocol on port {}", port());
  return Status::ok();
}

void CanalServer::stop() {
  if (impl_->threads.empty()) {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    return;
  }
  asio::post(impl_->acceptStrand, [this] {
    impl_->stopping = true;
    impl_->acceptBackoff.cancel();
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    std::set<std::shared_ptr<Connection>> sessions;
    {
      std::lock_guard<std::mutex> lock(impl_->mutex);
      sessions = impl_->sessions;
    }
    for (const auto& s : sessions) asio::post(s->strand, [s] { s->close(""); });
  });
  impl_->work.reset();
  // Sessions close on their strands; whatever is still pending after that is dropped.
  {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    impl_->sessionsGone.wait_for(lock, std::chrono::seconds(2), [this] { return impl_->sessions.empty(); });
  }
  {
    // Calls under way finish; their replies are dropped with the sessions.
    std::lock_guard<std::mutex> lock(impl_->lanesMutex);
    for (auto& [name, lane] : impl_->lanes) lane->join();
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  std::lock_guard<std::mutex> lock(impl_->lanesMutex);
  impl_->lanes.clear();
}

int CanalServer::port() const {
  boost::system::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

std::size_t CanalServer::sessions() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->sessions.size();
}

std::uint64_t CanalServer::refusedConnections() const { return impl_->refused; }

std::uint64_t CanalServer::acceptFailures() const { return impl_->acceptFailed; }

std::size_t CanalServer::heldBackSessions() const { return impl_->heldBack; }

void CanalServer::apply(const RuntimeOptions& runtime) {
  {
    std::lock_guard<std::mutex> lock(impl_->credentialsMutex);
    impl_->options.user = runtime.user;
    impl_->options.passwordHash = runtime.passwordHash;
  }
  impl_->authTimeoutMs = runtime.authTimeout.count();
  impl_->maxConnections = runtime.maxConnections;
  impl_->maxUnauthenticated = runtime.maxUnauthenticated;
  impl_->receiveBudget = runtime.receiveBudget;
}
std::size_t CanalServer::receivingBytes() const { return impl_->receiving; }
std::uint64_t CanalServer::overBudgetCloses() const { return impl_->overBudget; }
std::uint64_t CanalServer::unauthenticatedEvictions() const { return impl_->evicted; }

}  // namespace canal::net
