#pragma once

// Canal's MQ mode for one destination: each batch routed and rendered as Canal's producer does
// (topics, partitions, FlatMessage or binary payloads, from canal.mq.* keys) and sent to Kafka
// (canal.properties' kafka.* keys, as Canal's Java producer reads them) or RabbitMQ
// (rabbitmq.* keys), confirmed by the broker before the batch is acked.
// Thread contract: publish() from one thread; counters() from any.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/app/config.h"
#include "server/common/status.h"
#include "server/mq/mq_worker.h"

namespace canal::app {

class CanalMqPublisher final : public mq::BatchPublisher {
 public:
  // Transactional publishing: the most batches one Kafka transaction takes. Each transaction
  // costs a flush before its position record and a commit, a few milliseconds with the broker's
  // round trips; with Canal's default batch (50 KiB) that is most of a batch's time alone.
  static constexpr std::size_t kBatchesPerTransaction = 32;

  // Checks the settings (an error names the key); `warnings` gets settings that have no effect.
  static Status check(const ServerConfig& server, const InstanceConfig& instance, Warnings* warnings);
  // Makes the producer (librdkafka connects in the background; a broker that is down is not an
  // error here).
  static Result<std::unique_ptr<CanalMqPublisher>> create(const ServerConfig& server, const InstanceConfig& instance);
  ~CanalMqPublisher() override;

  Status publish(const std::vector<mq::PublishBatch>& batches) override;
  // One batch alone.
  Status publish(std::int64_t batchId, const std::vector<std::string_view>& entries) {
    return publish({mq::PublishBatch{batchId, entries}});
  }
  // Transactional: the batches ready at once share a transaction and its position record.
  std::size_t batchesPerPublish() const override;
  std::string describe() const override { return description_; }
  mq::PublisherCounters counters() const override;

 private:
  struct Parts;
  struct Prepared;
  static Result<Prepared> prepare(const ServerConfig& server, const InstanceConfig& instance, Warnings* warnings);
  explicit CanalMqPublisher(std::unique_ptr<Parts> parts, std::string description);
  std::unique_ptr<Parts> parts_;
  const std::string description_;
};

}  // namespace canal::app
