#pragma once

// Writes FlatMessage JSON to RabbitMQ: one message per entry, published persistent to the
// exchange with a routing key made from the table (%{database}.%{table} by default), and the
// batch acked only once the broker confirmed every message (publisher confirms). A broker that
// goes away fails the batch, which is rolled back and sent again on a new connection.
// Thread contract: one thread.

#include <memory>
#include <string>

#include "forwarder/forwarder_config.h"
#include "forwarder/sink.h"
#include "publish/rabbitmq_publisher.h"

namespace canal::forwarder {

// The publisher's options the sink's configuration gives.
publish::RabbitMqOptions publisherOptions(const RabbitMqSinkConfig& config);

class RabbitMqSink final : public Sink {
 public:
  static client::Result<std::unique_ptr<RabbitMqSink>> create(std::string name, const RabbitMqSinkConfig& config);
  ~RabbitMqSink() override;

  const std::string& name() const override { return name_; }
  client::Status write(const std::vector<const Change*>& changes, std::int64_t batchId) override;
  std::string counters() const override;

 private:
  RabbitMqSink(std::string name, RabbitMqSinkConfig config, std::unique_ptr<publish::RabbitMqPublisher> publisher);
  std::string name_;
  RabbitMqSinkConfig config_;
  std::unique_ptr<publish::RabbitMqPublisher> publisher_;
};

}  // namespace canal::forwarder
