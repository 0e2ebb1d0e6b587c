#pragma once

// A destination's stream order (docs/protocol.md, "Stream sequence"): every entry it stores is
// numbered, and the numbers only grow, across restarts, HA takeovers, a switch to the standby
// primary, a primary that starts its binlog again and snapshots. A number is
// epoch * 2^30 + the entry's place in its epoch: each start of the destination takes an epoch
// above the one the meta recorded (and not below the wall clock in seconds, for memory mode,
// which records nothing), so what a new start produces, replays of unacked entries included,
// comes after everything an earlier start handed out. Entries, not rows: 2^30 of them roll the
// epoch on. Every number is above 2^52, so it also orders after any binlog-position version
// (file index << 32 | offset) that consumers used before.
// Thread contract: one producer at a time (the pump, or the snapshot while the pump waits).

#include <cstdint>

namespace canal::instance {

class StreamSequence {
 public:
  static constexpr int kEntryBits = 30;

  // `epoch` for the entries from the store's producer sequence `base` on.
  StreamSequence(std::uint64_t epoch, std::uint64_t base) : epoch_(epoch), base_(base) {}

  // The number of the entry the store will hold at `producerSequence` (entries before `base`
  // were numbered by an earlier start and are not produced again).
  std::uint64_t number(std::uint64_t producerSequence);
  std::uint64_t epoch() const { return epoch_; }

  // The epoch of a start: above `recorded` (0: none) and at least `nowSeconds`.
  static std::uint64_t nextEpoch(std::uint64_t recorded, std::uint64_t nowSeconds) {
    return recorded + 1 > nowSeconds ? recorded + 1 : nowSeconds;
  }

 private:
  std::uint64_t epoch_;
  std::uint64_t base_;
};

}  // namespace canal::instance
