#include "server/common/gtid_set.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "server/common/ascii.h"
#include "server/common/byte_reader.h"
#include "server/common/byte_writer.h"

namespace canal {
namespace {

bool parseUuid(std::string_view text, MysqlGtidSet::Uuid& out) {
  std::string hex;
  for (const char c : text) {
    if (c == '-') continue;
    hex.push_back(c);
  }
  if (hex.size() != 32) return false;
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, v, 16);
    if (ec != std::errc() || p != hex.data() + 2 * i + 2) return false;
    out[i] = static_cast<std::uint8_t>(v);
  }
  return true;
}

// A tag as MySQL accepts it: a letter or '_', then letters, digits or '_', at most 32; compared
// in lower case.
bool isTag(std::string_view text) {
  if (text.empty() || text.size() > 32) return false;
  if (!std::isalpha(static_cast<unsigned char>(text[0])) && text[0] != '_') return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

void mergeIntervals(std::vector<MysqlGtidSet::Interval>& intervals) {
  std::sort(intervals.begin(), intervals.end(), [](const auto& x, const auto& y) { return x.start < y.start; });
  std::vector<MysqlGtidSet::Interval> merged;
  for (const auto& i : intervals) {
    if (!merged.empty() && i.start <= merged.back().end) merged.back().end = std::max(merged.back().end, i.end);
    else merged.push_back(i);
  }
  intervals = std::move(merged);
}

constexpr std::uint64_t kTaggedFormat = 1;

}  // namespace

std::string MysqlGtidSet::uuidText(const Uuid& u) {
  char text[37];
  std::snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  return text;
}

Result<MysqlGtidSet> MysqlGtidSet::parse(std::string_view text) {
  MysqlGtidSet set;
  text = asciiTrim(text);
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view part = asciiTrim(text.substr(0, comma));
    const std::string whole(part);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (part.empty()) continue;
    const std::size_t colon = part.find(':');
    Uuid uuid{};
    if (colon == std::string_view::npos || !parseUuid(asciiTrim(part.substr(0, colon)), uuid)) {
      return Status::invalidArgument("GTID set part '" + whole + "' does not start with a server UUID");
    }
    part = part.substr(colon + 1);
    std::string tag;
    bool tagWithoutIntervals = false;
    while (!part.empty()) {
      const std::size_t next = part.find(':');
      const std::string_view range = asciiTrim(part.substr(0, next));
      part = next == std::string_view::npos ? std::string_view() : part.substr(next + 1);
      if (isTag(range)) {  // the intervals after it are the tag's
        if (tagWithoutIntervals) break;
        tag = asciiLower(range);
        tagWithoutIntervals = true;
        continue;
      }
      tagWithoutIntervals = false;
      std::uint64_t first = 0;
      std::uint64_t last = 0;
      const std::size_t dash = range.find('-');
      const std::string_view a = range.substr(0, dash);
      const std::string_view b = dash == std::string_view::npos ? a : range.substr(dash + 1);
      const auto number = [](std::string_view digits, std::uint64_t& out) {
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
        return ec == std::errc() && end == digits.data() + digits.size();
      };
      if (!number(a, first) || !number(b, last) || first == 0 || last < first) {
        return Status::invalidArgument("GTID interval '" + std::string(range) + "' is not N or N-M with 0 < N <= M");
      }
      set.sets_[{uuid, tag}].push_back(Interval{first, last + 1});
    }
    if (tagWithoutIntervals) {
      return Status::invalidArgument("GTID set part '" + whole + "' has a tag without intervals");
    }
  }
  for (auto& [tsid, intervals] : set.sets_) mergeIntervals(intervals);
  return set;
}

