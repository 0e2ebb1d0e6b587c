// ClusterConnector: a single connector to whichever server runs the destination, found from a
// static list or from ZooKeeper's running node, replaced when that server goes away.

#include <zookeeper/zookeeper.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "canal/client/canal_connector.h"

namespace canal::client {
namespace {

using Clock = std::chrono::steady_clock;

bool lost(const Status& s) {
  return s.code() == Status::kNetwork || s.code() == Status::kTimeout || s.code() == Status::kNotConnected;
}

// The ZooKeeper session used to read the running node, with a watch on it: a change (a new
// server taking the destination over) wakes a waiting call at once. Reconnects by itself (the C
// client does); calls wait for the session up to the given deadline.
class RunningNode {
 public:
  RunningNode(std::string servers, std::string destination)
      : servers_(std::move(servers)), path_("/otter/canal/destinations/" + destination + "/running") {}
  ~RunningNode() {
    if (zh_) zookeeper_close(zh_);
  }

  // The address in the running node; an error when there is none before `deadline` (kNetwork,
  // or kInvalidArgument for a connect string the client refuses).
  Result<std::string> address(Clock::time_point deadline) {
    std::string last = "no ZooKeeper session";
    for (;;) {
      if (!zh_) {
        zoo_set_debug_level(static_cast<ZooLogLevel>(0));
        zh_ = zookeeper_init(servers_.c_str(), onEvent, 30000, nullptr, this, 0);
        if (!zh_) return Status(Status::kInvalidArgument, "ZooKeeper connect string \"" + servers_ + "\" is not valid");
      }
      const std::uint64_t seen = changes();
      if (zoo_state(zh_) == ZOO_CONNECTED_STATE) {
        char buffer[1024];
        int length = sizeof buffer;
        // Read with a watch: its change, or its creation after a ZNONODE, wakes the wait below.
        int rc = zoo_wget(zh_, path_.c_str(), onEvent, this, buffer, &length, nullptr);
        if (rc == ZNONODE) rc = zoo_wexists(zh_, path_.c_str(), onEvent, this, nullptr) == ZOK ? ZOK : ZNONODE;
        if (rc == ZOK && length > 0) {
          const auto json = nlohmann::json::parse(std::string(buffer, static_cast<std::size_t>(length)), nullptr, false);
          if (json.is_object() && json.contains("address") && json["address"].is_string()) {
            return json["address"].get<std::string>();
          }
          last = "the running node " + path_ + " holds no address: " + std::string(buffer, static_cast<std::size_t>(length));
        } else {
          last = rc == ZNONODE || rc == ZOK ? "no server runs the destination yet (" + path_ + " does not exist)"
                                            : "reading " + path_ + ": " + zerror(rc);
        }
      } else {
        last = "no ZooKeeper session with " + servers_;
      }
      if (Clock::now() >= deadline) return Status(Status::kNetwork, last);
      waitForChange(seen, std::min(deadline, Clock::now() + std::chrono::milliseconds(200)));
    }
  }

  // Waits until the node (or the session) changes after `seen` changes, or `until`.
  void waitForChange(std::uint64_t seen, Clock::time_point until) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_until(lock, until, [&] { return changes_ != seen; });
  }
  std::uint64_t changes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return changes_;
  }

 private:
  // The C client's thread: the watched node or the session changed.
  static void onEvent(zhandle_t*, int, int, const char*, void* context) {
    auto* self = static_cast<RunningNode*>(context);
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      ++self->changes_;
    }
    self->changed_.notify_all();
  }

  std::string servers_;
  std::string path_;
  zhandle_t* zh_ = nullptr;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t changes_ = 0;
};

// A refusal that a takeover in progress explains: the server named does not run the destination
// yet (or any more).
bool notRunningYet(const Status& s) {
  return s.isServerError() && s.message().find("should start first") != std::string::npos;
}

class ClusterConnector : public CanalConnector {
 public:
  ClusterConnector(ClusterSource source, std::string destination, std::string user, std::string password,
                   ConnectorOptions options)
      : source_(std::move(source)),
        destination_(std::move(destination)),
        user_(std::move(user)),
        password_(std::move(password)),
        options_(options) {
    if (!source_.zkServers.empty()) running_ = std::make_unique<RunningNode>(source_.zkServers, destination_);
  }

