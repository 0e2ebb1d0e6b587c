#pragma once

// A destination's files into what makes it: conf/<destination>/instance.properties over
// canal.properties read and checked, turned into the destination's options once, with the
// functions that open its store and meta, make its MQ publisher and check its primaries.
// Thread contract: functions without state; a DestinationConfig's functions from one thread.

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/app/config.h"
#include "server/app/properties_file.h"
#include "server/common/status.h"
#include "server/common/zookeeper_session.h"
#include "server/instance/client_sessions.h"
#include "server/instance/destination.h"
#include "server/mq/mq_worker.h"

namespace canal::app {

// Where the server's configuration lives.
struct ServerContext {
  ServerConfig server;
  PropertiesFile canalFile;
  std::filesystem::path confDir;  // canal.conf.dir, resolved
  std::filesystem::path dataDir;  // canal.file.data.dir, resolved
  bool ha = false;                // canal.zkServers is set
};

// One destination as its files configure it, ready to be made.
struct DestinationConfig {
  std::string name;
  std::string fingerprint;  // instance.properties as read: a change means a restart
  InstanceMode mode = InstanceMode::kFile;
  bool durable = false;         // RocksDB store
  std::string batchMode;        // MEMSIZE / ITEMSIZE
  std::int64_t bufferSize = 0;  // canal.instance.memory.buffer.size
  using Make = std::function<Result<std::unique_ptr<instance::Destination>>(const std::shared_ptr<ZooKeeperSession>&)>;
  Make make;  // opens the store and meta and makes the destination (not started)
  // MQ mode: makes the worker that publishes the running destination's batches; null in tcp mode.
  using Publish = std::function<Result<std::unique_ptr<mq::MqWorker>>(std::shared_ptr<instance::ClientSessions>)>;
  Publish publish;
  // canal-server --check --connect: the problems found on its primary and standby (primary_check.h).
  std::function<std::vector<std::string>()> checkPrimaries;
};

// This host's first IPv4 address that is not a loopback one (127.0.0.1 when there is none).
std::array<std::uint8_t, 4> hostIpv4();

// conf/<name>/instance.properties as it is now.
Result<std::string> readInstanceFile(const ServerContext& context, const std::string& name);

// Reads and checks conf/<name>/instance.properties over canal.properties. Warnings about
// unknown keys are appended to `warnings`.
Result<DestinationConfig> loadDestination(const ServerContext& context, const std::string& name, Warnings* warnings);
// The same from the file's content, already read.
Result<DestinationConfig> loadDestination(const ServerContext& context, const std::string& name, std::string text,
                                          Warnings* warnings);

// The destinations conf/ holds: the configured names, and with canal.auto.scan every
// sub-directory but spring/ holding an instance.properties. Sorted.
std::vector<std::string> destinationsInConf(const ServerContext& context, const std::vector<std::string>& configured);

}  // namespace canal::app
