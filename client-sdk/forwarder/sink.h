#pragma once

// Where the forwarder writes a batch's changes. A sink writes synchronously: write() returns
// once every change it takes is confirmed by its destination (or dead-lettered as configured);
// only then is the Canal batch acked. Thread contract: one thread.

#include <cstdint>
#include <string>
#include <vector>

#include "canal/client/status.h"
#include "forwarder/change.h"
#include "publish/mq_message.h"  // kSinkFatal, kSinkRetry

namespace canal::forwarder {

// A sink's write fails with the publishers' codes: kSinkFatal stops delivery, kSinkRetry rolls
// the batch back to be written again.
using publish::kSinkFatal;
using publish::kSinkRetry;

class Sink {
 public:
  virtual ~Sink() = default;
  virtual const std::string& name() const = 0;
  // Writes `changes` (in binlog order); `batchId` is the Canal batch's id.
  virtual client::Status write(const std::vector<const Change*>& changes, std::int64_t batchId) = 0;
  // One line of counters for the progress log.
  virtual std::string counters() const = 0;
};

}  // namespace canal::forwarder
