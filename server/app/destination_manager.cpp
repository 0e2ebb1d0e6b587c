#include "server/app/destination_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/common/clock.h"
#include "server/common/logging.h"
#include "server/ha/running_election.h"
#include "server/snapshot/initial_snapshot.h"

namespace canal::app {

namespace fs = std::filesystem;

// One destination on this server: created and started when it becomes active here (at once, or
// when the running election picks this server), stopped and dropped when released.
class DestinationManager::Runner {
 public:
  Runner(DestinationConfig::Make make, DestinationConfig::Publish publish, std::string name)
      : make_(std::move(make)), publish_(std::move(publish)), name_(std::move(name)) {}

  Status activate(const std::shared_ptr<ZooKeeperSession>& session) {
    DestinationLogScope scope(name_);
    auto made = make_(session);
    if (!made) return made.status();
    std::shared_ptr<instance::Destination> d = std::move(*made);
    d->start();
    const instance::DestinationOptions& o = d->options();
    // The runner keeps the destination (its gate) alive while an HTTP request still holds it.
    auto snapshots = std::make_shared<snapshot::SnapshotRunner>(name_, o.master, d->snapshots(), o.pump.render,
                                                                o.snapshotWatermarkTable, d);
    if (const Status s = snapshot::startSnapshotsOfStart(*d, *snapshots); !s.isOk()) {
      d->stop();
      return s;
    }
    std::unique_ptr<mq::MqWorker> worker;
    if (publish_) {
      auto made = publish_(instance::sessionsOf(d));
      Status started = made ? (*made)->start() : made.status();
      if (!started.isOk()) {
        snapshots->cancel();
        d->stop();
        return started.withContext("MQ mode (canal.serverMode)");
      }
      worker = std::move(*made);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::move(d);
    snapshots_ = std::move(snapshots);
    worker_ = std::move(worker);
    return Status::ok();
  }
  void release() {
    DestinationLogScope scope(name_);
    std::shared_ptr<instance::Destination> d;
    std::shared_ptr<snapshot::SnapshotRunner> snapshots;
    std::shared_ptr<mq::MqWorker> worker;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      d.swap(current_);
      snapshots.swap(snapshots_);
      worker.swap(worker_);
    }
    // Publishing stops first: the batch in hand is confirmed or left unacked, never half-acked.
    if (worker) worker->stop();
    worker.reset();
    // The destination stops first: a snapshot in flight ends without clearing its progress, so a
    // restart goes on with it.
    if (d) d->stop();
    if (snapshots) snapshots->cancel();
    snapshots.reset();  // joins its thread
  }
  std::shared_ptr<instance::Destination> current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  // The snapshots of the running destination (null when it does not run here).
  std::shared_ptr<snapshot::SnapshotRunner> snapshots() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshots_;
  }
  std::optional<mq::MqWorkerStats> mqStats() const {
    std::shared_ptr<mq::MqWorker> worker;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      worker = worker_;
    }
    if (!worker) return std::nullopt;
    return worker->stats();
  }

 private:
  const DestinationConfig::Make make_;
  const DestinationConfig::Publish publish_;
  const std::string name_;
  mutable std::mutex mutex_;
  std::shared_ptr<instance::Destination> current_;
  std::shared_ptr<snapshot::SnapshotRunner> snapshots_;
  std::shared_ptr<mq::MqWorker> worker_;  // shared: /status reads it while release() stops it
};

DestinationManager::DestinationManager(ServerContext context, ha::RunningElection* election)
    : context_(std::move(context)), election_(election) {}

DestinationManager::~DestinationManager() { stopAll(); }

Status DestinationManager::add(DestinationConfig config, bool stopped) {
  auto runner = std::make_shared<Runner>(config.make, config.publish, config.name);
  const std::string name = config.name;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[name];
    e = Entry{std::move(config), runner, {}, 0, {}, wallClockMs(), stopped};
  }
  if (stopped) return Status::ok();
  const Status s = activate(name, runner);
  if (!s.isOk() && !election_) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.erase(name);
  }
  return s;
}

Status DestinationManager::activate(const std::string& name, const std::shared_ptr<Runner>& runner) {
  if (election_) {
    election_->add(ha::ElectionMember{name, [runner](const auto& session) { return runner->activate(session); },
                                      [runner] { runner->release(); }});
    return Status::ok();
  }
  return runner->activate(nullptr);
}

Status DestinationManager::stop(const std::string& name) {
  std::shared_ptr<Runner> runner;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = entries_.find(name);
    if (it == entries_.end() || !it->second.runner) return Status::notFound("no destination " + name + " is loaded");
    if (it->second.stopped) return Status::ok();
    it->second.stopped = true;
    runner = it->second.runner;
  }
  if (election_) election_->remove(name);
  runner->release();
  moduleLogger("app")->info("destination {}: stopped", name);
  return Status::ok();
}

Status DestinationManager::start(const std::string& name) {
  std::shared_ptr<Runner> runner;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = entries_.find(name);
    if (it == entries_.end() || !it->second.runner) return Status::notFound("no destination " + name + " is loaded");
    if (!it->second.stopped) return Status::ok();
    runner = it->second.runner;
  }
  if (const Status s = activate(name, runner); !s.isOk()) return s.withContext("destination " + name);
  std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = entries_.find(name); it != entries_.end()) {
    it->second.stopped = false;
    it->second.startedMs = wallClockMs();
  }
  moduleLogger("app")->info("destination {}: started", name);
  return Status::ok();
}

