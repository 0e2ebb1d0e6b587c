#pragma once

// Where in the store something a client's cursor records changed. After the entries of a
// snapshot chunk (or the end of a snapshot) the pump notes the store sequence and the progress a
// restart would go on from; after the first transaction read from another server (a switch to
// the standby) it notes the sequence and that server. When a client's ack covers a mark, the
// cursor is recorded with it (the snapshot progress in meta.dat's companion file or ZooKeeper,
// the server as the cursor's sourceAddress), so a restart or a takeover goes on where the
// acked entries left off. Thread contract: thread-safe.

#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace canal::instance {

class SequenceMarks {
 public:
  // Entries before `sequence` are stored; an ack covering them records `value`.
  void note(std::uint64_t sequence, std::string value) {
    std::lock_guard<std::mutex> lock(mutex_);
    marks_[sequence] = std::move(value);
  }
  // The value of the last mark an ack through `sequence` (exclusive end) covers; nullopt when
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

// Written by the pump, read by the clients.
struct StreamMarks {
  SequenceMarks snapshot;  // the snapshot progress ("" when no snapshot runs any more)
  SequenceMarks source;    // host:port of the server the entries from there on were read from
};

}  // namespace canal::instance
