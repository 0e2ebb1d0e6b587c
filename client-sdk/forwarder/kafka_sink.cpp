#include "kafka_sink.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>

#include "canal/client/flat_message.h"
#include "partition_hash.h"

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
  Impl(KafkaSinkConfig config, PartitionHash hash) : config_(std::move(config)), hash_(std::move(hash)) {}
  ~Impl() { destroyProducer(); }

  Status createProducer() {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    std::map<std::string, std::string> settings = {
        {"bootstrap.servers", config_.brokers},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"compression.type", config_.compression},
        {"message.max.bytes", std::to_string(config_.maxMessageBytes)},
        {"message.timeout.ms", std::to_string(config_.timeout.count())},
        {"linger.ms", "5"},
    };
    for (const auto& [k, v] : config_.properties) settings[k] = v;
    for (const auto& [k, v] : settings) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return Status(Status::kInvalidArgument, "kafka property " + k + "=" + v + ": " + error);
      }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, &Impl::onDelivery);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (!producer_) {
      rd_kafka_conf_destroy(conf);  // not taken over on failure
      return Status(Status::kInvalidArgument, std::string("kafka producer: ") + error);
    }
    return Status::ok();
  }

  Status write(const std::vector<const Change*>& changes, std::int64_t batchId) {
    if (!producer_) {
      if (Status s = createProducer(); !s) return Status(kSinkRetry, s.message());
    }
    if (Status s = drain(); !s) return s;
    pending_.clear();
    const std::int64_t ts = nowMs();
    for (const Change* c : changes) {
      if (c->isStatement() && !config_.statements) continue;
      if (c->isDdl && !config_.ddl) continue;
      if (Status s = produceChange(*c, batchId, ts); !s) return s;
    }
    if (Status s = drain(); !s) return s;
    std::vector<const Pending*> oversized;
    for (const Pending& p : pending_) {
      if (p.error == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++delivered_;
      } else if (p.error == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        oversized.push_back(&p);
      } else {
        const Status failed(kSinkRetry, "kafka: delivery of " + p.change->where() + " to " + p.topic + "[" +
                                            std::to_string(p.partition) + "] failed: " + rd_kafka_err2str(p.error));
        if (char fatal[512]; rd_kafka_fatal_error(producer_, fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR) {
          destroyProducer();  // an idempotent producer in a fatal state is replaced
        }
        return failed;
      }
    }
    if (!oversized.empty()) return deadLetter(oversized);
    return Status::ok();
  }

  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t deadLettered() const { return deadLettered_; }

 private:
  struct Pending {
    const Change* change = nullptr;
    std::string topic;
    std::int32_t partition = 0;
    std::string key;
    std::size_t bytes = 0;
    rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR__IN_PROGRESS;
  };

  static void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    static_cast<Pending*>(m->_private)->error = m->err;
  }

  void destroyProducer() {
    if (!producer_) return;
    rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(producer_, 5000);
    for (auto& [name, topic] : topics_) rd_kafka_topic_destroy(topic);
    topics_.clear();
    rd_kafka_destroy(producer_);
    producer_ = nullptr;
  }

  // Waits for every message produced to be delivered or failed (their reports write into
  // pending_); on timeout the rest is purged, so each report has arrived when this returns.
  Status drain() {
    if (!producer_) return Status::ok();
    const rd_kafka_resp_err_t err = rd_kafka_flush(producer_, static_cast<int>(config_.timeout.count()));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::ok();
    rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(producer_, 5000);
    if (rd_kafka_outq_len(producer_) > 0) destroyProducer();
    return Status(kSinkRetry, "kafka: messages not delivered within " + std::to_string(config_.timeout.count()) +
                                  " ms (brokers " + config_.brokers + ")");
  }

  rd_kafka_topic_t* topic(const std::string& name) {
    auto it = topics_.find(name);
    if (it == topics_.end()) it = topics_.emplace(name, rd_kafka_topic_new(producer_, name.c_str(), nullptr)).first;
    return it->second;
  }

  client::Result<int> partitionsOf(const std::string& name) {
    if (config_.partitions > 0) return config_.partitions;
    if (const auto it = partitionCounts_.find(name); it != partitionCounts_.end()) return it->second;
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t err = rd_kafka_metadata(producer_, 0, topic(name), &md, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status(kSinkRetry, "kafka: metadata of topic " + name + ": " + rd_kafka_err2str(err));
    }
    const int count = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR ? md->topics[0].partition_cnt : 0;
    const rd_kafka_resp_err_t topicErr = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    rd_kafka_metadata_destroy(md);
    if (count <= 0) return Status(kSinkRetry, "kafka: topic " + name + " has no partitions: " + rd_kafka_err2str(topicErr));
    partitionCounts_[name] = count;
    return count;
  }

  Status produceChange(const Change& c, std::int64_t batchId, std::int64_t ts) {
    const std::string name = topicFor(config_.topic, c.database, c.table);
    const int rows = c.rowChange.rowdatas_size();
    const PartitionRule* rule = hash_.empty() || c.isDdl || rows == 0 ? nullptr : hash_.ruleFor(c.qualifiedName());
    if (!rule) {
      // Canal: DDL and row-less entries, and tables no rule matches, go to partition 0 when
      // partitioning by hash; everything to the fixed partition otherwise.
      const int partition = hash_.empty() ? config_.partition : 0;
      return produce(c, name, partition, "", client::toFlatMessage(*c.entry, c.rowChange, nullptr, batchId, ts));
    }
    auto count = partitionsOf(name);
    if (!count) return count.status();
    if (rule->by == PartitionRule::By::kTable) {
      const int partition = canalPartition(javaStringHash(c.table), *count);
      return produce(c, name, partition, c.qualifiedName(),
                     client::toFlatMessage(*c.entry, c.rowChange, nullptr, batchId, ts));
    }
    // One message per row, keyed by the row's key values.
    for (int i = 0; i < rows; ++i) {
      const client::RowView row(c.rowChange.rowdatas(i), c.type);
      const std::vector<std::string> names = rule->by == PartitionRule::By::kPrimaryKey ? row.keyNames() : rule->columns;
      std::vector<std::optional<std::string>> values;
      std::string key = c.qualifiedName() + ":";
      for (std::size_t k = 0; k < names.size(); ++k) {
        values.push_back(row.value(names[k]));
        if (k) key += "^";
        key += values.back().value_or("");
      }
      const int partition = canalPartition(rowHash(c.database, values, config_.databaseHash), *count);
      const std::vector<int> only{i};
      if (Status s = produce(c, name, partition, key, client::toFlatMessage(*c.entry, c.rowChange, &only, batchId, ts));
          !s) {
        return s;
      }
    }
    return Status::ok();
  }

  Status produce(const Change& c, const std::string& topicName, int partition, const std::string& key,
                 const std::string& payload) {
    Pending& p = pending_.emplace_back();
    p.change = &c;
    p.topic = topicName;
    p.partition = partition;
    p.key = key;
    p.bytes = payload.size();
    for (;;) {
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_RKT(topic(topicName)), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_OPAQUE(&p), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer_, 100);  // backpressure: wait for deliveries
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) p.error = err;  // refused at once (too large, unknown partition)
      break;
    }
    rd_kafka_poll(producer_, 0);
    return Status::ok();
  }

  Status deadLetter(const std::vector<const Pending*>& oversized) {
    const Pending& first = *oversized.front();
    const std::string what = "kafka: the message for " + first.change->where() + " (" + std::to_string(first.bytes) +
                             " bytes, topic " + first.topic + ") is over the size limit (max_message_bytes " +
                             std::to_string(config_.maxMessageBytes) + " or the broker's message.max.bytes)";
    if (config_.deadLetterTopic.empty()) {
      return Status(kSinkFatal, what + "; set dead_letter_topic to divert such messages, or raise the limits");
    }
    std::deque<Pending> letters;
    for (const Pending* p : oversized) {
      nlohmann::ordered_json j;
      j["reason"] = "message too large";
      j["bytes"] = p->bytes;
      j["topic"] = p->topic;
      j["partition"] = p->partition;
      j["key"] = p->key;
      j["database"] = p->change->database;
      j["table"] = p->change->table;
      j["type"] = eb::EventType_Name(p->change->type);
      j["logfileName"] = p->change->logfileName;
      j["logfileOffset"] = p->change->logfileOffset;
      j["es"] = p->change->executeTime;
      const std::string payload = j.dump();
      Pending& letter = letters.emplace_back(*p);
      letter.error = RD_KAFKA_RESP_ERR__IN_PROGRESS;
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_RKT(topic(config_.deadLetterTopic)), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
          RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
          RD_KAFKA_V_KEY(p->key.empty() ? nullptr : p->key.data(), p->key.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&letter), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) letter.error = err;
    }
    const Status drained = drain();
    for (const Pending& letter : letters) {
      if (letter.error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status(kSinkRetry, what + "; writing it to the dead-letter topic " + config_.deadLetterTopic +
                                      " failed: " + rd_kafka_err2str(letter.error));
      }
    }
    if (!drained) return drained;
    deadLettered_ += letters.size();
    return Status::ok();
  }

  KafkaSinkConfig config_;
  PartitionHash hash_;
  rd_kafka_t* producer_ = nullptr;
  std::map<std::string, rd_kafka_topic_t*> topics_;
  std::map<std::string, int> partitionCounts_;
  std::deque<Pending> pending_;  // the reports of the batch in flight write here
  std::uint64_t delivered_ = 0;
  std::uint64_t deadLettered_ = 0;
};

client::Result<std::unique_ptr<KafkaSink>> KafkaSink::create(std::string name, const KafkaSinkConfig& config) {
  auto hash = PartitionHash::parse(config.partitionHash);
  if (!hash) return hash.status();
  auto impl = std::make_unique<Impl>(config, std::move(*hash));
  if (Status s = impl->createProducer(); !s) return s;
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(name), std::move(impl)));
}

KafkaSink::KafkaSink(std::string name, std::unique_ptr<Impl> impl) : name_(std::move(name)), impl_(std::move(impl)) {}
KafkaSink::~KafkaSink() = default;

client::Status KafkaSink::write(const std::vector<const Change*>& changes, std::int64_t batchId) {
  return impl_->write(changes, batchId);
}

std::uint64_t KafkaSink::delivered() const { return impl_->delivered(); }
std::uint64_t KafkaSink::deadLettered() const { return impl_->deadLettered(); }

std::string KafkaSink::counters() const {
  return name_ + ": delivered " + std::to_string(delivered()) + ", dead-lettered " + std::to_string(deadLettered());
}

}  // namespace canal::forwarder
