#pragma once

// The consuming half of a destination: its clients' subscriptions, filters, unacknowledged
// batches and cursors over one event store, and the meta (memory, meta.dat or ZooKeeper) their
// subscriptions and acked cursors are recorded in. It reads the store and never the primary, so
// it is tested with an in-memory store and a fake MetaStore.
// Thread contract: thread-safe (see ClientSessions); meta writes are serialized.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/common/histogram.h"
#include "server/common/position.h"
#include "server/instance/active_filter.h"
#include "server/instance/client_sessions.h"
#include "server/instance/stream_marks.h"
#include "server/meta/meta_store.h"
#include "server/store/event_store.h"

namespace canal::instance {

// Latency buckets (seconds) of client requests: Canal's 2.5, 10, 25, 100 ms and finer ones.
std::vector<double> requestLatencyBounds();

// Client requests as the network layer reports them (Canal's canal_instance_client_* metrics).
struct ClientTrafficStats {
  std::map<std::string, std::uint64_t> packets;  // by packet type; GET counts non-empty batches
  std::uint64_t bytes = 0;                       // sent, frame headers included
  std::uint64_t emptyBatches = 0;
  std::map<int, std::uint64_t> errors;           // error replies by code
  Histogram latency{requestLatencyBounds()};
};

struct ClientStats {
  std::int16_t clientId = 0;
  std::string filter;
  std::size_t unackedBatches = 0;
  std::optional<EntryPosition> cursor;
  Histogram getLatency{requestLatencyBounds()};  // getWithoutAck, waiting excluded
  Histogram ackLatency{requestLatencyBounds()};  // ack, meta write included
};

// A batch with its entries copied, for callers that wait in the store (tests, tools).
struct ClientBatch {
  std::int64_t id = -1;
  std::vector<std::string> entries;  // serialized Entry each
};

class DestinationClients final : public ClientSessions {
 public:
  // `sourceHost`:`sourcePort` is the primary, recorded with a cursor (its sourceAddress) until an
  // ack covers entries read from another server (StreamMarks::source). `store` and `filter`
  // outlive this object. `meta` may be null (memory mode: nothing is recorded).
  DestinationClients(std::string name, std::string sourceHost, int sourcePort, store::EventStore& store,
                     ActiveFilter& filter, std::unique_ptr<meta::MetaStore> meta);

  // Where snapshot progress or the server read changed in the store (set before open();
  // outlives this object): an ack covering a mark records it with the cursor.
  void setMarks(StreamMarks* marks) { marks_ = marks; }
  // Takes up stored subscriptions, filters and cursors (before open()).
  Status restore(const meta::DestinationMeta& stored);
  // Requests are served between open() and close(); close() flushes the meta.
  void open() { running_ = true; }
  void close();

  const std::string& name() const override { return name_; }
  bool running() const override { return running_; }
  Status subscribe(std::int16_t clientId, const std::string& filter) override;
  Status unsubscribe(std::int16_t clientId) override;
  Result<std::int64_t> getWithoutAck(std::int16_t clientId, std::int64_t fetchSize, std::uint64_t epoch,
                                     const BatchVisitor& visit) override;
  bool readyOrNotify(const void* waiter, std::int64_t fetchSize, std::function<void()> wake) override;
  void cancelNotify(const void* waiter) override;
  Status takeForAck(std::int16_t clientId, std::int64_t batchId) override;
  Status commitAcks(std::int16_t clientId) override;
  Result<std::uint64_t> rollback(std::int16_t clientId, std::int64_t batchId) override;
  void recordRequest(const std::string& packetType, std::chrono::nanoseconds latency, std::size_t bytesSent,
                     int errorCode, bool emptyBatch) override;

  // getWithoutAck that waits in the store as `wait` says and copies the entries out.
  Result<ClientBatch> get(std::int16_t clientId, std::int64_t fetchSize, store::GetWait wait);
  // takeForAck + commitAcks.
  Status ack(std::int16_t clientId, std::int64_t batchId);

  // The position of the last acked batch of `clientId`.
  std::optional<EntryPosition> cursor(std::int16_t clientId) const;
  std::vector<ClientStats> clientStats() const;
  ClientTrafficStats traffic() const;

 private:
  struct Batch {
    std::uint64_t end = 0;
    std::optional<EntryPosition> ackPosition;
    std::pair<std::string, std::uint64_t> last;  // binlog file and offset of the last entry
  };
  struct Client {
    std::string filter;
    std::int64_t nextBatchId = 1;
    std::uint64_t epoch = 1;  // advanced by every rollback of everything
    std::map<std::int64_t, Batch> batches;
    std::optional<EntryPosition> cursor;
    std::pair<std::string, std::uint64_t> ackedThrough;  // the last entry acked
    std::string snapshot;  // the snapshot progress as of the last ack ("" none)
    std::pair<std::string, int> source;  // the server `cursor` is a position of (host, port)
    std::vector<std::pair<std::int64_t, Batch>> acking;  // taken for ack, not committed yet
    std::chrono::steady_clock::time_point ackingSince;
    Histogram getLatency{requestLatencyBounds()};
    Histogram ackLatency{requestLatencyBounds()};
  };
  Result<std::int64_t> take(std::int16_t clientId, std::int64_t fetchSize, store::GetWait wait, std::uint64_t epoch,
                            const store::EventStore::BatchVisitor& visit);
  std::string identity(std::int16_t clientId) const;
  Status checkRunning() const;
  meta::DestinationMeta metaLocked() const;
  Status recordLocked(meta::MetaChange::Kind kind, std::int16_t clientId);

  const std::string name_;
  const std::string sourceHost_;
  const int sourcePort_;
  store::EventStore& store_;
  ActiveFilter& filter_;
  const std::unique_ptr<meta::MetaStore> meta_;
  StreamMarks* marks_ = nullptr;
  std::atomic<bool> running_{false};
  std::mutex metaMutex_;      // serializes meta writes (subscriptions, acks); taken before mutex_
  mutable std::mutex mutex_;  // clients_
  std::map<std::int16_t, Client> clients_;
  mutable std::mutex trafficMutex_;
  ClientTrafficStats traffic_;
};

}  // namespace canal::instance
