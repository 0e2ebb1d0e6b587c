#pragma once

// What makes an event store durable: every entry put, every resume mark and every ack is handed
// to a journal, which keeps them so that a restarted store (even after kill -9) holds the
// unacknowledged entries, in order, up to the last resume mark at least, and knows where its
// producer resumes (the entries after that mark are produced again from there).

#include <cstdint>
#include <optional>
#include <string>

#include "server/common/status.h"
#include "server/store/event_store.h"

namespace canal::store {

class StoreJournal {
 public:
  virtual ~StoreJournal() = default;
  // Entry `sequence` (always the one after the previous append). It may be written later, but
  // before any mark or ack handed over after it.
  virtual Status append(std::uint64_t sequence, const StoredEntry& entry) = 0;
  virtual Status markResume(const ResumeMark& mark) = 0;
  // Entries before `end` are acknowledged and may be dropped; durable when this returns.
  virtual Status release(std::uint64_t end, const std::optional<EntryPosition>& position) = 0;
  // Returns once everything handed to the journal is written (before the entries it was given
  // go away).
  virtual void drain() {}
  // The journal's estimated size on disk.
  virtual std::uint64_t diskBytes() const = 0;
};

}  // namespace canal::store
