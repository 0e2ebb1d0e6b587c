#include "publish/kafka_publisher.h"

#include <librdkafka/rdkafka.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <set>

namespace canal::publish {
namespace {

using client::Result;
using client::Status;

struct Pending {
  const MqMessage* message = nullptr;
  std::string topic;
  std::int32_t partition = 0;
  rd_kafka_resp_err_t error = RD_KAFKA_RESP_ERR__IN_PROGRESS;
};

// The value of `name="..."` (or name=...) in a JAAS configuration text; empty when absent.
std::string jaasOption(const std::string& jaas, const std::string& name) {
  for (std::size_t at = jaas.find(name); at != std::string::npos; at = jaas.find(name, at + 1)) {
    std::size_t i = at + name.size();
    while (i < jaas.size() && jaas[i] == ' ') ++i;
    if (i >= jaas.size() || jaas[i] != '=') continue;
    ++i;
    while (i < jaas.size() && jaas[i] == ' ') ++i;
    if (i < jaas.size() && jaas[i] == '"') {
      const std::size_t end = jaas.find('"', i + 1);
      if (end == std::string::npos) return {};
      return jaas.substr(i + 1, end - i - 1);
    }
    const std::size_t end = jaas.find_first_of(" ;", i);
    return jaas.substr(i, end == std::string::npos ? std::string::npos : end - i);
  }
  return {};
}

std::string errorText(rd_kafka_error_t* error) {
  std::string text = rd_kafka_error_string(error);
  rd_kafka_error_destroy(error);
  return text;
}

}  // namespace

class KafkaPublisher::Impl {
 public:
  Impl(KafkaPublisherOptions options, PublisherStats& stats) : options_(std::move(options)), stats_(stats) {}
  ~Impl() { destroyProducer(); }

