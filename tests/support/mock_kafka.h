#pragma once

// librdkafka's mock cluster (a real Kafka protocol endpoint on localhost, brokers in this
// process) and a consumer that reads what arrived, for the Kafka tests of the forwarder and of
// canal-server's MQ mode.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace canal::testing {

struct KafkaRecord {
  std::string topic;
  int partition = 0;
  std::int64_t offset = 0;
  std::string key;  // "" when null
  std::string payload;
  nlohmann::json value;  // the payload parsed as JSON (discarded when it is not JSON)
  std::map<std::string, std::string> headers;
};

class MockKafka {
 public:
  explicit MockKafka(int brokers = 3);
  ~MockKafka();
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  bool ok() const { return cluster_ != nullptr; }
  std::string bootstraps() const;
  // Creates `name` with `partitions` partitions; false when the mock refuses.
  bool createTopic(const std::string& name, int partitions);
  rd_kafka_mock_cluster_s* cluster() { return cluster_; }

  // Every message of `topic` (partitions 0..partitions-1) from the beginning, read until
  // `expected` arrived or `timeout` passed. `readCommitted`: only committed transactions'.
  std::vector<KafkaRecord> consume(const std::string& topic, int partitions, std::size_t expected,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(20),
                                   bool readCommitted = false);

 private:
  rd_kafka_s* handle_ = nullptr;
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
};

}  // namespace canal::testing
