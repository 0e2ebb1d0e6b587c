// ClusterConnector: a single connector to whichever server runs the destination, found from a
// static list or from ZooKeeper's running node, replaced when that server goes away.

#include <zookeeper/zookeeper.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_set>

#include "canal/client/canal_connector.h"

namespace canal::client {
namespace {

using Clock = std::chrono::steady_clock;

bool lost(const Status& s) {
  return s.code() == Status::kNetwork || s.code() == Status::kTimeout || s.code() == Status::kNotConnected;
}

// The ZooKeeper session used to read the running node. Reconnects by itself (the C client
// does); calls wait for the session up to the given deadline.
class RunningNode {
 public:
  RunningNode(std::string servers, std::string destination)
      : servers_(std::move(servers)), path_("/otter/canal/destinations/" + destination + "/running") {}
  ~RunningNode() {
    if (zh_) zookeeper_close(zh_);
  }

  // The address in the running node; an error when there is none before `deadline`.
  Result<std::string> address(Clock::time_point deadline) {
    std::string last = "no ZooKeeper session";
    do {
      if (!zh_) {
        zoo_set_debug_level(static_cast<ZooLogLevel>(0));
        zh_ = zookeeper_init(servers_.c_str(), nullptr, 30000, nullptr, nullptr, 0);
        if (!zh_) return Status(Status::kInvalidArgument, "ZooKeeper connect string \"" + servers_ + "\" is not valid");
      }
      if (zoo_state(zh_) == ZOO_CONNECTED_STATE) {
        char buffer[1024];
        int length = sizeof buffer;
        const int rc = zoo_get(zh_, path_.c_str(), 0, buffer, &length, nullptr);
        if (rc == ZOK && length > 0) {
          const auto json = nlohmann::json::parse(std::string(buffer, static_cast<std::size_t>(length)), nullptr, false);
          if (json.is_object() && json.contains("address") && json["address"].is_string()) {
            return json["address"].get<std::string>();
          }
          last = "the running node " + path_ + " holds no address: " + std::string(buffer, static_cast<std::size_t>(length));
        } else {
          last = rc == ZNONODE ? "no server runs the destination (" + path_ + " does not exist)"
                               : "reading " + path_ + ": " + zerror(rc);
        }
      } else {
        last = "no ZooKeeper session with " + servers_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (Clock::now() < deadline);
    return Status(Status::kNetwork, last);
  }

 private:
  std::string servers_;
  std::string path_;
  zhandle_t* zh_ = nullptr;
};

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

  // Connects to the running server (ZooKeeper) or the next one of the list that accepts,
  // rolls back and subscribes again; rounds of attempts with doubling waits.
  Status attach() {
    Status last;
    auto wait = options_.retryInterval;
    const int rounds = std::max(1, options_.retries + 1);
    for (int round = 0; round < rounds; ++round) {
      if (round > 0) {
        std::this_thread::sleep_for(wait);
        wait *= 2;
      }
      std::vector<std::string> candidates;
      if (running_) {
        auto address = running_->address(Clock::now() + options_.connectTimeout);
        if (!address) {
          last = address.status();
          continue;
        }
        candidates.push_back(*address);
      } else {
        const std::size_t n = source_.addresses.size();
        if (n == 0) return Status(Status::kInvalidArgument, "no server addresses");
        for (std::size_t i = 0; i < n; ++i) candidates.push_back(source_.addresses[(next_ + i) % n]);
      }
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        ConnectorOptions single = options_;
        single.retries = 0;  // this connector moves on instead
        auto c = newSingleConnector(candidates[i], destination_, user_, password_, single);
        Status s = c->connect();
        if (s && subscribed_) s = c->subscribe(filter_);  // which rolls back, as on every connect
        if (!s) {
          last = Status(s.code(), candidates[i] + ": " + s.message());
          if (s.isServerError() && !running_) return last;  // credentials or destination: every server says so
          continue;
        }
        if (!running_) next_ = (next_ + i) % source_.addresses.size();
        current_ = std::move(c);
        currentAddress_ = candidates[i];
        return Status::ok();
      }
      if (!running_) next_ = (next_ + 1) % source_.addresses.size();
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
