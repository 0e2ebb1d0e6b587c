#include "server/app/canal_mq_publisher.h"

#include <chrono>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "canal/protocol/entry_protocol.pb.h"
#include "publish/canal_mq_router.h"
#include "publish/kafka_publisher.h"
#include "publish/rabbitmq_publisher.h"
#include "server/common/logging.h"
#include "server/common/position.h"

namespace canal::app {
namespace {

namespace eb = canal::protocol::entry;

std::int64_t wallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status fromPublish(const client::Status& s) {
  if (s.isOk()) return Status::ok();
  if (s.code() == publish::kSinkRetry) return Status::unavailable(s.message());
  if (s.code() == publish::kSinkFatal) return Status::aborted(s.message());
  return Status::internal(s.message());
}

// What tells one entry from another across a restart: where it is in the binlog, when it was
// written and by which server, what it is. The same entry read again from the same server has
// the same identity; an entry read from a standby or from a binlog started again does not.
std::string identityOf(const eb::Entry& e) {
  const auto& h = e.header();
  std::string id = h.logfilename() + ":" + std::to_string(h.logfileoffset()) + ":" + std::to_string(h.executetime()) +
                   ":" + std::to_string(h.serverid()) + ":" + std::to_string(static_cast<int>(e.entrytype())) + ":" +
                   std::to_string(static_cast<int>(h.eventtype())) + ":" + h.schemaname() + "." + h.tablename();
  for (const auto& prop : h.props()) {
    if (prop.key() == "snapshot") id += ":snapshot";
  }
  return id;
}

}  // namespace

// With canal.mq.transaction, the batches ready at once (up to kBatchesPerTransaction) go in one
// transaction, which also writes a position record (key: the destination) to
// canal.mq.positionTopic naming them: their first and last entries and how many they hold.
// Batches that were committed but not acked (the server died in between, or the standby took
// over) are delivered again by the store from their first entry: when the first entries
// delivered after a start are theirs, they are not sent twice. Anything else (the
// record's batch was acked, the entries come from a standby or a binlog started again, a record
// of an older version) skips nothing: at worst a batch is sent twice, never one lost.
struct CanalMqPublisher::Parts {
  publish::CanalMqRouter router;
  std::unique_ptr<publish::MessagePublisher> publisher;
  std::string destination;
  std::string positionTopic;  // empty: not transactional
  std::map<std::string, std::string> properties;
  bool positionRead = false;
  // The batch the newest committed position record names, while it is delivered again.
  struct Replay {
    std::string first;
    std::string last;
    std::uint64_t count = 0;
    std::uint64_t skipped = 0;
  };
  std::optional<Replay> replay;
};

struct CanalMqPublisher::Prepared {
  publish::CanalMqSettings settings;
  std::optional<publish::KafkaPublisherOptions> kafka;
  std::optional<publish::RabbitMqOptions> rabbitMq;
  std::string description;
  std::string positionTopic;
};

Result<CanalMqPublisher::Prepared> CanalMqPublisher::prepare(const ServerConfig& server,
                                                                  const InstanceConfig& instance, Warnings* warnings) {
  publish::CanalMqSettings settings;
  settings.topic = instance.mqTopic;
  settings.dynamicTopic = instance.mqDynamicTopic;
  settings.partition = instance.mqPartition;
  if (instance.mqPartitionsNum > 0) settings.partitionsNum = instance.mqPartitionsNum;
  settings.partitionHash = instance.mqPartitionHash;
  settings.dynamicTopicPartitionNum = instance.mqDynamicTopicPartitionNum;
  settings.flatMessage = server.mqFlatMessage;
  settings.databaseHash = server.mqDatabaseHash;
  settings.filterTransactionEntry = instance.filterTransactionEntry;
  settings.rawEntry = instance.rawEntry;
  if (auto router = publish::CanalMqRouter::create(settings); !router) {
    return Status::invalidArgument(router.status().message());
  }

  if (server.serverMode == ServerMode::kRabbitMq) {
    // Canal's RabbitMQ producer: the topic is the routing key; no partitions.
    settings.partitionHash.clear();
    settings.dynamicTopicPartitionNum.clear();
    if (server.rabbitMq.host.empty()) return Status::invalidArgument("rabbitmq.host is not set; MQ mode needs the broker");
    if (server.mqTransaction) {
      return Status::invalidArgument("canal.mq.transaction is Kafka's; RabbitMQ batches are confirmed one by one");
    }
    if (warnings && (!instance.mqPartitionHash.empty() || instance.mqPartitionsNum > 0)) {
      warnings->push_back(instance.destination + ": canal.mq.partitionHash and canal.mq.partitionsNum have no effect "
                                                 "with RabbitMQ (as in Canal)");
    }
    publish::RabbitMqOptions o;
    o.host = server.rabbitMq.host;
    o.virtualHost = server.rabbitMq.virtualHost.empty() ? "/" : server.rabbitMq.virtualHost;
    o.username = server.rabbitMq.username;
    o.password = server.rabbitMq.password;
    o.exchange = server.rabbitMq.exchange;
    o.exchangeType = server.rabbitMq.deliveryMode;
    o.dropUnroutable = server.rabbitMq.dropUnroutable;
    o.queue = server.rabbitMq.queue;
    o.routingKey = server.rabbitMq.routingKey;
    if (auto checked = publish::RabbitMqPublisher::create(o); !checked) {
      return Status::invalidArgument(checked.status().message());
    }
    std::string description = "rabbitmq " + (o.host.rfind("amqp", 0) == 0 ? std::string("(URI)") : o.host) +
                              " exchange '" + o.exchange + "'";
    Prepared prepared{std::move(settings), std::nullopt, std::move(o), std::move(description), ""};
    return prepared;
  }

  std::vector<std::string> notes;
  auto properties = publish::librdkafkaSettings(server.kafka, &notes);
  if (!properties) return Status::invalidArgument(properties.status().message());
  if (warnings) {
    for (const std::string& n : notes) warnings->push_back("canal.properties: " + n);
    if (instance.mqEnableDynamicQueuePartition) {
      warnings->push_back(instance.destination + ": canal.mq.enableDynamicQueuePartition is RocketMQ's; no effect with Kafka");
    }
  }
  if (!properties->count("bootstrap.servers")) {
    return Status::invalidArgument("kafka.bootstrap.servers is not set; MQ mode needs the brokers");
  }
  publish::KafkaPublisherOptions options;
  options.properties = std::move(*properties);
  auto& p = options.properties;
  // A batch is in order within a partition: Canal sends with one request in flight per
  // connection; an idempotent or transactional producer keeps order with up to five.
  const bool ordered = server.mqTransaction || (p.count("enable.idempotence") && p["enable.idempotence"] == "true");
  if (!ordered) p["max.in.flight.requests.per.connection"] = "1";
  if (!p.count("message.timeout.ms") && !p.count("delivery.timeout.ms")) p["message.timeout.ms"] = "30000";
  const std::string timeout = p.count("message.timeout.ms") ? p["message.timeout.ms"] : p["delivery.timeout.ms"];
  options.timeout = std::chrono::milliseconds(std::stoll(timeout) + 5000);
  if (server.mqTransaction) {
    // One transactional id per destination: a new producer with it (a restart, the standby
    // taking over) fences the old one. Transactions need acks=all and retries.
    const auto given = p.find("transactional.id");
    options.transactionalId = (given != p.end() ? given->second + "-" : std::string("canal-")) + instance.destination;
    p.erase("transactional.id");
    if (p.count("retries") && p["retries"] == "0") {
      if (warnings) warnings->push_back("canal.properties: kafka.retries = 0 is raised for canal.mq.transaction = true");
      p.erase("retries");
    }
    p["acks"] = "all";
  }
  options.deadLetterTopic = instance.mqDeadLetterTopic;
  options.sizeLimitSetting = "kafka.max.request.size";
  options.deadLetterSetting = "canal.mq.deadLetterTopic";
  std::string description = "kafka " + p["bootstrap.servers"] + (server.mqTransaction ? " (transactional)" : "");
  std::string positionTopic = server.mqTransaction ? instance.mqPositionTopic : std::string();
  Prepared prepared{std::move(settings), std::move(options), std::nullopt, std::move(description), std::move(positionTopic)};
  return prepared;
}

Status CanalMqPublisher::check(const ServerConfig& server, const InstanceConfig& instance, Warnings* warnings) {
  return prepare(server, instance, warnings).status();
}

Result<std::unique_ptr<CanalMqPublisher>> CanalMqPublisher::create(const ServerConfig& server,
                                                                         const InstanceConfig& instance) {
  auto prepared = prepare(server, instance, nullptr);
  if (!prepared) return prepared.status();
  auto router = publish::CanalMqRouter::create(prepared->settings);
  if (!router) return Status::invalidArgument(router.status().message());
  std::unique_ptr<publish::MessagePublisher> publisher;
  std::map<std::string, std::string> properties;
  if (prepared->kafka) {
    properties = prepared->kafka->properties;
    auto made = publish::KafkaPublisher::create(std::move(*prepared->kafka));
    if (!made) return Status::invalidArgument(made.status().message());
    publisher = std::move(*made);
  } else {
    auto made = publish::RabbitMqPublisher::create(std::move(*prepared->rabbitMq));
    if (!made) return Status::invalidArgument(made.status().message());
    publisher = std::move(*made);
  }
  auto parts = std::make_unique<Parts>(Parts{std::move(*router), std::move(publisher), instance.destination,
                                             prepared->positionTopic, std::move(properties), false, std::nullopt});
  return std::unique_ptr<CanalMqPublisher>(new CanalMqPublisher(std::move(parts), prepared->description));
}

CanalMqPublisher::CanalMqPublisher(std::unique_ptr<Parts> parts, std::string description)
    : parts_(std::move(parts)), description_(std::move(description)) {}
CanalMqPublisher::~CanalMqPublisher() = default;

std::size_t CanalMqPublisher::batchesPerPublish() const { return parts_->positionTopic.empty() ? 1 : kBatchesPerTransaction; }

Status CanalMqPublisher::publish(const std::vector<mq::PublishBatch>& batches) {
  Parts& p = *parts_;
  const bool transactional = !p.positionTopic.empty();
  if (transactional && !p.positionRead) {
    // Fenced first: a transaction an earlier run committed but whose markers the broker had not
    // written yet is then complete, and its position record visible to the read below.
    if (const client::Status fenced = p.publisher->fence(); !fenced) return fromPublish(fenced);
    auto last = publish::lastValueOfKey(p.properties, p.positionTopic, 0, p.destination, 1000, std::chrono::seconds(15));
    if (!last) return fromPublish(last.status());
    if (*last) {
      const auto j = nlohmann::json::parse(**last, nullptr, false);
      if (!j.is_object() || !j["journalName"].is_string() || !j["position"].is_number_integer()) {
        return Status::corruption(p.positionTopic, "the position record of " + p.destination + " does not parse: " + **last);
      }
      if (j["first"].is_string() && j["last"].is_string() && j["count"].is_number_unsigned()) {
        p.replay = Parts::Replay{j["first"].get<std::string>(), j["last"].get<std::string>(),
                                 j["count"].get<std::uint64_t>(), 0};
      }
    }
    p.positionRead = true;
  }
  eb::Entry header;
  const auto identity = [&](std::string_view bytes) {
    return header.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ? identityOf(header) : std::string();
  };
  std::vector<publish::MqMessage> messages;
  std::string first;          // transactional: the first entry given
  std::uint64_t count = 0;    // entries given
  std::string_view lastSent;  // the last entry sent
  std::int64_t lastBatchId = 0;
  for (const mq::PublishBatch& batch : batches) {
    if (batch.entries.empty()) continue;
    std::vector<std::string_view> send = batch.entries;
    const std::string batchFirst = transactional ? identity(send.front()) : std::string();
    if (first.empty()) first = batchFirst;
    count += send.size();
    // Only the committed batch delivered again (from its first entry) went out already.
    if (p.replay && p.replay->skipped == 0 && batchFirst != p.replay->first) p.replay.reset();
    if (p.replay) {
      const std::size_t skip =
          static_cast<std::size_t>(std::min<std::uint64_t>(p.replay->count - p.replay->skipped, send.size()));
      p.replay->skipped += skip;
      if (p.replay->skipped == p.replay->count) {
        if (const std::string ended = identity(send[skip - 1]); ended != p.replay->last) {
          moduleLogger("mq")->warn("destination {}: the batch delivered again after the start ends with {}, not with {} "
                                   "as its position record says; the entries after it are published",
                                   p.destination, ended, p.replay->last);
        }
        p.replay.reset();
      }
      send.erase(send.begin(), send.begin() + static_cast<std::ptrdiff_t>(skip));
      if (send.empty()) continue;
    }
    auto routed = p.router.route(batch.id, send, wallClockMs());
    if (!routed) return Status::corruption("batch " + std::to_string(batch.id), routed.status().message());
    if (messages.empty()) {
      messages = std::move(*routed);
    } else {
      messages.insert(messages.end(), std::make_move_iterator(routed->begin()), std::make_move_iterator(routed->end()));
    }
    lastSent = send.back();
    lastBatchId = batch.id;
  }
  if (lastSent.empty()) return Status::ok();  // nothing given, or all of it went out already
  if (transactional) {
    if (!header.ParseFromArray(lastSent.data(), static_cast<int>(lastSent.size()))) {
      return Status::corruption("batch " + std::to_string(lastBatchId), "its last entry does not parse");
    }
    const nlohmann::json position = {{"destination", p.destination},
                                     {"batchId", lastBatchId},
                                     {"journalName", header.header().logfilename()},
                                     {"position", header.header().logfileoffset()},
                                     {"timestamp", header.header().executetime()},
                                     {"first", first},
                                     {"last", identityOf(header)},
                                     {"count", count}};
    publish::MqMessage record;
    record.topic = p.positionTopic;
    record.partition = 0;
    record.key = p.destination;
    record.payload = position.dump();
    record.origin.logfileName = header.header().logfilename();
    record.origin.logfileOffset = header.header().logfileoffset();
    record.afterTheRest = true;
    messages.push_back(std::move(record));
  }
  return fromPublish(p.publisher->publish(messages));
}

mq::PublisherCounters CanalMqPublisher::counters() const {
  const publish::PublisherStats& s = parts_->publisher->stats();
  mq::PublisherCounters c;
  c.messages = s.messages.load();
  c.bytes = s.bytes.load();
  c.inFlight = s.inFlight.load();
  c.deadLettered = s.deadLettered.load();
  c.unroutable = s.unroutable.load();
  c.transactions = s.transactions.load();
  c.lastLatencyUs = s.lastLatencyUs.load();
  c.problem = s.problem();
  c.problems = s.problems.load();
  return c;
}

}  // namespace canal::app
