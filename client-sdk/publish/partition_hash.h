#pragma once

// Canal's canal.mq.partitionHash: which Kafka partition a row change goes to, so that the
// changes of one key stay in one partition (and in order). Grammar: entries separated by ',' or
// ';', each "<tableExpr>[:<columns>]" split at the last ':'; <columns> is "$pk$" (the key
// columns) or "col1^col2"; no ':' hashes by table name. The first matching entry wins.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "canal/client/status.h"
#include "publish/table_pattern.h"

namespace canal::publish {

struct PartitionRule {
  enum class By { kTable, kPrimaryKey, kColumns };
  TablePattern table;
  By by = By::kTable;
  std::vector<std::string> columns;  // kColumns
};

// Thread contract: one thread (decisions are cached).
class PartitionHash {
 public:
  // An error naming the entry that does not parse.
  static client::Result<PartitionHash> parse(std::string_view spec);
  // The rule for `qualifiedName` ("schema.table"), nullptr when none matches.
  const PartitionRule* ruleFor(const std::string& qualifiedName) const;
  bool empty() const { return rules_.empty(); }

 private:
  std::vector<PartitionRule> rules_;
  mutable std::map<std::string, const PartitionRule*> decided_;
};

// Java's String.hashCode of a UTF-8 string (over its UTF-16 code units, 32-bit wrap-around).
std::int32_t javaStringHash(std::string_view utf8);
// abs(abs(hash) % partitions) with Java's int semantics (abs(INT_MIN) stays negative).
int canalPartition(std::int32_t hash, int partitions);
// The hash of one row: javaStringHash(database) (when `databaseHash`) XOR the hash of each key
// value (SQL NULL or a missing column hashes as "").
std::int32_t rowHash(const std::string& database, const std::vector<std::optional<std::string>>& keyValues,
                     bool databaseHash);

}  // namespace canal::publish