  Status createProducer() {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    std::map<std::string, std::string> settings = options_.properties;
    if (!options_.transactionalId.empty()) settings["transactional.id"] = options_.transactionalId;
    for (const auto& [k, v] : settings) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return Status(Status::kInvalidArgument, "kafka property " + k + "=" + v + ": " + error);
      }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, &Impl::onDelivery);
    // Errors of the client itself (brokers down, connections refused) are said at once, while
    // the messages wait for their own timeout.
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int err, const char* reason, void* opaque) {
      static_cast<Impl*>(opaque)->stats_.reportProblem(std::string("kafka: ") +
                                                       rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err)) + ": " +
                                                       reason);
    });
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (!producer_) {
      rd_kafka_conf_destroy(conf);  // not taken over on failure
      return Status(Status::kInvalidArgument, std::string("kafka producer: ") + error);
    }
    if (char value[64]; true) {
      std::size_t size = sizeof value;
      const rd_kafka_conf_t* effective = rd_kafka_conf(producer_);
      if (rd_kafka_conf_get(effective, "message.max.bytes", value, &size) == RD_KAFKA_CONF_OK) {
        maxMessageBytes_ = std::stoll(value);
      }
    }
    transactionsReady_ = false;
    return Status::ok();
  }

  Status fence() {
    if (!transactional() || transactionsReady_) return Status::ok();
    if (!producer_) {
      if (Status s = createProducer(); !s) return Status(kSinkRetry, s.message());
    }
    return initTransactions();
  }

  Status publish(const std::vector<MqMessage>& messages) {
    const auto started = std::chrono::steady_clock::now();
    Status s = publishOnce(messages);
    if (!s) {
      stats_.failures.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats_.lastLatencyUs.store(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                                std::chrono::steady_clock::now() - started)
                                                                .count()),
                                 std::memory_order_relaxed);
    }
    return s;
  }

  Result<int> partitionsOf(const std::string& name) {
    if (const auto it = partitionCounts_.find(name); it != partitionCounts_.end()) return it->second;
    if (!producer_) {
      if (Status s = createProducer(); !s) return Status(kSinkRetry, s.message());
    }
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

 private:
  bool transactional() const { return !options_.transactionalId.empty(); }
  int timeoutMs() const { return static_cast<int>(options_.timeout.count()); }

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

  rd_kafka_topic_t* topic(const std::string& name) {
    auto it = topics_.find(name);
    if (it == topics_.end()) it = topics_.emplace(name, rd_kafka_topic_new(producer_, name.c_str(), nullptr)).first;
    return it->second;
  }

  // Replaces a producer that can no longer be used (a fatal idempotence or transaction state;
  // messages stuck in its queues), so the next publish starts clean.
  Status fail(Status status) {
    char fatal[512];
    if (rd_kafka_fatal_error(producer_, fatal, sizeof fatal) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_outq_len(producer_) > 0) {
      destroyProducer();
    }
    return status;
  }

  Status initTransactions() {
    if (rd_kafka_error_t* e = rd_kafka_init_transactions(producer_, timeoutMs())) {
      const bool fatal = rd_kafka_error_is_fatal(e);
      const std::string text = errorText(e);
      if (fatal) destroyProducer();
      return Status(kSinkRetry, "kafka: initializing transactions (transactional.id " + options_.transactionalId +
                                    "): " + text);
    }
    transactionsReady_ = true;
    return Status::ok();
  }

  Status beginTransaction() {
    if (!transactionsReady_) {
      if (Status s = initTransactions(); !s) return s;
    }
    if (rd_kafka_error_t* e = rd_kafka_begin_transaction(producer_)) {
      return fail(Status(kSinkRetry, "kafka: begin transaction: " + errorText(e)));
    }
    return Status::ok();
  }

  void abortTransaction() {
    if (rd_kafka_error_t* e = rd_kafka_abort_transaction(producer_, timeoutMs())) {
      rd_kafka_error_destroy(e);
      destroyProducer();  // a new producer's init fences the open transaction
      return;
    }
    stats_.aborts.fetch_add(1, std::memory_order_relaxed);
  }

  // Produces `messages` (and `letters`, the dead-letter records of oversized ones) and waits for
  // every report; in a transaction, commits it. `oversized` receives the messages refused as too
  // large (the transaction is then aborted: nothing of it is delivered).
  Status sendAll(const std::vector<const MqMessage*>& messages, const std::vector<MqMessage>& letters,
                 std::vector<const MqMessage*>* oversized) {
    if (!producer_) {
      if (Status s = createProducer(); !s) return Status(kSinkRetry, s.message());
    }
    if (transactional()) {
      if (Status s = beginTransaction(); !s) return s;
    }
    std::deque<Pending> pending;
    std::uint64_t inFlight = 0;
    auto produce = [&](const MqMessage& m, const std::string& topicName, std::int32_t partition) {
      Pending& p = pending.emplace_back();
      p.message = &m;
      p.topic = topicName;
      p.partition = partition;
      if (static_cast<long long>(m.payload.size()) > maxMessageBytes_) {
        p.error = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;  // refused here, as librdkafka would
        return;
      }
      stats_.inFlight.fetch_add(1, std::memory_order_relaxed);
      ++inFlight;
      const std::string sequence = m.origin.sequence > 0 ? std::to_string(m.origin.sequence) : std::string();
      for (;;) {
        // The headers (copied by librdkafka) belong to the message once produced.
        rd_kafka_headers_t* headers = nullptr;
        if (!sequence.empty()) {
          headers = rd_kafka_headers_new(1);
          rd_kafka_header_add(headers, kSequenceHeader, -1, sequence.data(), static_cast<ssize_t>(sequence.size()));
        }
        const rd_kafka_resp_err_t err = rd_kafka_producev(
            producer_, RD_KAFKA_V_RKT(topic(topicName)), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_VALUE(const_cast<char*>(m.payload.data()), m.payload.size()),
            RD_KAFKA_V_KEY(m.key.empty() ? nullptr : m.key.data(), m.key.size()),
            RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&p),
            RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && headers) rd_kafka_headers_destroy(headers);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(producer_, 100);  // backpressure: wait for deliveries
          continue;
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) p.error = err;  // refused at once (too large, unknown partition)
        break;
      }
      rd_kafka_poll(producer_, 0);
    };
    std::vector<const MqMessage*> closing;
    bool closingHeld = false;  // not produced: what goes before them is not all delivered
    for (const MqMessage* m : messages) {
      if (transactional() && m->afterTheRest) closing.push_back(m);
      else produce(*m, m->topic, m->partition);
    }
    for (const MqMessage& letter : letters) produce(letter, letter.topic, RD_KAFKA_PARTITION_UA);
    if (!closing.empty()) {
      // A crash before the commit can leave any part of the transaction on the broker; the
      // closing records are there only if all the rest is.
      rd_kafka_flush(producer_, timeoutMs());
      bool delivered = rd_kafka_outq_len(producer_) == 0;
      for (const Pending& p : pending) delivered &= p.error == RD_KAFKA_RESP_ERR_NO_ERROR;
      if (delivered) {
        for (const MqMessage* m : closing) produce(*m, m->topic, m->partition);
      } else {
        // Reported after the failure before them, if any; otherwise as timed out.
        for (const MqMessage* m : closing) pending.push_back(Pending{m, m->topic, m->partition, RD_KAFKA_RESP_ERR__TIMED_OUT});
        closingHeld = true;
      }
    }

    Status waited = Status::ok();
    bool tooLarge = false;
    if (transactional()) {
      for (const Pending& p : pending) tooLarge |= p.error == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
      if (closingHeld) {
        abortTransaction();
      } else if (!tooLarge) {
        if (rd_kafka_error_t* e = rd_kafka_commit_transaction(producer_, timeoutMs())) {
          const bool fatal = rd_kafka_error_is_fatal(e);
          waited = Status(kSinkRetry, "kafka: commit of the transaction failed: " + errorText(e));
          // Aborted here when the producer still can; otherwise the next producer's
          // initialization (same transactional id) has the coordinator abort it.
          if (fatal) destroyProducer();
          else abortTransaction();
        } else {
          stats_.transactions.fetch_add(1, std::memory_order_relaxed);
        }
      } else {
        abortTransaction();
      }
    } else if (rd_kafka_flush(producer_, timeoutMs()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      waited = Status(kSinkRetry, "kafka: messages not delivered within " + std::to_string(timeoutMs()) + " ms");
    }
    if (producer_ && rd_kafka_outq_len(producer_) > 0) {
      // Reports still missing: purge, so every Pending has its report before it goes away.
      rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(producer_, 5000);
      if (rd_kafka_outq_len(producer_) > 0) destroyProducer();
    }
    stats_.inFlight.fetch_sub(inFlight, std::memory_order_relaxed);
    std::uint64_t delivered = 0, bytes = 0;
    Status failed = Status::ok();
    for (const Pending& p : pending) {
      if (p.error == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++delivered;
        bytes += p.message->payload.size();
      } else if (p.error == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && oversized && !isLetter(p, letters)) {
        oversized->push_back(p.message);
      } else if (failed.isOk()) {
        failed = Status(kSinkRetry, "kafka: delivery of " + p.message->origin.where() + " to " + p.topic + "[" +
                                        std::to_string(p.partition) + "] failed: " + rd_kafka_err2str(p.error));
      }
    }
    // In a transaction an oversized message aborts the whole batch: the others' failures follow
    // from it, and the batch is sent again without it.
    if (transactional() && oversized && !oversized->empty()) return Status::ok();
    if (!waited) return producer_ ? fail(waited) : waited;
    if (!failed) return producer_ ? fail(failed) : failed;
    if (oversized && !oversized->empty()) return Status::ok();
    stats_.reportProblem({});  // delivered: whatever the client said before is over
    stats_.messages.fetch_add(delivered - letters.size(), std::memory_order_relaxed);
    stats_.bytes.fetch_add(bytes, std::memory_order_relaxed);
    stats_.deadLettered.fetch_add(letters.size(), std::memory_order_relaxed);
    return Status::ok();
  }

  static bool isLetter(const Pending& p, const std::vector<MqMessage>& letters) {
    return !letters.empty() && p.message >= &letters.front() && p.message <= &letters.back();
  }

  MqMessage deadLetter(const MqMessage& m) const {
    nlohmann::ordered_json j;
    j["reason"] = "message too large";
    j["bytes"] = m.payload.size();
    j["topic"] = m.topic;
    j["partition"] = m.partition;
    j["key"] = m.key;
    j["database"] = m.origin.database;
    j["table"] = m.origin.table;
    j["type"] = m.origin.type;
    j["logfileName"] = m.origin.logfileName;
    j["logfileOffset"] = m.origin.logfileOffset;
    j["es"] = m.origin.executeTime;
    MqMessage letter;
    letter.topic = options_.deadLetterTopic;
    letter.partition = -1;
    letter.key = m.key;
    letter.payload = j.dump();
    letter.origin = m.origin;
    return letter;
  }

  Status publishOnce(const std::vector<MqMessage>& messages) {
    std::vector<const MqMessage*> all;
    all.reserve(messages.size());
    for (const MqMessage& m : messages) all.push_back(&m);
    std::vector<const MqMessage*> oversized;
    if (Status s = sendAll(all, {}, &oversized); !s) return s;
    if (oversized.empty()) return Status::ok();

    const MqMessage& first = *oversized.front();
    const std::string what = "kafka: the message for " + first.origin.where() + " (" +
                             std::to_string(first.payload.size()) + " bytes, topic " + first.topic +
                             ") is over the size limit (" + options_.sizeLimitSetting + " " +
                             std::to_string(maxMessageBytes_) + " or the broker's message.max.bytes)";
    if (options_.deadLetterTopic.empty()) {
      return Status(kSinkFatal, what + "; set " + options_.deadLetterSetting + " to divert such messages, or raise the limits");
    }
    std::vector<MqMessage> letters;
    for (const MqMessage* m : oversized) letters.push_back(deadLetter(*m));
    // Without a transaction the others are delivered already; in one, the batch is sent again
    // with the letters in place of the oversized messages.
    std::vector<const MqMessage*> rest;
    if (transactional()) {
      const std::set<const MqMessage*> skip(oversized.begin(), oversized.end());
      for (const MqMessage* m : all) {
        if (!skip.count(m)) rest.push_back(m);
      }
    } else {
      stats_.messages.fetch_add(all.size() - oversized.size(), std::memory_order_relaxed);
    }
    std::vector<const MqMessage*> refused;
    if (Status s = sendAll(rest, letters, &refused); !s) {
      return Status(s.code(), what + "; writing it to the dead-letter topic " + options_.deadLetterTopic +
                                  " failed: " + s.message());
    }
    if (!refused.empty()) {
      return Status(kSinkFatal, "kafka: the message for " + refused.front()->origin.where() +
                                    " was refused as too large on a second send");
    }
    return Status::ok();
  }

  KafkaPublisherOptions options_;
  PublisherStats& stats_;
  rd_kafka_t* producer_ = nullptr;
  bool transactionsReady_ = false;
  long long maxMessageBytes_ = 1000000;
  std::map<std::string, rd_kafka_topic_t*> topics_;
  std::map<std::string, int> partitionCounts_;
};

