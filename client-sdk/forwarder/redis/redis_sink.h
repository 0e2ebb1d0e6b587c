#pragma once

// Keeps Redis keys equal to table rows (hiredis): one key per row, a hash of its columns or one
// JSON string, plus optional index sets. Every write is one Lua script run that compares the
// write's version (the change's binlog position and row ordinal) with the one stored beside the
// key and applies the write, index sets and version together only when it is newer, so a batch
// delivered again never brings back an older value or a deleted row. A batch's writes go in
// pipelined round trips. Redis unreachable, restarted or loading: the batch is rolled back and
// retried. Thread contract: one thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "forwarder/forwarder_config.h"
#include "forwarder/sink.h"

namespace canal::forwarder {

struct RedisCounters {
  std::uint64_t written = 0;
  std::uint64_t deleted = 0;
  std::uint64_t stale = 0;  // refused: the key had a newer version
  std::uint64_t roundTrips = 0;
  std::uint64_t reconnects = 0;
};

class RedisSink final : public Sink {
 public:
  using Logger = std::function<void(const std::string&)>;
  static client::Result<std::unique_ptr<RedisSink>> create(std::string name, const RedisSinkConfig& config, Logger log);
  ~RedisSink() override;

  const std::string& name() const override { return name_; }
  client::Status write(const std::vector<const Change*>& changes, std::int64_t batchId) override;
  // Opens the connection as a write would (login, database, the write script); kSinkFatal when
  // Redis refuses the login or the database.
  client::Status connect();
  std::string counters() const override;
  const RedisCounters& stats() const;

 private:
  class Impl;
  RedisSink(std::string name, std::unique_ptr<Impl> impl);
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canal::forwarder
