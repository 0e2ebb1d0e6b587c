#pragma once

// One ZooKeeper session (the C client, multi-threaded) with the few synchronous calls the meta
// store and the running election need. A session that expired stays expired: its calls fail
// (ZooKeeper refuses every write of an expired session, which is what keeps a server that lost
// its running node from writing cursors), and the owner opens a new one.
// Thread contract: thread-safe (the C client serializes calls).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"

typedef struct _zhandle zhandle_t;

namespace canal {

class ZooKeeperSession {
 public:
  // Connects to `servers` ("host:port,..."); Unavailable naming them when no server answers
  // within `connectWait`.
  static Result<std::shared_ptr<ZooKeeperSession>> connect(const std::string& servers,
                                                            std::chrono::milliseconds sessionTimeout,
                                                            std::chrono::milliseconds connectWait);
  ~ZooKeeperSession();
  ZooKeeperSession(const ZooKeeperSession&) = delete;
  ZooKeeperSession& operator=(const ZooKeeperSession&) = delete;

  bool connected() const;
  bool expired() const;
  std::int64_t id() const;
  // The session timeout the server granted: ZooKeeper keeps it within [2, 20] x its tickTime,
  // so it may be longer than asked (connect() warns then).
  std::chrono::milliseconds negotiatedTimeout() const;
  const std::string& servers() const { return servers_; }

  // Creates `path` and its missing parents as persistent nodes (existing ones are kept).
  Status ensurePath(const std::string& path);
  // Creates an ephemeral node of this session; false when the node exists already.
  Result<bool> createEphemeral(const std::string& path, const std::string& data);
  // The node's data, or nullopt when there is no node; `owner` receives its ephemeral owner.
  Result<std::optional<std::string>> get(const std::string& path, std::int64_t* owner = nullptr);
  // Sets a persistent node's data, creating it (and its parents) when missing.
  Status put(const std::string& path, const std::string& data);
  Result<std::vector<std::string>> children(const std::string& path);
  // Deletes `path` and everything under it; fine when there is nothing.
  Status removeRecursive(const std::string& path);
  // Deletes the node only if this session owns it (an ephemeral node it created).
  Status removeOwned(const std::string& path);

 private:
  ZooKeeperSession(std::string servers, zhandle_t* handle) : servers_(std::move(servers)), zh_(handle) {}
  Status error(int rc, const std::string& what, const std::string& path) const;

  const std::string servers_;
  zhandle_t* zh_;
};

}  // namespace canal