  Status connect() override {
    connected_ = true;
    return attach();
  }

  void disconnect() override {
    connected_ = false;
    if (current_) current_->disconnect();
    current_.reset();
    pending_.clear();
  }

  bool checkValid() const override { return current_ && current_->checkValid(); }

  Status subscribe(const std::string& filter) override {
    Status s = run([&](CanalConnector& c) { return c.subscribe(filter); });
    if (s) {
      subscribed_ = true;
      if (!filter.empty()) filter_ = filter;
    }
    return s;
  }

  Status unsubscribe() override {
    Status s = run([](CanalConnector& c) { return c.unsubscribe(); });
    if (s) subscribed_ = false;
    return s;
  }

  Result<Message> getWithoutAck(int batchSize, std::optional<std::chrono::milliseconds> timeout) override {
    std::optional<Message> got;
    Status s = run([&](CanalConnector& c) -> Status {
      auto m = c.getWithoutAck(batchSize, timeout);
      if (!m) return m.status();
      got = std::move(*m);
      return Status::ok();
    });
    if (!s) return s;
    if (got->id() != -1) pending_.insert(got->id());
    return std::move(*got);
  }

  Status ack(std::int64_t batchId) override {
    if (batchId == -1) return Status::ok();
    if (!pending_.count(batchId)) return gone(batchId);
    Status s = current_ ? current_->ack(batchId) : Status(Status::kNotConnected, "not connected");
    if (lost(s)) {
      failover();
      return gone(batchId);
    }
    if (s) eraseUpTo(batchId);
    return s;
  }

  Status rollback(std::int64_t batchId) override {
    if (batchId != 0 && !pending_.count(batchId)) return Status::ok();  // given back by the failover already
    Status s = current_ ? current_->rollback(batchId) : Status(Status::kNotConnected, "not connected");
    if (lost(s)) {
      failover();
      return Status::ok();  // the new connection starts with a rollback of everything
    }
    if (s) {
      if (batchId == 0) pending_.clear();
      else eraseFrom(batchId);
    }
    return s;
  }

  Status rollback() override { return rollback(0); }

 private:
  static Status gone(std::int64_t batchId) {
    return Status(Status::kNetwork, "batch " + std::to_string(batchId) +
                                        " came from a server connection that was lost; its entries come again");
  }

  void eraseUpTo(std::int64_t batchId) { std::erase_if(pending_, [&](std::int64_t id) { return id <= batchId; }); }
  void eraseFrom(std::int64_t batchId) { std::erase_if(pending_, [&](std::int64_t id) { return id >= batchId; }); }

  // Runs `call` on the current server; when the connection is lost, or (ZooKeeper) the server
  // refuses and another one now runs the destination, moves there and runs it again.
  template <typename Call>
  Status run(Call&& call) {
    if (!connected_) return Status(Status::kNotConnected, "connect() first");
    if (!current_) {
      if (Status a = attach(); !a) return a;
    }
    Status s = call(*current_);
    for (int round = 0; round < 2 && !s; ++round) {
      const bool moved = s.isServerError() && running_ && runningChanged();
      if (!lost(s) && !moved) return s;
      if (Status a = failover(); !a) return a;
      s = call(*current_);
    }
    return s;
  }

  bool runningChanged() {
    auto address = running_->address(Clock::now() + std::chrono::milliseconds(500));
    return address && *address != currentAddress_;
  }

  // Drops the current connection; everything fetched from it and not acked comes again.
  Status failover() {
    if (current_) current_->disconnect();
    current_.reset();
    pending_.clear();
    return attach();
  }

