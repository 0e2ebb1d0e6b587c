#pragma once

// Where a Message keeps its entries, and the pool a connector recycles it through. A batch's
// entries are a few megabytes to tens of megabytes; allocated afresh for every batch, they cost
// the process more in page faults (the allocator gives the freed memory back to the kernel between
// batches) than the consumer spends reading them. A storage given back keeps its strings' and
// parsed entries' capacity, so a steady stream of batches of similar size allocates nothing.
//
// Thread contract: a pool may be given storage back from any thread (a Message may be released
// anywhere); a storage is filled by one thread before its Message is handed out, and read-only
// after that except for the lazy parse of entries(), which is locked.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "canal/client/canal_connector.h"

namespace canal::client {

struct MessageStorage {
  std::vector<std::string> raw;  // the serialized entries
  std::vector<Entry> entries;    // parsed from raw on first use
  bool parsed = false;
  std::size_t unparsed = 0;
  std::mutex parsing;  // copies of a Message on several threads may call entries() at once

  // Starts a new batch, keeping the capacity of what was there.
  void reset();
  // The batch's next entry, into the string already at its place when there is one.
  void add(std::string_view bytes);
  // Ends the batch: the strings past its last entry go.
  void finish() { raw.resize(filled_); }

 private:
  std::size_t filled_ = 0;  // entries of this batch in raw
};

// The Message of batch `id` whose entries are in `storage`.
Message messageIn(std::int64_t id, std::shared_ptr<MessageStorage> storage);

class MessagePool : public std::enable_shared_from_this<MessagePool> {
 public:
  // Keeps up to `keep` storages given back; more are freed.
  static std::shared_ptr<MessagePool> create(std::size_t keep);

  // A storage (recycled when one is free); it comes back here when its last holder lets go, as
  // long as the pool is alive.
  std::shared_ptr<MessageStorage> take();

 private:
  explicit MessagePool(std::size_t keep) : keep_(keep) {}
  void giveBack(MessageStorage* storage);

  const std::size_t keep_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<MessageStorage>> free_;
};

}  // namespace canal::client
