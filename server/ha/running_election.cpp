#include "server/ha/running_election.h"

#include <spdlog/spdlog.h>

#include "server/common/logging.h"
#include "server/common/thread_name.h"

namespace canal::ha {
namespace {

const std::string kRoot = "/otter/canal";

std::string runningPath(const std::string& destination) { return kRoot + "/destinations/" + destination + "/running"; }

}  // namespace

RunningElection::RunningElection(ElectionOptions options) : options_(std::move(options)) {}

RunningElection::~RunningElection() { stop(); }

void RunningElection::noteRunning(const std::string& destination, const std::string& data) {
  // {"active":true,"address":"ip:port"}
  const std::string key = "\"address\":\"";
  std::string address;
  if (const auto at = data.find(key); at != std::string::npos) {
    const auto end = data.find('"', at + key.size());
    if (end != std::string::npos) address = data.substr(at + key.size(), end - at - key.size());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  runningAt_[destination] = address;
}

std::map<std::string, std::string> RunningElection::runningAt() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return runningAt_;
}

std::string RunningElection::runningData() const {
  return "{\"active\":true,\"address\":\"" + options_.address + "\"}";
}

Status RunningElection::start(std::vector<ElectionMember> members) {
  auto session = ZooKeeperSession::connect(options_.zkServers, options_.sessionTimeout, std::chrono::seconds(10));
  if (!session) return session.status();
  session_ = std::move(*session);
  CANAL_RETURN_IF_ERROR(session_->ensurePath(kRoot + "/destinations"));
  CANAL_RETURN_IF_ERROR(session_->ensurePath(kRoot + "/cluster"));
  for (ElectionMember& m : members) members_.push_back(Member{std::move(m), false, {}});
  lastConnected_ = std::chrono::steady_clock::now();
  tick();
  thread_ = std::thread([this] {
    nameThisThread("ha-election");
    run();
  });
  return Status::ok();
}

void RunningElection::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  appliedWake_.notify_all();
  if (thread_.joinable()) thread_.join();
  releaseAll(true);
  session_.reset();
}

void RunningElection::add(ElectionMember member) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    toAdd_.push_back(std::move(member));
    ++requested_;
  }
  wake_.notify_all();
}

void RunningElection::remove(const std::string& destination) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_ || !thread_.joinable()) return;
  toRemove_.push_back(destination);
  const std::uint64_t ticket = ++requested_;
  wake_.notify_all();
  appliedWake_.wait(lock, [&] { return applied_ >= ticket || stopping_; });
  runningAt_.erase(destination);  // no longer read here
}

void RunningElection::applyChanges() {
  std::vector<ElectionMember> added;
  std::vector<std::string> removed;
  std::uint64_t requested = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (applied_ == requested_) return;
    added.swap(toAdd_);
    removed.swap(toRemove_);
    requested = requested_;
  }
  for (const std::string& name : removed) {
    for (auto it = members_.begin(); it != members_.end(); ++it) {
      if (it->m.destination != name) continue;
      // The running node goes last: once it is gone, nothing of the destination is left here
      // (other servers, and anyone watching it, may act on its deletion at once).
      if (session_) {
        const Status s = session_->removeOwned(kRoot + "/destinations/" + name + "/cluster/" + options_.address);
        if (!s.isOk()) moduleLogger("ha")->warn("destination {}: leaving the cluster: {}", name, s.toString());
      }
      if (it->active) release(*it, true);
      std::lock_guard<std::mutex> lock(mutex_);
      members_.erase(it);
      break;
    }
  }
  // A destination removed and added in one round (a restart) is added after the removal.
  for (ElectionMember& m : added) {
    std::lock_guard<std::mutex> lock(mutex_);
    members_.push_back(Member{std::move(m), false, {}});
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    applied_ = requested;
  }
  appliedWake_.notify_all();
}

bool RunningElection::active(const std::string& destination) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const Member& m : members_) {
    if (m.m.destination == destination) return m.active;
  }
  return false;
}

void RunningElection::release(Member& m, bool deleteNode) {
  m.m.release();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    m.active = false;
  }
  if (deleteNode && session_) {
    const Status s = session_->removeOwned(runningPath(m.m.destination));
    if (!s.isOk()) moduleLogger("ha")->warn("releasing {}: {}", m.m.destination, s.toString());
  }
  moduleLogger("ha")->info("destination {}: released", m.m.destination);
}

void RunningElection::releaseAll(bool deleteNodes) {
  for (Member& m : members_) {
    if (m.active) release(m, deleteNodes);
  }
}

void RunningElection::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, options_.poll, [&] { return stopping_ || applied_ != requested_; });
    if (stopping_) break;
    lock.unlock();
    tick();
    lock.lock();
  }
}

void RunningElection::tick() {
  applyChanges();
  auto log = moduleLogger("ha");
  const auto now = std::chrono::steady_clock::now();
  if (session_ && session_->connected()) {
    lastConnected_ = now;
  } else if (session_ && !session_->expired()) {
    // Cut off: before the session can expire (and a standby take over), stop serving.
    if (now - lastConnected_ > options_.sessionTimeout * 2 / 3) releaseAll(false);
    return;
  } else {
    releaseAll(false);
    log->warn("ZooKeeper session expired; opening a new one");
    auto fresh = ZooKeeperSession::connect(options_.zkServers, options_.sessionTimeout, std::chrono::seconds(2));
    if (!fresh) {
      log->warn("{}", fresh.status().toString());
      return;
    }
    session_ = std::move(*fresh);
    lastConnected_ = now;
  }
  // Registration (ephemeral, so re-created after a new session).
  const auto registered = session_->createEphemeral(kRoot + "/cluster/" + options_.address, "");
  if (!registered) return;
  for (Member& m : members_) {
    const std::string dir = kRoot + "/destinations/" + m.m.destination;
    if (!session_->ensurePath(dir + "/cluster").isOk()) return;
    if (!session_->createEphemeral(dir + "/cluster/" + options_.address, "")) return;
    const std::string running = runningPath(m.m.destination);
    std::int64_t owner = 0;
    auto current = session_->get(running, &owner);
    if (!current) continue;  // connection trouble: next tick
    noteRunning(m.m.destination, *current ? **current : std::string());
    if (m.active) {
      if (!*current || owner != session_->id()) {
        log->warn("destination {}: the running node is no longer this server's; stopping", m.m.destination);
        release(m, false);
      }
      continue;
    }
    if (now < m.nextTry) continue;
    bool mine = *current && owner == session_->id();
    if (!*current) {
      auto created = session_->createEphemeral(running, runningData());
      if (!created) continue;
      mine = *created;
    }
    if (!mine) continue;
    log->info("destination {}: this server ({}) is running it", m.m.destination, options_.address);
    const Status s = m.m.activate(session_);
    if (!s.isOk()) {
      log->error("destination {}: cannot start: {}; handing it over", m.m.destination, s.toString());
      m.nextTry = now + options_.retryAfterFailure;
      const Status removed = session_->removeOwned(running);
      if (!removed.isOk()) log->warn("{}", removed.toString());
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    m.active = true;
  }
}

}  // namespace canal::ha