  // Connects to the server in the running node, rolls back and subscribes again; looks again
  // (at once when the node changes, else every 200 ms; sooner while the server it names is
  // starting the destination) while none runs the destination, until options_.failoverTimeout.
  Status attachRunning() {
    const auto deadline = options_.failoverTimeout.count() > 0 ? Clock::now() + options_.failoverTimeout
                                                               : Clock::time_point::max();
    auto starting = std::chrono::milliseconds(10);  // the next look at a server starting up
    for (;;) {
      const std::uint64_t seen = running_->changes();
      auto address = running_->address(Clock::now());  // one read: the wait is below
      Status last = address.status();
      bool startingUp = false;
      if (address) {
        ConnectorOptions single = options_;
        single.retries = 0;  // this connector looks again instead
        auto c = newSingleConnector(*address, destination_, user_, password_, single);
        Status s = c->connect();
        if (s && subscribed_) s = c->subscribe(filter_);  // which rolls back, as on every connect
        if (s) {
          current_ = std::move(c);
          currentAddress_ = *address;
          return Status::ok();
        }
        last = Status(s.code(), *address + ": " + s.message());
        // A refused login or filter: every server says so.
        if (s.isServerError() && !notRunningYet(s)) return last;
        // The server that took the destination over is starting it (tens of ms): asked again soon.
        startingUp = notRunningYet(s);
      } else if (last.code() == Status::kInvalidArgument) {
        return last;
      }
      if (Clock::now() >= deadline) return last;
      if (options_.onFailoverWait) options_.onFailoverWait(last);
      const auto pause = startingUp ? starting : std::chrono::milliseconds(200);
      if (startingUp) starting = std::min(starting * 2, std::chrono::milliseconds(200));
      running_->waitForChange(seen, std::min(deadline, Clock::now() + pause));
    }
  }

  // Connects to the running server (ZooKeeper) or the next one of the list that accepts,
  // rolls back and subscribes again; for a list, rounds of attempts with doubling waits.
  Status attach() {
    if (running_) return attachRunning();
    const std::size_t n = source_.addresses.size();
    if (n == 0) return Status(Status::kInvalidArgument, "no server addresses");
    Status last;
    auto wait = options_.retryInterval;
    const int rounds = std::max(1, options_.retries + 1);
    for (int round = 0; round < rounds; ++round) {
      if (round > 0) {
        std::this_thread::sleep_for(wait);
        wait *= 2;
      }
      for (std::size_t i = 0; i < n; ++i) {
        const std::string& candidate = source_.addresses[(next_ + i) % n];
        ConnectorOptions single = options_;
        single.retries = 0;  // this connector moves on instead
        auto c = newSingleConnector(candidate, destination_, user_, password_, single);
        Status s = c->connect();
        if (s && subscribed_) s = c->subscribe(filter_);  // which rolls back, as on every connect
        if (!s) {
          last = Status(s.code(), candidate + ": " + s.message());
          if (s.isServerError()) return last;  // credentials or destination: every server says so
          continue;
        }
        next_ = (next_ + i) % n;
        current_ = std::move(c);
        currentAddress_ = candidate;
        return Status::ok();
      }
      next_ = (next_ + 1) % n;
    }
    return last;
  }

  ClusterSource source_;
  std::string destination_;
  std::string user_;
  std::string password_;
  ConnectorOptions options_;
  std::unique_ptr<RunningNode> running_;
  std::unique_ptr<CanalConnector> current_;
  std::string currentAddress_;
  std::size_t next_ = 0;  // the list entry tried first
  bool connected_ = false;
  bool subscribed_ = false;
  std::string filter_;
  std::unordered_set<std::int64_t> pending_;  // batches fetched from the current connection, not acked
};

}  // namespace

ClusterSource ClusterSource::list(const std::string& commaSeparated) {
  ClusterSource s;
  std::size_t from = 0;
  while (from <= commaSeparated.size()) {
    std::size_t comma = commaSeparated.find(',', from);
    if (comma == std::string::npos) comma = commaSeparated.size();
    std::string item = commaSeparated.substr(from, comma - from);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) s.addresses.push_back(item);
    from = comma + 1;
  }
  return s;
}

std::unique_ptr<CanalConnector> newClusterConnector(ClusterSource source, const std::string& destination,
                                                    const std::string& user, const std::string& password,
                                                    ConnectorOptions options) {
  return std::make_unique<ClusterConnector>(std::move(source), destination, user, password, options);
}

}  // namespace canal::client