Result<std::optional<std::string>> lastValueOfKey(const std::map<std::string, std::string>& properties,
                                                   const std::string& topic, std::int32_t partition,
                                                   const std::string& key, int window, std::chrono::milliseconds timeout) {
  // Consumer settings: the connection ones of the producer (brokers, security), nothing else.
  static const char* const kProducerOnly[] = {"acks", "retries", "batch.size", "linger.ms", "compression.type",
                                              "message.max.bytes", "queue.buffering.max.kbytes", "enable.idempotence",
                                              "max.in.flight.requests.per.connection", "message.timeout.ms",
                                              "delivery.timeout.ms", "transactional.id", "transaction.timeout.ms",
                                              "request.required.acks", "message.send.max.retries"};
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [k, v] : properties) {
    bool skip = false;
    for (const char* p : kProducerOnly) skip |= k == p;
    if (!skip) rd_kafka_conf_set(conf, k.c_str(), v.c_str(), error, sizeof error);
  }
  rd_kafka_conf_set(conf, "group.id", "canal-position-reader", error, sizeof error);
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", error, sizeof error);
  rd_kafka_conf_set(conf, "isolation.level", "read_committed", error, sizeof error);
  rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", error, sizeof error);
  rd_kafka_conf_set(conf, "enable.partition.eof", "true", error, sizeof error);  // the end of what is committed
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (!consumer) {
    rd_kafka_conf_destroy(conf);
    return Status(Status::kInvalidArgument, std::string("kafka consumer: ") + error);
  }
  struct Closer {
    rd_kafka_t* c;
    ~Closer() {
      rd_kafka_consumer_close(c);
      rd_kafka_destroy(c);
    }
  } closer{consumer};
  std::int64_t low = 0, high = 0;
  const rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(consumer, topic.c_str(), partition, &low, &high, static_cast<int>(timeout.count()));
  if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
      err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
    return std::optional<std::string>();
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status(kSinkRetry, "kafka: offsets of " + topic + "[" + std::to_string(partition) + "]: " + rd_kafka_err2str(err));
  }
  if (high <= low) return std::optional<std::string>();
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = std::max(low, high - window);
  rd_kafka_assign(consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::optional<std::string> found;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (!m) continue;
    bool done = false;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->key && std::string(static_cast<const char*>(m->key), m->key_len) == key) {
        found.emplace(static_cast<const char*>(m->payload), m->len);
      }
      done = m->offset >= high - 1;
    } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      done = true;
    }
    rd_kafka_message_destroy(m);
    if (done) return found;
  }
  return Status(kSinkRetry, "kafka: reading " + topic + "[" + std::to_string(partition) + "] did not reach its end within " +
                                std::to_string(timeout.count()) + " ms");
}

