#pragma once

// The Redis writes of a batch's row changes, one per row (a key change is a delete of the old
// key and a write of the new one), in binlog order. Each carries the row's version: its binlog
// position (file index, offset) and its ordinal in the entry, so two rows of one entry still
// differ. The sink applies a write only when its version is newer than the key's stored one.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "forwarder/change.h"
#include "forwarder/forwarder_config.h"

namespace canal::forwarder {

// A row's version as the Redis script compares it, (file, offset, row) in that order, each part
// exact in a Lua number. From a binlog position: the file index, the offset. From the stream
// sequence (Change::sequence): 2^31 + its epoch, its place in the epoch, so that every such
// version is above every position version a cache already holds.
struct RedisVersion {
  std::int64_t file = 0;
  std::int64_t offset = 0;
  std::int64_t row = 0;     // the row's ordinal in the entry

  static RedisVersion of(const Change& change, std::int64_t row);
};

struct RedisWrite {
  enum class Kind {
    kSet,     // the whole row: the key holds exactly these fields afterwards
    kMerge,   // a partial row image (binlog_row_image=MINIMAL/NOBLOB): these fields change
    kDelete,  // the row is gone
  };
  Kind kind = Kind::kSet;
  RedisMapping::Value value = RedisMapping::Value::kHash;
  std::string key;
  std::string member;  // the row's %{pk}, the member of its index sets
  RedisVersion version;
  // kSet / kMerge: field -> value (nullopt: SQL NULL, no hash field / JSON null).
  std::vector<std::pair<std::string, std::optional<std::string>>> fields;
  // One per index of the mapping: the set key the row belongs to, "" for none (NULL), or
  // nullopt when the image lacks the column (a partial image: the row stays where it is).
  std::vector<std::optional<std::string>> indexSets;
  const Change* change = nullptr;
};

// The writes for `changes` under `mappings` (the first mapping whose table expression matches;
// unmapped tables are skipped). An error when a row has no key (no key columns, or a configured
// id column missing).
client::Result<std::vector<RedisWrite>> redisWrites(const std::vector<RedisMapping>& mappings,
                                                    const std::vector<const Change*>& changes);

// The JSON object of a write's fields (values as strings, NULL as null).
std::string redisJsonOf(const RedisWrite& w);

}  // namespace canal::forwarder
