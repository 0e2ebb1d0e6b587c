#include "forwarder/forwarder.h"

#include <algorithm>
#include <thread>

#include "forwarder/elasticsearch/elasticsearch_sink.h"
#include "forwarder/kafka/kafka_sink.h"
#include "forwarder/rabbitmq/rabbitmq_sink.h"
#include "forwarder/redis/redis_sink.h"
#include "forwarder/sql/sql_sink.h"

namespace canal::forwarder {
namespace {

using client::Status;
using Clock = std::chrono::steady_clock;

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

client::Result<std::unique_ptr<Forwarder>> Forwarder::create(const ForwarderConfig& config, Logger log) {
  std::vector<std::unique_ptr<Sink>> sinks;
  for (const SinkConfig& s : config.sinks) {
    if (auto tables = publish::TableSet::create(s.tables); !tables) {
      return Status(tables.status().code(), s.name + ": tables: " + tables.status().message());
    }
    if (s.kind == SinkConfig::Kind::kKafka) {
      auto sink = KafkaSink::create(s.name, s.kafka);
      if (!sink) return Status(sink.status().code(), s.name + ": " + sink.status().message());
      sinks.push_back(std::move(*sink));
    } else if (s.kind == SinkConfig::Kind::kRabbitMq) {
      auto sink = RabbitMqSink::create(s.name, s.rabbitMq);
      if (!sink) return Status(sink.status().code(), s.name + ": " + sink.status().message());
      sinks.push_back(std::move(*sink));
    } else if (s.kind == SinkConfig::Kind::kRedis) {
      auto sink = RedisSink::create(s.name, s.redis, log);
      if (!sink) return Status(sink.status().code(), s.name + ": " + sink.status().message());
      sinks.push_back(std::move(*sink));
    } else if (s.kind == SinkConfig::Kind::kSql) {
      auto sink = SqlSink::create(s.name, s.sql, log);
      if (!sink) return Status(sink.status().code(), s.name + ": " + sink.status().message());
      sinks.push_back(std::move(*sink));
    } else {
      auto sink = ElasticsearchSink::create(s.name, s.elasticsearch, log);
      if (!sink) return Status(sink.status().code(), s.name + ": " + sink.status().message());
      sinks.push_back(std::move(*sink));
    }
  }
  return std::make_unique<Forwarder>(config, std::move(sinks), connectorFor(config.source), std::move(log));
}

std::unique_ptr<client::CanalConnector> connectorFor(const SourceConfig& src, client::ConnectorOptions options) {
  options.clientId = src.clientId;
  if (!src.zookeeper.empty()) {
    return client::newClusterConnector(client::ClusterSource::zooKeeper(src.zookeeper), src.destination, src.user,
                                       src.password, options);
  }
  if (src.address.find(',') != std::string::npos) {
    return client::newClusterConnector(client::ClusterSource::list(src.address), src.destination, src.user,
                                       src.password, options);
  }
  return client::newSingleConnector(src.address, src.destination, src.user, src.password, options);
}

Forwarder::Forwarder(ForwarderConfig config, std::vector<std::unique_ptr<Sink>> sinks,
                     std::unique_ptr<client::CanalConnector> connector, Logger log)
    : config_(std::move(config)), sinks_(std::move(sinks)), connector_(std::move(connector)), log_(std::move(log)) {
  for (const auto& sink : sinks_) counters_.sinks.emplace_back(sink->name(), sink->counters());
  for (std::size_t i = 0; i < sinks_.size(); ++i) {
    const std::vector<std::string> tables = i < config_.sinks.size() ? config_.sinks[i].tables : std::vector<std::string>{};
    auto set = publish::TableSet::create(tables);  // create() refused expressions that do not compile
    routes_.push_back(Route{sinks_[i].get(), set ? std::move(*set) : publish::TableSet(), -1});
  }
}

void Forwarder::pause(std::chrono::milliseconds d) const {
  const auto until = Clock::now() + d;
  while (!stopping() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

Status Forwarder::connect() {
  connector_->disconnect();
  if (Status s = connector_->connect(); !s) return s;
  return connector_->subscribe(config_.source.filter);
}

Status Forwarder::deliver(const std::vector<Change>& changes, std::int64_t batchId) {
  const bool redelivery = retryingFrom_ >= 0 && !changes.empty() && changes.front().version() == retryingFrom_;
  if (!redelivery) {
    for (Route& r : routes_) r.confirmedThrough = -1;
  }
  Status failed;
  for (Route& r : routes_) {
    std::vector<const Change*> mine;
    for (const Change& c : changes) {
      if (c.version() <= r.confirmedThrough) continue;  // this sink has it from the failed attempt
      if (c.table.empty() ? r.tables.matchesAll() : r.tables.matches(c.qualifiedName())) mine.push_back(&c);
    }
    if (mine.empty()) continue;
    const Status s = r.sink->write(mine, batchId);
    if (s) {
      r.confirmedThrough = changes.back().version();
      continue;
    }
    if (failed || s.code() == kSinkFatal) failed = s;  // the first failure, or the fatal one
    if (s.code() == kSinkFatal) break;
  }
  retryingFrom_ = !failed && !changes.empty() ? changes.front().version() : -1;
  return failed;
}

void Forwarder::progress(bool force) {
  const auto now = Clock::now();
  if (lastProgress_ == Clock::time_point{}) lastProgress_ = now;
  const auto elapsed = now - lastProgress_;
  if (!force && elapsed < config_.progressInterval) return;
  const double seconds = std::max(0.001, std::chrono::duration<double>(elapsed).count());
  const auto rate = static_cast<std::uint64_t>(static_cast<double>(counters_.rows - rowsAtLastProgress_) / seconds);
  const std::int64_t lag = idle_ || counters_.lastExecuteTime == 0 ? 0 : nowMs() - counters_.lastExecuteTime;
  std::string line = "progress: " + std::to_string(counters_.batches) + " batches, " +
                     std::to_string(counters_.rows) + " rows (" + std::to_string(rate) + " rows/s), " +
                     std::to_string(counters_.rollbacks) + " rollbacks, lag " + std::to_string(lag) + " ms";
  for (const auto& s : sinks_) line += "; " + s->counters();
  log_(line);
  lastProgress_ = now;
  rowsAtLastProgress_ = counters_.rows;
}

Status Forwarder::run() {
  auto backoff = config_.retryBackoff;
  bool connected = false;
  while (!stopping()) {
    if (!connected) {
      if (Status s = connect(); !s) {
        log_("cannot reach destination " + config_.source.destination + ": " + s.toString() + "; retrying in " +
             std::to_string(backoff.count()) + " ms");
        pause(backoff);
        backoff = std::min(backoff * 2, config_.maxRetryBackoff);
        continue;
      }
      connected = true;
      {
        std::lock_guard<std::mutex> lock(countersMutex_);
        ++counters_.subscriptions;
      }
      log_("following destination " + config_.source.destination);
    }
    auto message = connector_->getWithoutAck(config_.source.batchSize, config_.source.pollTimeout);
    if (!message) {
      log_("get from destination " + config_.source.destination + " failed: " + message.status().toString());
      connected = false;
      continue;
    }
    progress(false);
    if (message->id() == -1 || message->empty()) {
      idle_ = true;
      std::lock_guard<std::mutex> lock(countersMutex_);
      ++counters_.emptyGets;
      counters_.idle = true;
      continue;
    }
    idle_ = false;
    auto changes = changesOf(*message);
    if (!changes) return Status(kSinkFatal, changes.status().message());
    const Status delivered = deliver(*changes, message->id());
    if (!delivered) {
      if (Status r = connector_->rollback(message->id()); !r) connected = false;
      if (delivered.code() == kSinkFatal) return delivered;
      {
        std::lock_guard<std::mutex> lock(countersMutex_);
        ++counters_.rollbacks;
        noteSinks();
      }
      log_("batch " + std::to_string(message->id()) + " rolled back: " + delivered.message() + "; retrying in " +
           std::to_string(backoff.count()) + " ms");
      pause(backoff);
      backoff = std::min(backoff * 2, config_.maxRetryBackoff);
      continue;
    }
    if (Status a = connector_->ack(message->id()); !a) {
      // Not acked: the server delivers the batch again (the sinks' writes are idempotent).
      log_("ack of batch " + std::to_string(message->id()) + " failed: " + a.toString());
      connected = false;
      continue;
    }
    retryingFrom_ = -1;
    backoff = config_.retryBackoff;
    std::lock_guard<std::mutex> lock(countersMutex_);
    ++counters_.batches;
    counters_.idle = false;
    noteSinks();
    for (const Change& c : *changes) {
      counters_.entries++;
      counters_.rows += static_cast<std::uint64_t>(std::max(1, c.rowChange.rowdatas_size()));
      if (c.snapshot) counters_.snapshotRows += static_cast<std::uint64_t>(c.rowChange.rowdatas_size());
      counters_.lastExecuteTime = c.executeTime;
    }
  }
  progress(true);
  connector_->disconnect();
  return Status::ok();
}

void Forwarder::noteSinks() {
  for (std::size_t i = 0; i < sinks_.size(); ++i) counters_.sinks[i].second = sinks_[i]->counters();
}

}  // namespace canal::forwarder
