#pragma once

// Server HA over ZooKeeper (docs/operations.md, "High availability"): several servers configured for the
// same destinations; for each destination the one that creates the ephemeral node
// /otter/canal/destinations/<dest>/running ({"active":true,"address":"ip:port"}) runs it, the
// others stand by. Each server registers /otter/canal/cluster/<ip:port> and
// /otter/canal/destinations/<dest>/cluster/<ip:port> (ephemeral). When the running server dies,
// its session expires, the node goes, and a standby creates it and starts the destination from
// the cursors in ZooKeeper. A server whose session is cut off from ZooKeeper for two thirds of
// the session timeout stops its destinations before a standby can take over, and a server whose
// session expired opens a new one and stands by again.
// Thread contract: start/stop from one thread; the callbacks run on the election's thread.

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/common/status.h"
#include "server/common/zookeeper_session.h"

namespace canal::ha {

struct ElectionOptions {
  std::string zkServers;                        // canal.zkServers
  std::chrono::milliseconds sessionTimeout{6000};
  std::string address;                          // ip:port this server publishes
  std::chrono::milliseconds poll{200};
  std::chrono::milliseconds retryAfterFailure{5000};  // after a destination failed to start
};

struct ElectionMember {
  std::string destination;
  // Starts the destination with the session that owns its running node.
  std::function<Status(const std::shared_ptr<ZooKeeperSession>&)> activate;
  std::function<void()> release;  // stops it
};

class RunningElection {
 public:
  explicit RunningElection(ElectionOptions options);
  ~RunningElection();
  // Connects (Unavailable naming canal.zkServers when ZooKeeper does not answer), registers this
  // server and starts contending for every member's destination.
  Status start(std::vector<ElectionMember> members);
  // Releases every destination this server runs (its running nodes are deleted).
  void stop();
  bool active(const std::string& destination) const;
  // Contends for one more destination from the next round on. Any thread.
  void add(ElectionMember member);
  // Stops contending for `destination`: released (its running node deleted) when this server
  // runs it, and its cluster node removed. Returns once that is done. Any thread but the
  // election's.
  void remove(const std::string& destination);
  // The address (ip:port) of the server each destination's running node names, as last read
  // (empty: no server runs it), for the destinations this server contends for. Any thread.
  std::map<std::string, std::string> runningAt() const;

 private:
  struct Member {
    ElectionMember m;
    bool active = false;
    std::chrono::steady_clock::time_point nextTry{};
  };
  void run();
  void tick();
  void release(Member& m, bool deleteNode);
  void releaseAll(bool deleteNodes);
  void applyChanges();
  std::string runningData() const;
  void noteRunning(const std::string& destination, const std::string& data);

  const ElectionOptions options_;
  std::shared_ptr<ZooKeeperSession> session_;
  std::vector<Member> members_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> runningAt_;  // under mutex_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<ElectionMember> toAdd_;     // guarded by mutex_
  std::vector<std::string> toRemove_;     // guarded by mutex_
  std::uint64_t requested_ = 0;           // changes asked for / applied, guarded by mutex_
  std::uint64_t applied_ = 0;
  std::condition_variable appliedWake_;
  std::chrono::steady_clock::time_point lastConnected_;
  std::thread thread_;
};

}  // namespace canal::ha
