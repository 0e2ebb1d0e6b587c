#pragma once

// MySQL GTID sets ("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,...") as text and in the binary
// form COM_BINLOG_DUMP_GTID carries. Value type.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

namespace canal {

class MysqlGtidSet {
 public:
  using Uuid = std::array<std::uint8_t, 16>;
  struct Interval {
    std::uint64_t start = 0;  // inclusive
    std::uint64_t end = 0;    // exclusive
  };

  static Result<MysqlGtidSet> parse(std::string_view text);

  // Adds one transaction (merging adjacent intervals).
  void add(const Uuid& uuid, std::uint64_t gno);
  bool contains(const Uuid& uuid, std::uint64_t gno) const;
  bool empty() const { return sets_.empty(); }

  std::string toString() const;
  // n_sids(8), then per source: uuid(16), n_intervals(8), [start(8), end(8)]...
  std::string encode() const;

  static std::string uuidText(const Uuid& uuid);

 private:
  std::map<Uuid, std::vector<Interval>> sets_;
};

}  // namespace canal
