#pragma once

// A client of Canal's TCP protocol (port 11111), for canal-cpp's server and Alibaba Canal's
// alike, shaped like Canal's Java CanalConnector:
//
//   auto connector = canal::client::newSingleConnector("127.0.0.1:11111", "example", "", "");
//   connector->connect();
//   connector->subscribe(".*\\..*");
//   for (;;) {
//     auto message = connector->getWithoutAck(1000, std::chrono::milliseconds(1000));
//     if (!message) { /* message.status() says why */ continue; }
//     for (const auto& [entry, change] : message->rowChangeViews()) { ... }  // or rowChanges()
//     if (processed) connector->ack(message->id()); else connector->rollback(message->id());
//   }
//
// Thread contract: a connector is used by one thread at a time (calls are not synchronized);
// distinct connectors are independent. Message is a plain value.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "canal/client/row_change_reader.h"
#include "canal/client/status.h"
#include "canal/protocol/entry_protocol.pb.h"

namespace canal::client {

using Entry = canal::protocol::entry::Entry;

template <typename Change>
class BasicRowChanges;
using RowChanges = BasicRowChanges<canal::protocol::entry::RowChange>;
using RowChangeViews = BasicRowChanges<RowChangeReader>;

struct MessageStorage;  // where a batch's entries are kept; connectors recycle it

// One batch: its id (-1 for the empty batch) and its entries, parsed on first use. Copies share
// the entries.
class Message {
 public:
  Message() = default;
  Message(std::int64_t id, std::vector<std::string> rawEntries);

  std::int64_t id() const { return id_; }
  bool empty() const;
  // The serialized Entry protos as received.
  const std::vector<std::string>& rawEntries() const;
  // The entries, parsed from rawEntries() on the first call. An entry that does not parse is
  // left default-constructed and counted by unparsedEntries().
  const std::vector<Entry>& entries() const;
  std::size_t unparsedEntries() const;
  // The ROWDATA entries with their RowChange: the ways to read a batch's rows (see
  // BasicRowChanges): as protobuf objects, or read in place.
  RowChanges rowChanges() const;
  RowChangeViews rowChangeViews() const;

 private:
  // A batch a connector read into storage from its pool (copies of the Message share it).
  friend Message messageIn(std::int64_t id, std::shared_ptr<MessageStorage> storage);

  std::int64_t id_ = -1;
  std::shared_ptr<MessageStorage> storage_;
};

// The ROWDATA entries of a batch, each with its RowChange read into one object that is reused
// from entry to entry: RowChanges parses a protobuf RowChange (the full objects),
// RowChangeViews reads it in place (RowChangeReader: views of names and values, no object per
// row or column; about twice as fast again). Parsing a new RowChange for every entry allocates
// every column of every row afresh: the loop below runs about twice as fast as that.
//
//   auto changes = message->rowChanges();
//   for (const auto& [entry, change] : changes) {
//     for (const auto& row : change.rowdatas()) { ... }  // RowView(row, change.eventtype())
//   }
//   if (!changes.ok()) { /* changes.error(): the entry that did not parse; roll back */ }
//
//   for (const auto& [entry, change] : message->rowChangeViews()) {
//     for (std::size_t r = 0; r < change.rows(); ++r) { ... change.after(r).find("id") ... }
//   }
//
// The change a step yields is valid until the next step. An entry whose RowChange does not
// parse ends the loop, and ok() is false from then on. Input iteration: one pass.
template <typename Change>
class BasicRowChanges {
 public:
  struct Item {
    const Entry& entry;
    const Change& change;
  };
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Item;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Item;
    Item operator*() const { return Item{(*owner_->entries_)[index_], owner_->change_}; }
    iterator& operator++() {
      index_ = owner_->next(index_ + 1);
      return *this;
    }
    bool operator==(const iterator& other) const { return index_ == other.index_; }
    bool operator!=(const iterator& other) const { return index_ != other.index_; }

   private:
    friend class BasicRowChanges;
    iterator(BasicRowChanges* owner, std::size_t index) : owner_(owner), index_(index) {}
    BasicRowChanges* owner_;
    std::size_t index_;
  };

  // Shares the batch's parsed entries: the range stays valid after its Message is gone (as in
  // `for (... : connector->getWithoutAck(n)->rowChanges())`).
  explicit BasicRowChanges(std::shared_ptr<const std::vector<Entry>> entries) : entries_(std::move(entries)) {}
  iterator begin() { return iterator(this, next(0)); }
  iterator end() { return iterator(this, entries_->size()); }
  bool ok() const { return failed_ == kNone; }
  // "the RowChange of the entry at FILE:OFFSET (schema.table) does not parse", or "".
  std::string error() const;

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  // The first ROWDATA entry at or after `from` with its RowChange read into change_; the end
  // when there is none or one does not parse.
  std::size_t next(std::size_t from);

  std::shared_ptr<const std::vector<Entry>> entries_;
  Change change_;
  std::size_t failed_ = kNone;
};

extern template class BasicRowChanges<canal::protocol::entry::RowChange>;
extern template class BasicRowChanges<RowChangeReader>;