Result<MysqlGtidSet> MysqlGtidSet::decode(std::string_view bytes, const std::string& where) {
  ByteReader r(bytes);
  const std::uint64_t head = r.u64();
  const bool tagged = (head >> 56) == kTaggedFormat;
  const std::uint64_t count = tagged ? (head >> 8) & 0xffffffffffffull : head;
  MysqlGtidSet set;
  for (std::uint64_t i = 0; i < count; ++i) {
    if (r.failed() || r.remaining() < 24) return Status::corruption(where, "the GTID set is truncated");
    Uuid uuid{};
    const std::string_view sid = r.bytes(16);
    std::copy(sid.begin(), sid.end(), uuid.begin());
    std::string tag;
    if (tagged) {
      // A tag is at most 32 characters: its length is the one-byte form of the variable-length
      // integer (low bit 0, the length above it).
      const std::uint8_t length = r.u8();
      if (length & 1) return Status::corruption(where, "a GTID tag length in a multi-byte form");
      tag = std::string(r.bytes(length >> 1));
      if (r.failed() || !(tag.empty() || isTag(tag))) return Status::corruption(where, "a GTID tag is malformed");
    }
    const std::uint64_t intervals = r.u64();
    if (r.failed() || intervals > r.remaining() / 16) return Status::corruption(where, "the GTID set is truncated");
    auto& out = set.sets_[{uuid, tag}];
    for (std::uint64_t k = 0; k < intervals; ++k) {
      const std::uint64_t start = r.u64();
      const std::uint64_t end = r.u64();  // exclusive
      if (start == 0 || end <= start) return Status::corruption(where, "the GTID set has an empty interval");
      out.push_back(Interval{start, end});
    }
    mergeIntervals(out);
  }
  if (r.failed()) return Status::corruption(where, "the GTID set is truncated");
  return set;
}

void MysqlGtidSet::add(const Uuid& uuid, std::uint64_t gno, const std::string& tag) {
  auto& intervals = sets_[{uuid, tag}];
  auto it = std::lower_bound(intervals.begin(), intervals.end(), gno,
                             [](const Interval& i, std::uint64_t g) { return i.end < g; });
  if (it != intervals.end() && it->start <= gno && gno < it->end) return;
  if (it != intervals.end() && it->end == gno) {
    ++it->end;
    auto next = it + 1;
    if (next != intervals.end() && next->start == it->end) {
      it->end = next->end;
      intervals.erase(next);
    }
    return;
  }
  if (it != intervals.end() && it->start == gno + 1) {
    it->start = gno;
    return;
  }
  intervals.insert(it, Interval{gno, gno + 1});
}

bool MysqlGtidSet::contains(const Uuid& uuid, std::uint64_t gno, const std::string& tag) const {
  const auto it = sets_.find({uuid, tag});
  if (it == sets_.end()) return false;
  for (const auto& i : it->second) {
    if (i.start <= gno && gno < i.end) return true;
  }
  return false;
}

std::string MysqlGtidSet::toString() const {
  std::string out;
  const Uuid* previous = nullptr;
  for (const auto& [tsid, intervals] : sets_) {
    const auto& [uuid, tag] = tsid;
    if (!previous || *previous != uuid) {
      if (previous) out.push_back(',');
      out += uuidText(uuid);
    }
    previous = &uuid;
    if (!tag.empty()) out += ":" + tag;
    for (const auto& i : intervals) {
      out.push_back(':');
      out += std::to_string(i.start);
      if (i.end - 1 != i.start) {
        out.push_back('-');
        out += std::to_string(i.end - 1);
      }
    }
  }
  return out;
}

std::string MysqlGtidSet::encode() const {
  const bool tagged = std::any_of(sets_.begin(), sets_.end(), [](const auto& s) { return !s.first.second.empty(); });
  std::string out;
  if (tagged) {
    appendLe(out, (kTaggedFormat << 56) | (std::uint64_t{sets_.size()} << 8) | kTaggedFormat, 8);
  } else {
    appendLe(out, sets_.size(), 8);
  }
  for (const auto& [tsid, intervals] : sets_) {
    const auto& [uuid, tag] = tsid;
    out.append(reinterpret_cast<const char*>(uuid.data()), uuid.size());
    if (tagged) {
      out.push_back(static_cast<char>(tag.size() << 1));
      out += tag;
    }
    appendLe(out, intervals.size(), 8);
    for (const auto& i : intervals) {
      appendLe(out, i.start, 8);
      appendLe(out, i.end, 8);
    }
  }
  return out;
}

}  // namespace canal
