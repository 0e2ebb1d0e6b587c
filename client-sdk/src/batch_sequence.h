#pragma once

// What a connection has been handed, to refuse a batch that cannot follow it: a batch id not
// above the last one, a batch that starts before the previous batch ended with no rollback in
// between (entries again without being given back), or — after a rollback — a first batch that
// starts later than the first batch given back (entries in between went to someone else).
// Entries are compared by the server's stream sequence (the header prop `sequence`), which only
// grows across primary switches and snapshots; entries without one (an older server) by binlog
// position, only within one primary's binlog (same server id and file base name): across a
// primary switch nothing is concluded then. Thread contract: the connector's.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canal/client/status.h"

namespace canal::client {

struct BinlogPoint {
  std::int64_t serverId = 0;
  std::string file;
  std::int64_t offset = 0;
  std::optional<std::uint64_t> sequence;  // the stream sequence, when the server sends one
};

// -1, 0 or 1 by sequence when both have one; else by position, nullopt when the two are not in
// one binlog (another primary or file base name).
std::optional<int> compare(const BinlogPoint& a, const BinlogPoint& b);

// The header position of a serialized Entry; nullopt when it has none or does not parse.
std::optional<BinlogPoint> entryPoint(std::string_view rawEntry);

class BatchSequence {
 public:
  // A Status with code Status::kOutOfSequence when the batch must not be acted on; otherwise
  // the batch is recorded as handed out. The empty batch (id -1) is always in sequence.
  Status check(std::int64_t id, const std::vector<std::string>& rawEntries);
  // The server recorded the ack of `id` (and the batches before it).
  void acked(std::int64_t id);
  // Everything unacked was given back: the next batch must start where the first of them did.
  void rolledBack();
  // A new connection: batch ids start again; what it delivers first is not compared.
  void reset();

 private:
  struct Handed {
    std::int64_t id;
    std::optional<BinlogPoint> first;
  };
  std::int64_t lastId_ = 0;
  std::optional<BinlogPoint> lastEnd_;        // last entry of the last batch handed out
  std::deque<Handed> unacked_;
  std::optional<BinlogPoint> expectedStart_;  // after a rollback
};

}  // namespace canal::client
