#include "forwarder/rabbitmq/rabbitmq_sink.h"

#include <chrono>

#include "canal/client/flat_message.h"
#include "publish/rabbitmq_publisher.h"

namespace canal::forwarder {

publish::RabbitMqOptions publisherOptions(const RabbitMqSinkConfig& config) {
  publish::RabbitMqOptions o;
  o.host = config.host;
  o.virtualHost = config.virtualHost;
  o.username = config.user;
  o.password = config.password;
  o.exchange = config.exchange;
  o.exchangeType = config.exchangeType;
  o.queue = config.queue;
  o.routingKey = config.bindingKey;
  o.timeout = config.timeout;
  o.dropUnroutable = config.unroutable == "drop";
  return o;
}

client::Result<std::unique_ptr<RabbitMqSink>> RabbitMqSink::create(std::string name, const RabbitMqSinkConfig& config) {
  auto publisher = publish::RabbitMqPublisher::create(publisherOptions(config));
  if (!publisher) return publisher.status();
  return std::unique_ptr<RabbitMqSink>(new RabbitMqSink(std::move(name), config, std::move(*publisher)));
}

RabbitMqSink::RabbitMqSink(std::string name, RabbitMqSinkConfig config, std::unique_ptr<publish::RabbitMqPublisher> publisher)
    : name_(std::move(name)), config_(std::move(config)), publisher_(std::move(publisher)) {}
RabbitMqSink::~RabbitMqSink() = default;

client::Status RabbitMqSink::write(const std::vector<const Change*>& changes, std::int64_t batchId) {
  const std::int64_t ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  std::vector<publish::MqMessage> messages;
  for (const Change* c : changes) {
    if (c->isStatement() && !config_.statements) continue;
    if (c->isDdl && !config_.ddl) continue;
    publish::MqMessage& m = messages.emplace_back();
    m.topic = expandTablePattern(config_.routingKey, c->database, c->table);
    m.payload = client::toFlatMessage(*c->entry, c->rowChange, nullptr, batchId, ts);
    m.origin.database = c->database;
    m.origin.table = c->table;
    m.origin.type = eb::EventType_Name(c->type);
    m.origin.logfileName = c->logfileName;
    m.origin.logfileOffset = c->logfileOffset;
    m.origin.executeTime = c->executeTime;
    m.origin.sequence = c->sequence;
  }
  if (messages.empty()) return client::Status::ok();
  return publisher_->publish(messages);
}

std::string RabbitMqSink::counters() const {
  const publish::PublisherStats& s = publisher_->stats();
  return name_ + ": confirmed " + std::to_string(s.messages.load()) + ", unroutable dropped " +
         std::to_string(s.unroutable.load()) + ", failed batches " + std::to_string(s.failures.load());
}

}  // namespace canal::forwarder