struct ConnectorOptions {
  std::int16_t clientId = 1001;  // every Canal client uses 1001
  std::chrono::milliseconds connectTimeout{10000};
  // Longest wait for one reply beyond a GET's own timeout.
  std::chrono::milliseconds soTimeout{60000};
  // The server closes the connection after this long without a request (netReadTimeout).
  std::chrono::milliseconds idleTimeout{3600000};
  // When a call finds the connection lost, reconnect (re-authenticate, roll back, subscribe
  // again with the last filter) this many times, waiting retryInterval, doubled each time.
  int retries = 3;
  std::chrono::milliseconds retryInterval{1000};
  // Acks have no reply when they succeed, and the server answers a connection's requests in
  // order: an ack's outcome is known once the reply after it is read. false (the
  // default): ack() sends it behind the GETs in flight and returns; a failed ack is reported
  // by the next call, which reconnects (what was not recorded comes again, rolled back) — no
  // round trip per batch. true: each is followed by a no-op request and ack() returns once the
  // server answered it (one round trip more per ack): an ack that returned OK is recorded.
  // A rollback always waits for its outcome.
  bool confirmAcks = false;
  // A batch that cannot follow what this connection handed out before (its id is not above the
  // last one; it starts before the previous batch ended with no rollback between; after a
  // rollback it starts later than the batches given back did) is not returned: everything
  // unacked is rolled back and getWithoutAck reports Status::kOutOfSequence.
  bool checkSequence = true;
  // GETs kept in flight ahead of the application: a get sends its own GET and keeps `prefetch`
  // more asked for (with its batch size and timeout), so the server prepares the next batches
  // and they travel while the application handles this one. Canal's protocol allows several
  // unacked batches: a rollback gives back every unacked batch, the prefetched ones too, and
  // they come again in order. The server answers requests in order, so an ack is handled after
  // the GETs sent before it; by default it is sent behind them and a failure is reported by a
  // later call, which reconnects and rolls back; with confirmAcks the ack reads their replies
  // first (waiting as they wait) and still reports its own outcome. A rollback, subscribe or
  // unsubscribe also reads their replies first. 0: Canal's strict sequence.
  int prefetch = 1;
  // Cluster connector following ZooKeeper's running node: how long a call goes on looking for
  // the server that runs the destination — no running node yet (a takeover), a server that says
  // the destination "should start first", a connection refused — before it returns the last
  // reason; 0: no limit. It looks again as soon as the running node changes (a ZooKeeper
  // watch), and at least every 200 ms.
  std::chrono::milliseconds failoverTimeout{0};
  // Called with the reason each time such a look finds no server yet (the SDK prints nothing).
  std::function<void(const Status&)> onFailoverWait;
};

class CanalConnector {
 public:
  virtual ~CanalConnector() = default;

  // Opens the connection and authenticates; a server error (code 400) for bad credentials.
  virtual Status connect() = 0;
  virtual void disconnect() = 0;
  // Whether the connection is open (no request is sent).
  virtual bool checkValid() const = 0;

  // Subscribes this client; a non-empty filter (comma-separated schema.table regexes)
  // replaces the table filter of the whole destination on the server.
  virtual Status subscribe(const std::string& filter = "") = 0;
  virtual Status unsubscribe() = 0;

  // The next batch of at most `batchSize` entries (in the server's batch mode units), not
  // acknowledged. No timeout: what is there now. A timeout: wait up to that long for a full
  // batch, then return what is there (possibly the empty batch, id -1).
  virtual Result<Message> getWithoutAck(int batchSize,
                                        std::optional<std::chrono::milliseconds> timeout = std::nullopt) = 0;
  // getWithoutAck, then ack.
  virtual Result<Message> get(int batchSize, std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    auto m = getWithoutAck(batchSize, timeout);
    if (!m) return m;
    if (Status s = ack(m->id()); !s) return s;
    return m;
  }
  // Confirms the batch (batches must be acked in order); -1 is accepted and does nothing.
  virtual Status ack(std::int64_t batchId) = 0;
  // Gives the batch back: it and every later unacked batch come again from the next get.
  virtual Status rollback(std::int64_t batchId) = 0;
  // Gives back every unacked batch.
  virtual Status rollback() = 0;
};

// A connector to one server, "host:port".
std::unique_ptr<CanalConnector> newSingleConnector(const std::string& address, const std::string& destination,
                                                   const std::string& user, const std::string& password,
                                                   ConnectorOptions options = {});

// Where a cluster connector finds the server that runs the destination.
struct ClusterSource {
  // Static list ("host:port"), tried in turn from the one after the server that failed.
  std::vector<std::string> addresses;
  // ZooKeeper connect string ("zk1:2181,zk2:2181[/chroot]"): the address is read from
  // /otter/canal/destinations/<destination>/running, as Canal's servers publish it in HA mode.
  std::string zkServers;

  static ClusterSource list(const std::string& commaSeparated);
  static ClusterSource zooKeeper(std::string servers) { return ClusterSource{{}, std::move(servers)}; }
};

// A connector that follows the destination across servers: when the connection is lost, or
// (with ZooKeeper) the server answers with an error and the running server has changed, it
// connects to the running one (a static list: the next that accepts), rolls back and subscribes
// again, and goes on. The new server delivers from the last acknowledged position it knows (the
// shared cursor in an HA setup): batches not yet acknowledged come again, and a batch fetched
// from the old connection can no longer be acked (ack reports Status::kNetwork for it).
// options.retries and options.retryInterval bound how long it looks for a server.
std::unique_ptr<CanalConnector> newClusterConnector(ClusterSource source, const std::string& destination,
                                                    const std::string& user, const std::string& password,
                                                    ConnectorOptions options = {});

}  // namespace canal::client
