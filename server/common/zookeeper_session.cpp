#include "server/common/zookeeper_session.h"

#include <zookeeper/zookeeper.h>

#include <spdlog/spdlog.h>

#include <thread>

#include "server/common/logging.h"

namespace canal {

Result<std::shared_ptr<ZooKeeperSession>> ZooKeeperSession::connect(const std::string& servers,
                                                                     std::chrono::milliseconds sessionTimeout,
                                                                     std::chrono::milliseconds connectWait) {
  if (servers.empty()) return Status::invalidArgument("no ZooKeeper servers given (canal.zkServers)");
  zoo_set_debug_level(static_cast<ZooLogLevel>(0));
  zhandle_t* zh = zookeeper_init(servers.c_str(), nullptr, static_cast<int>(sessionTimeout.count()), nullptr, nullptr, 0);
  if (!zh) return Status::unavailable("cannot start a ZooKeeper client for " + servers, "canal.zkServers");
  std::shared_ptr<ZooKeeperSession> session(new ZooKeeperSession(servers, zh));
  const auto deadline = std::chrono::steady_clock::now() + connectWait;
  while (!session->connected()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::unavailable("ZooKeeper " + servers + " did not answer within " +
                                     std::to_string(connectWait.count()) + " ms",
                                 "canal.zkServers");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // ZooKeeper keeps a session timeout within [2, 20] x its tickTime, whatever was asked.
  const int negotiated = zoo_recv_timeout(zh);
  auto log = moduleLogger("zookeeper");
  if (negotiated > sessionTimeout.count()) {
    log->warn("ZooKeeper {} set the session timeout to {} ms, not the {} ms asked (canal.zookeeper.session.timeout): "
              "its sessions last at least 2 x tickTime; set tickTime to {} ms or less in zoo.cfg for this timeout",
              servers, negotiated, sessionTimeout.count(), sessionTimeout.count() / 2);
  } else {
    log->info("ZooKeeper {}: session timeout {} ms", servers, negotiated);
  }
  return session;
}

ZooKeeperSession::~ZooKeeperSession() {
  if (zh_) zookeeper_close(zh_);
}

bool ZooKeeperSession::connected() const { return zoo_state(zh_) == ZOO_CONNECTED_STATE; }
bool ZooKeeperSession::expired() const {
  const int state = zoo_state(zh_);
  return state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE;
}
std::int64_t ZooKeeperSession::id() const { return zoo_client_id(zh_)->client_id; }
std::chrono::milliseconds ZooKeeperSession::negotiatedTimeout() const {
  return std::chrono::milliseconds(zoo_recv_timeout(zh_));
}

Status ZooKeeperSession::error(int rc, const std::string& what, const std::string& path) const {
  return Status::unavailable(what + " " + path + ": " + zerror(rc), "ZooKeeper " + servers_);
}

Status ZooKeeperSession::ensurePath(const std::string& path) {
  std::size_t slash = 0;
  while (slash != std::string::npos) {
    slash = path.find('/', slash + 1);
    const std::string prefix = path.substr(0, slash);
    const int rc = zoo_create(zh_, prefix.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) return error(rc, "create", prefix);
  }
  return Status::ok();
}

Result<bool> ZooKeeperSession::createEphemeral(const std::string& path, const std::string& data) {
  const int rc = zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE,
                            ZOO_EPHEMERAL, nullptr, 0);
  if (rc == ZOK) return true;
  if (rc == ZNODEEXISTS) return false;
  return error(rc, "create", path);
}

Result<std::optional<std::string>> ZooKeeperSession::get(const std::string& path, std::int64_t* owner) {
  std::string buffer(256 << 10, '\0');
  int length = static_cast<int>(buffer.size());
  Stat stat{};
  const int rc = zoo_get(zh_, path.c_str(), 0, buffer.data(), &length, &stat);
  if (rc == ZNONODE) return std::optional<std::string>();
  if (rc != ZOK) return error(rc, "get", path);
  if (owner) *owner = stat.ephemeralOwner;
  buffer.resize(length < 0 ? 0 : static_cast<std::size_t>(length));
  return std::optional<std::string>(std::move(buffer));
}

Status ZooKeeperSession::put(const std::string& path, const std::string& data) {
  int rc = zoo_set(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), -1);
  if (rc == ZNONODE) {
    const auto parent = path.substr(0, path.rfind('/'));
    if (!parent.empty()) CANAL_RETURN_IF_ERROR(ensurePath(parent));
    rc = zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
    if (rc == ZNODEEXISTS) rc = zoo_set(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), -1);
  }
  return rc == ZOK ? Status::ok() : error(rc, "set", path);
}

Result<std::vector<std::string>> ZooKeeperSession::children(const std::string& path) {
  String_vector names{};
  const int rc = zoo_get_children(zh_, path.c_str(), 0, &names);
  if (rc == ZNONODE) return std::vector<std::string>();
  if (rc != ZOK) return error(rc, "list", path);
  std::vector<std::string> out(names.data, names.data + names.count);
  deallocate_String_vector(&names);
  return out;
}

Status ZooKeeperSession::removeRecursive(const std::string& path) {
  auto kids = children(path);
  if (!kids) return kids.status();
  for (const std::string& k : *kids) CANAL_RETURN_IF_ERROR(removeRecursive(path + "/" + k));
  const int rc = zoo_delete(zh_, path.c_str(), -1);
  return rc == ZOK || rc == ZNONODE ? Status::ok() : error(rc, "delete", path);
}

Status ZooKeeperSession::removeOwned(const std::string& path) {
  Stat stat{};
  int rc = zoo_exists(zh_, path.c_str(), 0, &stat);
  if (rc == ZNONODE) return Status::ok();
  if (rc != ZOK) return error(rc, "read", path);
  if (stat.ephemeralOwner != id()) return Status::ok();
  rc = zoo_delete(zh_, path.c_str(), stat.version);
  return rc == ZOK || rc == ZNONODE ? Status::ok() : error(rc, "delete", path);
}

}  // namespace canal
