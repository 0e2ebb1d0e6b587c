#pragma once

// One message for a broker, with where its content came from (for errors and dead letters).

#include <cstdint>
#include <string>

namespace canal::publish {

// The first change a message carries.
struct MessageOrigin {
  std::string database;
  std::string table;
  std::string type;  // Canal's EventType name
  std::string logfileName;
  std::int64_t logfileOffset = 0;
  std::int64_t executeTime = 0;  // ms
  // The change's stream sequence (docs/protocol.md); 0 from a server that sends none. Sent as
  // the message header "canal-sequence" (Kafka header, AMQP header field) when set.
  std::int64_t sequence = 0;

  // "schema.table UPDATE at mysql-bin.000003:4711"
  std::string where() const;
};

inline constexpr const char* kSequenceHeader = "canal-sequence";

struct MqMessage {
  std::string topic;
  std::int32_t partition = 0;  // Kafka partition; -1: the producer's partitioner decides
  std::string key;             // empty: no key
  std::string payload;
  MessageOrigin origin;
  // In a transaction: produced only once every other message of it is delivered, so that on the
  // broker it never stands without them (a record saying what the transaction carried).
  bool afterTheRest = false;
};

// Status codes of a delivery that failed. kSinkFatal: retrying cannot fix it (an oversized
// message without a dead-letter topic, a request the destination refuses as malformed); the
// batch stays unacked and delivery stops. kSinkRetry: worth retrying (broker or cluster
// unavailable, throttled, timed out); the batch is rolled back and delivered again.
inline constexpr int kSinkFatal = -100;
inline constexpr int kSinkRetry = -101;

}  // namespace canal::publish
