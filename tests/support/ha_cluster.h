#pragma once

// ZooKeeper and two canal-server processes in default mode (default-instance.xml) under a temp
// dir, both configured for the MariaDB on `dbPort`: `a` runs the destination example, `b` is its
// standby (both in the destination's cluster node); `session` reads the nodes. And the kill -9
// loop that measures the gap canal-tail --zk shows around each takeover.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/common/zookeeper_session.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/zookeeper_server.h"

namespace canal::testing {

struct HaCluster {
  // Started with canal.zookeeper.session.timeout = `sessionTimeoutMs` (the test ZooKeeper's
  // tickTime is 500 ms: 1000-10000 are granted as asked); `journal`:`position` is where the
  // destination starts.
  static Result<std::unique_ptr<HaCluster>> start(const std::string& serverBinary, const std::string& name, int dbPort,
                                                  int sessionTimeoutMs, const std::string& journal,
                                                  const std::string& position);

  // The address of the server running destination example, as its ZooKeeper node says ("" none).
  std::string runningAddress() const;
  // True once both servers are members of the destination's cluster node, within `timeout`.
  bool bothMembers(std::chrono::milliseconds timeout) const;

  std::unique_ptr<ZooKeeperServer> zk;
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<CanalServerProcess> a, b;
  std::shared_ptr<ZooKeeperSession> session;
};

// canal-tail --zk printing destination example into a file, and what it printed.
class TailProcess {
 public:
  TailProcess(std::string binary, const HaCluster& cluster, std::string output);
  Status start() { return process_.start(command_, output_); }
  int stop() { return process_.stop(); }
  bool running() { return process_.running(); }
  std::string logTail(std::size_t maxBytes = 4000) const { return process_.logTail(maxBytes); }
  // Bytes printed so far.
  std::uintmax_t printed() const;
  // The ids of table `table` (column id) in the JSON lines printed so far.
  std::vector<long> ids(const std::string& table) const;

 private:
  std::vector<std::string> command_;
  std::string output_;
  ChildProcess process_;
};

struct TakeoverGaps {
  std::vector<double> seconds;  // from each kill to the first line printed once the standby runs
  std::vector<double> takeovers;  // from each kill to the standby's address in the running node
  std::string error;            // what went wrong ("" none)
  double median() const;
  double max() const;
};

// `kills` times: waits for lines, kills the running server with -9, measures the gap `tail`
// shows, and starts the killed server again as the standby. With `restartTailAt` >= 0, canal-tail
// is stopped before that kill and started again right after it (during the takeover).
TakeoverGaps killAndMeasure(HaCluster& cluster, TailProcess& tail, int kills, int restartTailAt = -1);

}  // namespace canal::testing
