#pragma once

// Canal's MQ mode for one destination (canal.serverMode = kafka or rabbitMQ): an internal client (id 1001,
// the destination's own filter) that takes a batch (canal.mq.canalBatchSize entries, or what is
// there after canal.mq.canalGetTimeout ms), hands it to the broker and acks it only when the
// broker confirmed every message of it. Where the publisher takes several, the full batches
// ready behind the first go with it (each still a batch of its own, with its own id). A failure the broker may get over rolls the batch back
// and sends it again, with a growing pause; one that cannot succeed (a message over the size
// limit without a dead-letter topic) stops the publishing with an error naming the change, the
// batch unacked, so a restart after the fix goes on from it.
// Thread contract: start() and stop() from one thread; stats() from any.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "server/common/status.h"
#include "server/instance/client_sessions.h"

namespace canal::mq {

struct PublisherCounters {
  std::uint64_t messages = 0;  // confirmed by the broker
  std::uint64_t bytes = 0;
  std::uint64_t inFlight = 0;
  std::uint64_t deadLettered = 0;
  std::uint64_t unroutable = 0;  // routed to no queue and dropped (RabbitMQ, rabbitmq.unroutable = drop)
  std::uint64_t transactions = 0;
  std::uint64_t lastLatencyUs = 0;  // of the last batch, from send to confirmation
  std::string problem;              // what the broker's client says is wrong now; empty: nothing
  std::uint64_t problems = 0;       // such reports so far
};

// A batch got from the store: its id and its entries (serialized Entry messages).
struct PublishBatch {
  std::int64_t id = 0;
  std::vector<std::string_view> entries;
};

// The broker side. publish() returns once the broker confirmed every batch given: ok;
// Unavailable when it may succeed later (sent again); any other code when it cannot.
class BatchPublisher {
 public:
  virtual ~BatchPublisher() = default;
  // Batches in store order, each routed as it is alone; confirmed together or not at all.
  virtual Status publish(const std::vector<PublishBatch>& batches) = 0;
  // How many batches ready at once one publish() takes (more than one where each publish costs
  // round trips of its own, as a Kafka transaction does).
  virtual std::size_t batchesPerPublish() const { return 1; }
  virtual std::string describe() const = 0;  // "kafka 127.0.0.1:9092" for logs and /status
  virtual PublisherCounters counters() const = 0;
};

struct MqWorkerOptions {
  std::string destination;
  std::int64_t batchSize = 50;                  // canal.mq.canalBatchSize
  std::chrono::milliseconds getTimeout{100};    // canal.mq.canalGetTimeout
  std::int16_t clientId = 1001;
  std::chrono::milliseconds maxRetryPause{5000};
};

struct MqWorkerStats {
  std::string broker;
  std::string state;      // starting, publishing, retrying, failed, stopped
  std::string lastError;  // the last failure (kept after a recovery)
  std::uint64_t batches = 0;  // acked
  std::uint64_t entries = 0;
  std::uint64_t failures = 0;
  std::int64_t lastBatchId = 0;
  PublisherCounters publisher;
};

class MqWorker {
 public:
  MqWorker(std::shared_ptr<instance::ClientSessions> sessions, std::unique_ptr<BatchPublisher> publisher,
           MqWorkerOptions options);
  ~MqWorker();
  MqWorker(const MqWorker&) = delete;
  MqWorker& operator=(const MqWorker&) = delete;

  // Subscribes the internal client and starts publishing.
  Status start();
  // Stops after the batch in hand is confirmed or given up (unacked: sent again next start).
  void stop();
  MqWorkerStats stats() const;

 private:
  void run();
  // Waits up to `timeout` for a full batch (or stop); true when stopping.
  bool waitForBatch(std::chrono::milliseconds timeout);
  bool pause(std::chrono::milliseconds duration);  // true when stopping
  void setState(const std::string& state, const std::string& error = {});

  const std::shared_ptr<instance::ClientSessions> sessions_;
  const std::unique_ptr<BatchPublisher> publisher_;
  const MqWorkerOptions options_;
  std::thread thread_;
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  bool stopping_ = false;
  bool ready_ = false;
  MqWorkerStats stats_;
};

}  // namespace canal::mq