void DestinationManager::remove(const std::string& name) {
  std::shared_ptr<Runner> runner;
  {
    // Gone from lookups and /status first, so that no one sees it after its running node went.
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = entries_.find(name);
    if (it == entries_.end()) return;
    runner = it->second.runner;
    entries_.erase(it);
  }
  if (!runner) return;
  if (election_) election_->remove(name);
  runner->release();
}

Status DestinationManager::start(std::vector<DestinationConfig> configs) {
  for (DestinationConfig& c : configs) {
    const std::string name = c.name;
    if (const Status s = add(std::move(c)); !s.isOk()) return s.withContext("destination " + name);
  }
  return Status::ok();
}

std::vector<ScanChange> DestinationManager::scan() {
  auto log = moduleLogger("app");
  std::vector<ScanChange> changes;
  const auto note = [&](const std::string& name, std::string line, bool error = false) {
    if (error) {
      log->error("{}", line);
    } else {
      log->info("{}", line);
    }
    changes.push_back(ScanChange{name, std::move(line), error});
  };
  auto configured = destinationNames(context_.server);
  const auto names = destinationsInConf(context_, configured ? *configured : std::vector<std::string>{});
  std::vector<std::string> known;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [name, e] : entries_) known.push_back(name);
  }
  for (const std::string& name : known) {
    if (!std::binary_search(names.begin(), names.end(), name) ||
        !fs::exists(context_.confDir / name / "instance.properties")) {
      remove(name);
      note(name, "destination " + name + ": its instance.properties is gone; stopped");
    }
  }
  for (const std::string& name : names) {
    auto text = readInstanceFile(context_, name);
    const std::string content = text ? *text : std::string();
    bool present = false;
    bool hadRunner = false;
    bool stopped = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (const auto it = entries_.find(name); it != entries_.end()) {
        Entry& e = it->second;
        present = true;
        hadRunner = e.runner != nullptr;
        stopped = e.stopped;
        if (content == e.rejectedFingerprint) continue;  // already reported
        if (content == e.config.fingerprint) {           // back to the version in place
          e.configError = Status::ok();
          e.rejectedFingerprint.clear();
          continue;
        }
      }
    }
    Warnings warnings;
    auto config = text ? loadDestination(context_, name, content, &warnings) : Result<DestinationConfig>(text.status());
    for (const auto& w : warnings) log->warn("{}", w);
    if (!config) {
      // Reported once per content; a running version goes on.
      std::lock_guard<std::mutex> lock(mutex_);
      Entry& e = entries_[name];
      e.rejectedFingerprint = content;
      e.configError = config.status();
      e.configErrorTimeMs = wallClockMs();
      if (!hadRunner) e.config.name = name;
      note(name,
           "destination " + name + ": " + config.status().toString() +
               (hadRunner ? "; the running version goes on" : "; not started"),
           true);
      continue;
    }
    if (hadRunner) {
      remove(name);
      const Status s = add(std::move(*config), stopped);
      note(name, "destination " + name + ": instance.properties changed; " +
               (stopped ? std::string("it stays stopped") : "restarted") +
               (s.isOk() ? std::string() : " but it failed: " + s.toString()),
           !s.isOk());
      continue;
    }
    if (present) {
      std::lock_guard<std::mutex> lock(mutex_);
      entries_.erase(name);  // only a rejected file was known
    }
    const Status s = add(std::move(*config));
    note(name, "destination " + name + (s.isOk() ? ": added; started" : ": added but it failed: " + s.toString()),
         !s.isOk());
  }
  return changes;
}

void DestinationManager::stopAll() {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [name, e] : entries_) names.push_back(name);
  }
  for (const auto& name : names) remove(name);
}

std::shared_ptr<DestinationManager::Runner> DestinationManager::runnerOf(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.runner;
}

std::shared_ptr<instance::ClientSessions> DestinationManager::lookup(const std::string& name) const {
  const auto runner = runnerOf(name);
  return runner ? instance::sessionsOf(runner->current()) : nullptr;
}

std::shared_ptr<instance::Destination> DestinationManager::running(const std::string& name) const {
  const auto runner = runnerOf(name);
  return runner ? runner->current() : nullptr;
}

std::shared_ptr<snapshot::SnapshotRunner> DestinationManager::snapshots(const std::string& name) const {
  const auto runner = runnerOf(name);
  return runner ? runner->snapshots() : nullptr;
}

std::vector<DestinationView> DestinationManager::views() const {
  std::vector<std::pair<DestinationView, std::shared_ptr<Runner>>> found;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [name, e] : entries_) {
      DestinationView v;
      v.name = name;
      v.config = e.config;
      v.config.make = nullptr;
      v.config.publish = nullptr;
      v.configError = e.configError;
      v.configErrorTimeMs = e.configErrorTimeMs;
      v.startedMs = e.startedMs;
      v.stopped = e.stopped;
      found.emplace_back(std::move(v), e.runner);
    }
  }
  const auto runningAt = election_ ? election_->runningAt() : std::map<std::string, std::string>{};
  std::vector<DestinationView> out;
  for (auto& [v, runner] : found) {
    if (const auto it = runningAt.find(v.name); it != runningAt.end()) v.runningAt = it->second;
    if (runner) {
      if (auto d = runner->current()) {
        v.active = true;
        v.stats = d->stats();
        if (auto snapshots = runner->snapshots()) v.snapshot = snapshots->progress();
        v.mq = runner->mqStats();
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace canal::app
