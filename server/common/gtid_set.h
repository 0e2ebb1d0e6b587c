#pragma once

// MySQL GTID sets ("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,...", with MySQL 8.3+ tags:
// "...:1-5:mytag:1-2") as text and in the binary form PREVIOUS_GTIDS and COM_BINLOG_DUMP_GTID
// carry (tagged form only when the set has tags). Value type.

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
  // The binary form; Corruption naming `where` when it does not decode.
  static Result<MysqlGtidSet> decode(std::string_view bytes, const std::string& where);

  // Adds one transaction (merging adjacent intervals); `tag` empty for an untagged GTID.
  void add(const Uuid& uuid, std::uint64_t gno, const std::string& tag = {});
  bool contains(const Uuid& uuid, std::uint64_t gno, const std::string& tag = {}) const;
  bool empty() const { return sets_.empty(); }

  // Sources in UUID order, each with its untagged intervals, then its tags in order.
  std::string toString() const;
  // Untagged: n_sids(8), then per source: uuid(16), n_intervals(8), [start(8), end(8)]...
  // Tagged (when a tag is present): the first and last byte of the leading 8 are the format (1),
  // the 6 between them n_tsids, and each source's uuid is followed by its tag's length (as a
  // variable-length integer) and bytes.
  std::string encode() const;

  static std::string uuidText(const Uuid& uuid);

 private:
  using Tsid = std::pair<Uuid, std::string>;  // (uuid, tag); "" sorts first
  std::map<Tsid, std::vector<Interval>> sets_;
};

}  // namespace canal
