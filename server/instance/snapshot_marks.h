#pragma once

// Where in the store a snapshot's progress changed: after the entries of a chunk (or the end of
// a snapshot) the pump notes the store sequence and the progress a restart would go on from;
// when a client's ack covers that sequence, the progress is recorded with its cursor (meta.dat's
// companion file, ZooKeeper), so a restart or a takeover without a store journal goes on after
// the last acked chunk. Thread contract: thread-safe.

#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace canal::instance {

class SnapshotMarks {
 public:
  // Entries before `sequence` are stored; a restart after they are acked goes on from `progress`
  // ("" when no snapshot runs any more).
  void note(std::uint64_t sequence, std::string progress) {
    std::lock_guard<std::mutex> lock(mutex_);
    marks_[sequence] = std::move(progress);
  }
  // The progress of the last mark an ack through `sequence` (exclusive end) covers; nullopt when
  // none. Marks before it that every client passed are dropped with trim().
  std::optional<std::string> through(std::uint64_t sequence) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = marks_.upper_bound(sequence);
    if (it == marks_.begin()) return std::nullopt;
    return std::prev(it)->second;
  }
  // Forgets marks before the last one at or below `sequence` (the store's ack sequence).
  void trim(std::uint64_t sequence) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = marks_.upper_bound(sequence);
    if (it == marks_.begin()) return;
    marks_.erase(marks_.begin(), std::prev(it));
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::string> marks_;
};

}  // namespace canal::instance
