#pragma once

// A ChangeEntry as the serialized Canal Entry the server stores and sends: exactly the fields
// Canal's server sets, with proto2 presence (docs/entries.md), written directly in
// protobuf's wire format (the bytes protobuf's serializer writes for the same message). Thread
// contract: an EntryEncoder is used by one thread; it keeps scratch space and each recent
// table's constant column bytes between calls.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "server/convert/change.h"

namespace canal::convert {

class EntryEncoder {
 public:
  EntryEncoder();
  ~EntryEncoder();
  EntryEncoder(const EntryEncoder&) = delete;
  EntryEncoder& operator=(const EntryEncoder&) = delete;

  // Replaces `out` with the serialized Entry of `entry`; a `sequence` above 0 is its place in
  // the destination's stream order, the header prop `sequence`.
  void encode(const ChangeEntry& entry, std::string& out, std::uint64_t sequence = 0);
  // The same for the entry with `rows` (a part of its own, say) in place of entry.rows.
  void encode(const ChangeEntry& entry, std::span<const ChangeRow> rows, std::string& out, std::uint64_t sequence);

 private:
  struct Scratch;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace canal::convert
