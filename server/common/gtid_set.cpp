#include "server/common/gtid_set.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "server/common/ascii.h"
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
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (part.empty()) continue;
    const std::size_t colon = part.find(':');
    Uuid uuid{};
    if (colon == std::string_view::npos || !parseUuid(asciiTrim(part.substr(0, colon)), uuid)) {
      return Status::invalidArgument("GTID set part '" + std::string(part) + "' does not start with a server UUID");
    }
    part = part.substr(colon + 1);
    while (!part.empty()) {
      const std::size_t next = part.find(':');
      const std::string_view range = asciiTrim(part.substr(0, next));
      part = next == std::string_view::npos ? std::string_view() : part.substr(next + 1);
      std::uint64_t first = 0;
      std::uint64_t last = 0;
      const std::size_t dash = range.find('-');
      const std::string_view a = range.substr(0, dash);
      const std::string_view b = dash == std::string_view::npos ? a : range.substr(dash + 1);
      if (std::from_chars(a.data(), a.data() + a.size(), first).ec != std::errc() ||
          std::from_chars(b.data(), b.data() + b.size(), last).ec != std::errc() || first == 0 || last < first) {
        return Status::invalidArgument("GTID interval '" + std::string(range) + "' is not N or N-M with 0 < N <= M");
      }
      set.sets_[uuid].push_back(Interval{first, last + 1});
    }
    auto& intervals = set.sets_[uuid];
    std::sort(intervals.begin(), intervals.end(), [](const Interval& x, const Interval& y) { return x.start < y.start; });
    std::vector<Interval> merged;
    for (const auto& i : intervals) {
      if (!merged.empty() && i.start <= merged.back().end) merged.back().end = std::max(merged.back().end, i.end);
      else merged.push_back(i);
    }
    intervals = std::move(merged);
  }
  return set;
}

void MysqlGtidSet::add(const Uuid& uuid, std::uint64_t gno) {
  auto& intervals = sets_[uuid];
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

bool MysqlGtidSet::contains(const Uuid& uuid, std::uint64_t gno) const {
  const auto it = sets_.find(uuid);
  if (it == sets_.end()) return false;
  for (const auto& i : it->second) {
    if (i.start <= gno && gno < i.end) return true;
  }
  return false;
}

std::string MysqlGtidSet::toString() const {
  std::string out;
  for (const auto& [uuid, intervals] : sets_) {
    if (!out.empty()) out.push_back(',');
    out += uuidText(uuid);
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
  std::string out;
  appendLe(out, sets_.size(), 8);
  for (const auto& [uuid, intervals] : sets_) {
    out.append(reinterpret_cast<const char*>(uuid.data()), uuid.size());
    appendLe(out, intervals.size(), 8);
    for (const auto& i : intervals) {
      appendLe(out, i.start, 8);
      appendLe(out, i.end, 8);
    }
  }
  return out;
}

}  // namespace canal
