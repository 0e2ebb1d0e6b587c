#pragma once

// The forwarder's loop: getWithoutAck a batch, hand its changes to every sink whose tables
// they belong to, ack the batch once every sink confirmed it; on a sink failure roll the batch
// back and deliver it again after a backoff (a sink that already confirmed part of it is not
// sent that part again); stop on a failure retrying cannot fix. One batch is in memory at a time,
// so a slow sink slows the loop and nothing piles up. At-least-once: a crash before the ack
// delivers the batch again.
// Thread contract: run() on one thread; stop() from any thread (or a signal handler's flag).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "canal/client/canal_connector.h"
#include "forwarder/forwarder_config.h"
#include "forwarder/sink.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {

struct ForwarderCounters {
  std::uint64_t batches = 0;      // acked
  std::uint64_t rows = 0;         // row images forwarded
  std::uint64_t entries = 0;      // row-change, DDL and statement entries forwarded
  std::uint64_t rollbacks = 0;    // batches rolled back after a sink failure
  std::int64_t lastExecuteTime = 0;  // binlog time (ms) of the last change acked
  std::uint64_t emptyGets = 0;       // gets that found nothing: the forwarder had caught up
  std::uint64_t subscriptions = 0;   // connections that subscribed to the destination
  std::uint64_t snapshotRows = 0;    // of rows: snapshot rows
  bool idle = false;                 // the last get found nothing: caught up
  // Each sink's name and counters line (Sink::counters()) as of the last batch it was given.
  std::vector<std::pair<std::string, std::string>> sinks;
};

// The connector `source` describes: one server, an address list, or ZooKeeper's running node;
// `options` as given, but for the source's client id.
std::unique_ptr<client::CanalConnector> connectorFor(const SourceConfig& source,
                                                     client::ConnectorOptions options = client::ConnectorOptions{});

class Forwarder {
 public:
  using Logger = std::function<void(const std::string&)>;

  // Builds the sinks and the connector `config` describes.
  static client::Result<std::unique_ptr<Forwarder>> create(const ForwarderConfig& config, Logger log);
  Forwarder(ForwarderConfig config, std::vector<std::unique_ptr<Sink>> sinks,
            std::unique_ptr<client::CanalConnector> connector, Logger log);

  // Runs until stop() or a failure retrying cannot fix (returned). OK when stopped.
  client::Status run();
  void stop() { stopping_ = true; }
  // Also stops when `flag` becomes non-zero (a signal handler's flag).
  void stopOn(const volatile int* flag) { stopFlag_ = flag; }

  // A snapshot; any thread.
  ForwarderCounters counters() const {
    std::lock_guard<std::mutex> lock(countersMutex_);
    return counters_;
  }

 private:
  struct Route {
    Sink* sink;
    publish::TableSet tables;
    std::int64_t confirmedThrough = -1;  // position confirmed of the batch being retried
  };
  bool stopping() const { return stopping_ || (stopFlag_ && *stopFlag_); }
  void pause(std::chrono::milliseconds d) const;
  client::Status connect();
  // Writes the changes to every sink; OK when all confirmed.
  client::Status deliver(const std::vector<Change>& changes, std::int64_t batchId);
  void progress(bool force);

  ForwarderConfig config_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  std::vector<Route> routes_;
  std::unique_ptr<client::CanalConnector> connector_;
  Logger log_;
  std::atomic<bool> stopping_{false};
  const volatile int* stopFlag_ = nullptr;
  // counters_.sinks from the sinks (the loop's thread, under countersMutex_).
  void noteSinks();
  mutable std::mutex countersMutex_;
  ForwarderCounters counters_;
  std::int64_t retryingFrom_ = -1;  // position of the first change of the batch being retried
  std::chrono::steady_clock::time_point lastProgress_{};
  std::uint64_t rowsAtLastProgress_ = 0;
  bool idle_ = true;
};

}  // namespace canal::forwarder
