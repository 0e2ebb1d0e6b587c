#pragma once

// Canal's MQ mode: the messages Canal's producer sends for one batch of a destination — topics
// (canal.mq.topic, canal.mq.dynamicTopic), partitions (canal.mq.partition, partitionsNum,
// partitionHash, dynamicTopicPartitionNum, canal.mq.database.hash) and payloads (FlatMessage
// JSON, or Canal's binary Messages packet) — byte for byte as Canal 1.1.8 builds them
// (docs/mq-mode.md). Pure: no I/O. Thread contract: one thread (decisions are cached).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canal/client/status.h"
#include "publish/mq_message.h"
#include "publish/partition_hash.h"
#include "publish/table_pattern.h"

namespace canal::publish {

struct CanalMqSettings {
  std::string topic;                     // canal.mq.topic
  std::string dynamicTopic;              // canal.mq.dynamicTopic
  std::int32_t partition = 0;            // canal.mq.partition
  std::optional<int> partitionsNum;      // canal.mq.partitionsNum
  std::string partitionHash;             // canal.mq.partitionHash
  std::string dynamicTopicPartitionNum;  // canal.mq.dynamicTopicPartitionNum
  bool flatMessage = true;               // canal.mq.flatMessage
  bool databaseHash = true;              // canal.mq.database.hash
  bool filterTransactionEntry = true;    // canal.instance.filter.transaction.entry
  bool rawEntry = true;                  // canal.instance.memory.rawEntry
};

class CanalMqRouter {
 public:
  // An error naming the setting whose expression does not parse.
  static client::Result<CanalMqRouter> create(CanalMqSettings settings);

  // The messages of batch `batchId` (`entries`: the batch's serialized Canal entries, in order),
  // in the order Canal sends them within a topic; `nowMs` is the FlatMessages' ts. An error
  // naming the entry when one does not parse.
  client::Result<std::vector<MqMessage>> route(std::int64_t batchId, const std::vector<std::string_view>& entries,
                                               std::int64_t nowMs) const;

  const CanalMqSettings& settings() const { return settings_; }

 private:
  struct DynamicTopic {
    std::string topic;  // empty: the matched name, lower-cased
    TablePattern pattern;
    bool tableLevel = false;  // a regex with "\." matches schema.table; other regexes the schema
    bool regex = false;
  };
  struct TopicPartitions {
    TablePattern topic;
    std::optional<int> partitions;
  };

  CanalMqRouter(CanalMqSettings settings, PartitionHash hash) : settings_(std::move(settings)), hash_(std::move(hash)) {}
  std::optional<std::string> matchTopic(const std::string& name) const;
  std::optional<int> partitionsOf(const std::string& topic) const;

  CanalMqSettings settings_;
  PartitionHash hash_;
  std::vector<DynamicTopic> dynamicTopics_;
  std::vector<TopicPartitions> topicPartitions_;
};

// Canal's binary MQ payload: a Packet{type=MESSAGES} whose body is Messages{batch_id, messages}.
// `raw` writes Canal's raw-entry form (no version, batch id present); otherwise the builder
// form (version 1, no batch id).
std::string canalMessagesPacket(std::int64_t batchId, const std::vector<std::string_view>& entries, bool raw);

}  // namespace canal::publish
