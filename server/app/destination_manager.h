#pragma once

// The destinations of one server and their life: loaded from conf/<destination>/instance.properties,
// started here (or handed to the running election with ZooKeeper HA), and with canal.auto.scan
// kept in step with conf/: a directory with an instance.properties that appears starts a
// destination, a changed file restarts that destination alone, a removed one stops it. A file
// that does not load is reported (once per content) and the running version, if any, goes on.
// Thread contract: scan(), start() and stopAll() from one thread; lookup() and views() from any.

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/app/config.h"
#include "server/app/destination_config.h"
#include "server/common/status.h"
#include "server/common/zookeeper_session.h"
#include "server/instance/client_sessions.h"
#include "server/instance/destination.h"
#include "server/mq/mq_worker.h"
#include "server/snapshot/snapshot_runner.h"

namespace canal::ha {
class RunningElection;
}

namespace canal::app {

// What the server knows about one destination, for /metrics and /status.
struct DestinationView {
  std::string name;
  DestinationConfig config;  // the version that runs (or stands by)
  bool active = false;       // running on this server (false: standby or not started)
  bool stopped = false;      // stopped by an operator (stop()); started again by start()
  std::string runningAt;     // with HA: the address of the server its running node names
  std::optional<instance::DestinationStats> stats;  // when active
  Status configError;        // the newest instance.properties does not load
  std::int64_t configErrorTimeMs = 0;
  std::int64_t startedMs = 0;  // when this version was set up
  std::optional<snapshot::SnapshotProgress> snapshot;  // the last snapshot, when active
  std::optional<mq::MqWorkerStats> mq;                 // MQ mode, when active
};

// One change a scan made, as logged.
struct ScanChange {
  std::string destination;
  std::string line;
  bool failed = false;  // the file does not load, or the destination did not start
};

class DestinationManager {
 public:
  // `election`: ZooKeeper HA (destinations run where the election puts them); null: run here.
  DestinationManager(ServerContext context, ha::RunningElection* election);
  ~DestinationManager();

  // Sets up the destinations of the first load; any that does not start is an error.
  Status start(std::vector<DestinationConfig> configs);
  // Brings the running set in line with conf/ (see the header comment). Returns each change
  // made, as logged.
  std::vector<ScanChange> scan();
  void stopAll();
  // An operator's stop and start of one destination (the web console): stopped, it stays so,
  // whatever auto-scan finds, until started again; with HA it leaves the election meanwhile.
  // NotFound for a destination not loaded; start() may fail as the destination's start does.
  Status stop(const std::string& name);
  Status start(const std::string& name);

  // The active destination `name`, or null.
  std::shared_ptr<instance::ClientSessions> lookup(const std::string& name) const;
  // The destination `name` when it runs here; null otherwise.
  std::shared_ptr<instance::Destination> running(const std::string& name) const;
  // The snapshots of a destination running here; null otherwise.
  std::shared_ptr<snapshot::SnapshotRunner> snapshots(const std::string& name) const;
  std::vector<DestinationView> views() const;

 private:
  class Runner;
  struct Entry {
    DestinationConfig config;
    std::shared_ptr<Runner> runner;
    Status configError;
    std::int64_t configErrorTimeMs = 0;
    std::string rejectedFingerprint;  // the broken content already reported
    std::int64_t startedMs = 0;
    bool stopped = false;
  };
  Status add(DestinationConfig config, bool stopped = false);
  Status activate(const std::string& name, const std::shared_ptr<Runner>& runner);
  std::shared_ptr<Runner> runnerOf(const std::string& name) const;  // null when unknown
  void remove(const std::string& name);

  const ServerContext context_;
  ha::RunningElection* const election_;
  mutable std::mutex mutex_;  // entries_ (the map; runners are thread-safe)
  std::map<std::string, Entry> entries_;
};

}  // namespace canal::app