Result<std::map<std::string, std::string>> librdkafkaSettings(const std::map<std::string, std::string>& java,
                                                               std::vector<std::string>* warnings) {
  auto warn = [&](const std::string& line) {
    if (warnings) warnings->push_back(line);
  };
  std::map<std::string, std::string> out;
  std::map<std::string, std::string> from;  // librdkafka name -> the Java key it came from
  auto put = [&](const std::string& javaKey, const std::string& name, const std::string& value) {
    out[name] = value;
    from[name] = javaKey;
  };
  const auto flag = [&](const std::string& key) {
    const auto it = java.find(key);
    return it != java.end() && (it->second == "true" || it->second == "TRUE" || it->second == "True");
  };
  for (const auto& [key, value] : java) {
    if (key == "max.request.size") {
      put(key, "message.max.bytes", value);
    } else if (key == "buffer.memory") {
      long long bytes = 0;
      try {
        bytes = std::stoll(value);
      } catch (const std::exception&) {
        return Status(Status::kInvalidArgument, "kafka.buffer.memory: '" + value + "' is not a number of bytes");
      }
      put(key, "queue.buffering.max.kbytes", std::to_string(std::max<long long>(1, bytes / 1024)));
    } else if (key == "key.serializer" || key == "value.serializer" || key == "partitioner.class" ||
               key == "interceptor.classes") {
      warn("kafka." + key + ": a Java class; messages are serialized as Canal's producer does, the setting has no effect");
    } else if (key == "sasl.jaas.config") {
      if (value.find("Krb5LoginModule") != std::string::npos) {
        if (const std::string keytab = jaasOption(value, "keyTab"); !keytab.empty()) put(key, "sasl.kerberos.keytab", keytab);
        if (const std::string principal = jaasOption(value, "principal"); !principal.empty()) {
          put(key, "sasl.kerberos.principal", principal);
        }
      } else {
        const std::string user = jaasOption(value, "username");
        const std::string password = jaasOption(value, "password");
        if (user.empty()) {
          return Status(Status::kInvalidArgument,
                        "kafka.sasl.jaas.config: no username=\"...\" in it (PLAIN and SCRAM login modules are read)");
        }
        put(key, "sasl.username", user);
        put(key, "sasl.password", password);
      }
    } else if (key == "kerberos.enable") {
      if (flag(key)) {
        put(key, "security.protocol", "SASL_PLAINTEXT");
        put(key, "sasl.mechanism", "GSSAPI");
        put(key, "sasl.kerberos.service.name", "kafka");
      }
    } else if (key == "kerberos.krb5.file" || key == "kerberos.jaas.file") {
      if (flag("kerberos.enable")) {
        warn("kafka." + key + ": not read; Kerberos credentials come from kinit or kafka.sasl.kerberos.keytab and "
             "kafka.sasl.kerberos.principal");
      }
    } else if (key.rfind("ssl.truststore.", 0) == 0) {
      return Status(Status::kInvalidArgument, "kafka." + key +
                                                  ": Java trust stores are not read; give the CA certificate as PEM "
                                                  "with kafka.ssl.ca.location");
    } else {
      put(key, key, value);
    }
  }
  // Every name must be one librdkafka knows, with a value it takes.
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  for (const auto& [name, value] : out) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      const std::string javaKey = from[name];
      return Status(Status::kInvalidArgument,
                    "kafka." + javaKey + (javaKey == name ? "" : " (librdkafka " + name + ")") + ": " + error);
    }
  }
  rd_kafka_conf_destroy(conf);
  return out;
}

Result<std::unique_ptr<KafkaPublisher>> KafkaPublisher::create(KafkaPublisherOptions options) {
  std::unique_ptr<KafkaPublisher> publisher(new KafkaPublisher(nullptr));
  publisher->impl_ = std::make_unique<Impl>(std::move(options), publisher->stats_);
  if (Status s = publisher->impl_->createProducer(); !s) return s;
  return publisher;
}

KafkaPublisher::KafkaPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaPublisher::~KafkaPublisher() = default;

Status KafkaPublisher::publish(const std::vector<MqMessage>& messages) { return impl_->publish(messages); }
Status KafkaPublisher::fence() { return impl_->fence(); }
Result<int> KafkaPublisher::partitionsOf(const std::string& topic) { return impl_->partitionsOf(topic); }

}  // namespace canal::publish
