#pragma once

// Sends messages to RabbitMQ (AMQP 0-9-1, librabbitmq) with publisher confirms: each message is
// published to the exchange with its topic as the routing key, persistent (delivery mode 2),
// and publish() returns once the broker acked every one. The queue, the exchange and their
// binding are declared as Canal's RabbitMQ producer declares them. Messages are mandatory: one
// the broker cannot route to any queue comes back, and fails the publish() naming its routing
// key unless the options say to drop (and count) such messages. A connection that fails is
// dropped and opened again on the next publish().
// Thread contract: one thread.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "canal/client/status.h"
#include "publish/message_publisher.h"

namespace canal::publish {

struct RabbitMqOptions {
  std::string host;          // host, host:port, or an amqp:// URI (user, password, vhost in it)
  std::string virtualHost = "/";
  std::string username = "guest";
  std::string password = "guest";  // secret
  std::string exchange;      // empty: the default exchange (routing key = queue name)
  std::string exchangeType;  // Canal's rabbitmq.deliveryMode: direct, fanout, topic, headers
  std::string queue;         // declared durable when set
  std::string routingKey;    // the queue's binding key (with exchange and exchangeType)
  std::chrono::milliseconds timeout{30000};  // connecting, and a publish()'s confirms
  bool dropUnroutable = false;  // a message no queue is bound for: dropped and counted, not an error
};

class RabbitMqPublisher final : public MessagePublisher {
 public:
  // Checks the options; the connection opens on the first publish().
  static client::Result<std::unique_ptr<RabbitMqPublisher>> create(RabbitMqOptions options);
  ~RabbitMqPublisher() override;

  client::Status publish(const std::vector<MqMessage>& messages) override;
  const PublisherStats& stats() const override { return stats_; }

 private:
  class Connection;
  explicit RabbitMqPublisher(RabbitMqOptions options);
  client::Status connect();

  RabbitMqOptions options_;
  std::unique_ptr<Connection> connection_;
  PublisherStats stats_;
};

}  // namespace canal::publish
