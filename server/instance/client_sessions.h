#pragma once

// The consuming half of a destination as the network layer sees it: Canal's client operations —
// subscribe, getWithoutAck, ack, rollback — with Canal's batch-id rules and error texts
// (docs/protocol.md, "Requests"), and the wait for a batch to be ready
// without holding a thread. net depends on this interface only, so it can be tested with fakes.
// Thread contract: every method may be called from any thread; subscribe, unsubscribe and
// commitAcks may write to disk or ZooKeeper and belong off the network threads.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

namespace canal::instance {

// The serialized Canal entries of a batch; the views are valid only during the visitor's call.
using BatchEntries = std::vector<std::string_view>;
using BatchVisitor = std::function<void(const BatchEntries&)>;

class ClientSessions {
 public:
  virtual ~ClientSessions() = default;

  virtual const std::string& name() const = 0;
  // False before the destination started and after it stopped: requests are refused with
  // Canal's "should start first".
  virtual bool running() const = 0;

  virtual Status subscribe(std::int16_t clientId, const std::string& filter) = 0;
  virtual Status unsubscribe(std::int16_t clientId) = 0;
  // Takes what is there now, without waiting, and returns the batch id (-1: nothing was there,
  // and `visit` is not called). `visit` sees the entries while the store holds them, so they can
  // be framed without a copy first. InvalidArgument for a fetch size out of range.
  // `epoch` is what the asking connection's last rollback of everything returned (0: it did
  // none). When another connection of the client rolled back since (the client reconnected:
  // this connection is an old one, perhaps dead), the get is refused with Aborted and takes no
  // batch, so no batch goes out ahead of the ones the new connection is given.
  virtual Result<std::int64_t> getWithoutAck(std::int16_t clientId, std::int64_t fetchSize, std::uint64_t epoch,
                                             const BatchVisitor& visit) = 0;
  // True when a get of `fetchSize` would find a batch "enough" now; else `wake` runs once, from
  // the thread that makes it so (or stops the destination). `wake` must not call back in. A
  // waiter has one wake-up at most: a new call replaces it.
  virtual bool readyOrNotify(const void* waiter, std::int64_t fetchSize, std::function<void()> wake) = 0;
  virtual void cancelNotify(const void* waiter) = 0;
  // An ack in two steps: takeForAck() checks the batch (Canal's errors) and sets it aside at
  // once; commitAcks() records the cursor and releases the store for every batch set aside,
  // with one meta write. When that fails, these batches and those set aside meanwhile are the
  // client's unacknowledged ones again.
  virtual Status takeForAck(std::int16_t clientId, std::int64_t batchId) = 0;
  virtual Status commitAcks(std::int16_t clientId) = 0;
  // batchId 0: every unacknowledged batch, which starts a new epoch of the client's connections.
  // Returns the client's epoch (0 when it is not subscribed).
  virtual Result<std::uint64_t> rollback(std::int16_t clientId, std::int64_t batchId) = 0;

  // Counts one request handled by the network layer: `packetType` is Canal's name (GET,
  // SUBSCRIPTION, ...), `errorCode` 0 for success.
  virtual void recordRequest(const std::string& packetType, std::chrono::nanoseconds latency, std::size_t bytesSent,
                             int errorCode, bool emptyBatch) = 0;
};

}  // namespace canal::instance
