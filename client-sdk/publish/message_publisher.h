#pragma once

// A broker that takes messages and says when it has them: Kafka (KafkaPublisher) or RabbitMQ
// (RabbitMqPublisher). publish() returns once the broker confirmed every message (or a
// dead-letter copy); the statuses are those of mq_message.h (kSinkRetry, kSinkFatal).
// Thread contract: publish() from one thread; stats() from any.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "canal/client/status.h"
#include "publish/mq_message.h"

namespace canal::publish {

struct PublisherStats {
  std::atomic<std::uint64_t> messages{0};       // confirmed
  std::atomic<std::uint64_t> bytes{0};          // payload bytes confirmed
  std::atomic<std::uint64_t> deadLettered{0};
  std::atomic<std::uint64_t> failures{0};       // publish() calls that failed
  std::atomic<std::uint64_t> inFlight{0};       // messages sent, not yet confirmed
  std::atomic<std::uint64_t> lastLatencyUs{0};  // of the last publish() that succeeded
  std::atomic<std::uint64_t> transactions{0};   // committed
  std::atomic<std::uint64_t> aborts{0};         // transactions aborted
  std::atomic<std::uint64_t> unroutable{0};     // confirmed, but routed to no queue (dropped)

  // What the broker's client last said was wrong while a publish() waits (a broker down, a
  // refused connection), before the publish() itself gives up; empty once a publish() succeeds.
  void reportProblem(std::string what) {
    std::lock_guard<std::mutex> lock(problemMutex_);
    if (!what.empty()) problems.fetch_add(1, std::memory_order_relaxed);
    problem_ = std::move(what);
  }
  std::atomic<std::uint64_t> problems{0};  // reported so far
  std::string problem() const {
    std::lock_guard<std::mutex> lock(problemMutex_);
    return problem_;
  }

 private:
  mutable std::mutex problemMutex_;
  std::string problem_;
};

class MessagePublisher {
 public:
  virtual ~MessagePublisher() = default;
  virtual client::Status publish(const std::vector<MqMessage>& messages) = 0;
  // A transactional publisher: fences any earlier producer with its transactional id (the
  // broker aborts or completes that producer's open transaction) so that what is read from the
  // broker afterwards is final. Others: nothing to do.
  virtual client::Status fence() { return client::Status::ok(); }
  virtual const PublisherStats& stats() const = 0;
};

}  // namespace canal::publish
