#pragma once

// Writes FlatMessage JSON to Kafka with librdkafka: an idempotent producer (acks=all, ordered
// retries), the topic fixed or per table, the partition chosen as Canal's partitionHash does so
// one key's changes stay in order, the message key = the partition key. A message over the size
// limit goes to the dead-letter topic, or stops the forwarder when there is none.
// Thread contract: one thread.

#include <memory>
#include <string>

#include "forwarder/forwarder_config.h"
#include "forwarder/sink.h"

namespace canal::forwarder {

class KafkaSink final : public Sink {
 public:
  static client::Result<std::unique_ptr<KafkaSink>> create(std::string name, const KafkaSinkConfig& config);
  ~KafkaSink() override;

  const std::string& name() const override { return name_; }
  client::Status write(const std::vector<const Change*>& changes, std::int64_t batchId) override;
  std::string counters() const override;

  std::uint64_t delivered() const;
  std::uint64_t deadLettered() const;

 private:
  class Impl;
  KafkaSink(std::string name, std::unique_ptr<Impl> impl);
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

// The topic for a change: %{database} and %{table} replaced, characters Kafka does not allow
// in a topic name ([a-zA-Z0-9._-]) replaced by '_'.
std::string topicFor(const std::string& pattern, const std::string& database, const std::string& table);

}  // namespace canal::forwarder
