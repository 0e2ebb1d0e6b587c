#include "forwarder/kafka/kafka_sink.h"

#include <chrono>

#include "canal/client/flat_message.h"
#include "publish/kafka_publisher.h"
#include "publish/partition_hash.h"

namespace canal::forwarder {
namespace {

using client::Status;

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string topicFor(const std::string& pattern, const std::string& database, const std::string& table) {
  std::string out = expandTablePattern(pattern, database, table);
  for (char& c : out) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                         c == '_' || c == '-';
    if (!allowed) c = '_';
  }
  return out;
}

class KafkaSink::Impl {
 public:
  Impl(KafkaSinkConfig config, publish::PartitionHash hash, std::unique_ptr<publish::KafkaPublisher> publisher)
      : config_(std::move(config)), hash_(std::move(hash)), publisher_(std::move(publisher)) {}

  static publish::KafkaPublisherOptions publisherOptions(const KafkaSinkConfig& config) {
    publish::KafkaPublisherOptions o;
    o.properties = {
        {"bootstrap.servers", config.brokers},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", config.compression},
        {"message.max.bytes", std::to_string(config.maxMessageBytes)},
        {"message.timeout.ms", std::to_string(config.timeout.count())},
        {"linger.ms", "5"},
    };
    for (const auto& [k, v] : config.properties) o.properties[k] = v;
    o.timeout = config.timeout;
    o.deadLetterTopic = config.deadLetterTopic;
    o.sizeLimitSetting = "max_message_bytes";
    o.deadLetterSetting = "dead_letter_topic";
    return o;
  }

  Status write(const std::vector<const Change*>& changes, std::int64_t batchId) {
    std::vector<publish::MqMessage> messages;
    const std::int64_t ts = nowMs();
    for (const Change* c : changes) {
      if (c->isStatement() && !config_.statements) continue;
      if (c->isDdl && !config_.ddl) continue;
      if (Status s = messagesOf(*c, batchId, ts, messages); !s) return s;
    }
    return publisher_->publish(messages);
  }

  const publish::PublisherStats& stats() const { return publisher_->stats(); }

 private:
  client::Result<int> partitionsOf(const std::string& name) {
    if (config_.partitions > 0) return config_.partitions;
    return publisher_->partitionsOf(name);
  }

  static publish::MessageOrigin originOf(const Change& c) {
    publish::MessageOrigin o;
    o.database = c.database;
    o.table = c.table;
    o.type = eb::EventType_Name(c.type);
    o.logfileName = c.logfileName;
    o.logfileOffset = c.logfileOffset;
    o.executeTime = c.executeTime;
    o.sequence = c.sequence;
    return o;
  }

  Status messagesOf(const Change& c, std::int64_t batchId, std::int64_t ts, std::vector<publish::MqMessage>& out) {
    const std::string name = topicFor(config_.topic, c.database, c.table);
    const int rows = c.rowChange.rowdatas_size();
    const publish::PartitionRule* rule = hash_.empty() || c.isDdl || rows == 0 ? nullptr : hash_.ruleFor(c.qualifiedName());
    if (!rule) {
      // Canal: DDL and row-less entries, and tables no rule matches, go to partition 0 when
      // partitioning by hash; everything to the fixed partition otherwise.
      const int partition = hash_.empty() ? config_.partition : 0;
      out.push_back({name, partition, "", client::toFlatMessage(*c.entry, c.rowChange, nullptr, batchId, ts), originOf(c)});
      return Status::ok();
    }
    auto count = partitionsOf(name);
    if (!count) return count.status();
    if (rule->by == publish::PartitionRule::By::kTable) {
      const int partition = publish::canalPartition(publish::javaStringHash(c.table), *count);
      out.push_back({name, partition, c.qualifiedName(),
                     client::toFlatMessage(*c.entry, c.rowChange, nullptr, batchId, ts), originOf(c)});
      return Status::ok();
    }
    // One message per row, keyed by the row's key values.
    for (int i = 0; i < rows; ++i) {
      const client::RowView row(c.rowChange.rowdatas(i), c.type);
      const std::vector<std::string> names = rule->by == publish::PartitionRule::By::kPrimaryKey ? row.keyNames() : rule->columns;
      std::vector<std::optional<std::string>> values;
      std::string key = c.qualifiedName() + ":";
      for (std::size_t k = 0; k < names.size(); ++k) {
        values.push_back(row.value(names[k]));
        if (k) key += "^";
        key += values.back().value_or("");
      }
      const int partition = publish::canalPartition(publish::rowHash(c.database, values, config_.databaseHash), *count);
      const std::vector<int> only{i};
      out.push_back({name, partition, key, client::toFlatMessage(*c.entry, c.rowChange, &only, batchId, ts), originOf(c)});
    }
    return Status::ok();
  }

  KafkaSinkConfig config_;
  publish::PartitionHash hash_;
  std::unique_ptr<publish::KafkaPublisher> publisher_;
};

client::Result<std::unique_ptr<KafkaSink>> KafkaSink::create(std::string name, const KafkaSinkConfig& config) {
  auto hash = publish::PartitionHash::parse(config.partitionHash);
  if (!hash) return hash.status();
  auto publisher = publish::KafkaPublisher::create(Impl::publisherOptions(config));
  if (!publisher) return publisher.status();
  auto impl = std::make_unique<Impl>(config, std::move(*hash), std::move(*publisher));
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(name), std::move(impl)));
}

KafkaSink::KafkaSink(std::string name, std::unique_ptr<Impl> impl) : name_(std::move(name)), impl_(std::move(impl)) {}
KafkaSink::~KafkaSink() = default;

client::Status KafkaSink::write(const std::vector<const Change*>& changes, std::int64_t batchId) {
  return impl_->write(changes, batchId);
}

std::uint64_t KafkaSink::delivered() const { return impl_->stats().messages.load(); }
std::uint64_t KafkaSink::deadLettered() const { return impl_->stats().deadLettered.load(); }

std::string KafkaSink::counters() const {
  return name_ + ": delivered " + std::to_string(delivered()) + ", dead-lettered " + std::to_string(deadLettered());
}

}  // namespace canal::forwarder
