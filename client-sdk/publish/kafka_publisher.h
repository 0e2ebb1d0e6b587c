#pragma once

// Sends messages to Kafka with librdkafka and waits until the brokers confirmed every one:
// what canal-forwarder's Kafka sink and canal-server's MQ mode both publish through. With a
// transactional id each publish() is one Kafka transaction (consumers reading committed
// messages see a batch whole or not at all; a new producer with the same id fences an old
// one). A message over the size limit goes to the dead-letter topic when there is one, and
// otherwise fails the publish as kSinkFatal naming the change it carries; it is never retried.
// Thread contract: publish() and partitionsOf() from one thread; stats() from any.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canal/client/status.h"
#include "publish/message_publisher.h"
#include "publish/mq_message.h"

namespace canal::publish {

struct KafkaPublisherOptions {
  std::map<std::string, std::string> properties;  // librdkafka settings, bootstrap.servers included
  std::chrono::milliseconds timeout{30000};       // for one publish() to be confirmed
  std::string transactionalId;                    // non-empty: a transaction per publish()
  std::string deadLetterTopic;                    // empty: an oversized message is fatal
  std::string sizeLimitSetting = "message.max.bytes";     // named in the oversize error
  std::string deadLetterSetting = "a dead-letter topic";  // named in the oversize error
};

class KafkaPublisher final : public MessagePublisher {
 public:
  // Checks the settings and makes the producer (a transactional one initializes its
  // transactions on first use, so a broker that is down does not fail the start).
  static client::Result<std::unique_ptr<KafkaPublisher>> create(KafkaPublisherOptions options);
  ~KafkaPublisher() override;
  KafkaPublisher(const KafkaPublisher&) = delete;
  KafkaPublisher& operator=(const KafkaPublisher&) = delete;

  // Sends `messages` (each to its topic and partition; -1 lets the partitioner choose) and
  // returns once each is confirmed or dead-lettered. kSinkRetry when a broker did not confirm
  // in time or refused (nothing is known delivered: the caller sends the batch again);
  // kSinkFatal for an oversized message without a dead-letter topic.
  client::Status publish(const std::vector<MqMessage>& messages) override;
  // With a transactional id: initializes transactions now (kSinkRetry while the broker cannot).
  client::Status fence() override;
  // The partition count of `topic` (cached).
  client::Result<int> partitionsOf(const std::string& topic);

  const PublisherStats& stats() const override { return stats_; }

 private:
  class Impl;
  explicit KafkaPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  PublisherStats stats_;
};

// The value of the newest record with `key` among the last `window` records of `partition` of
// `topic`, committed ones only (read_committed); nullopt when there is none, or no such topic.
// `properties`: the producer's librdkafka settings (brokers, security), reused for the reader.
client::Result<std::optional<std::string>> lastValueOfKey(const std::map<std::string, std::string>& properties,
                                                          const std::string& topic, std::int32_t partition,
                                                          const std::string& key, int window,
                                                          std::chrono::milliseconds timeout);

// Canal's Java producer settings (canal.properties kafka.*, with the prefix removed) as
// librdkafka settings: names librdkafka spells differently translated, Java-only ones
// (serializer classes, JAAS text) turned into their librdkafka form or refused by name.
// `warnings` receives one line per setting that is accepted but has no effect.
client::Result<std::map<std::string, std::string>> librdkafkaSettings(const std::map<std::string, std::string>& java,
                                                                      std::vector<std::string>* warnings);

}  // namespace canal::publish
