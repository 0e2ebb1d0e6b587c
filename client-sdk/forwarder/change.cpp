#include "forwarder/change.h"

#include <cstdint>

#include "canal/client/flat_message.h"

namespace canal::forwarder {

std::int64_t binlogFileIndex(std::string_view name) {
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == name.size()) return 0;
  std::int64_t index = 0;
  for (std::size_t i = dot + 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    index = index * 10 + (name[i] - '0');
    if (index > 0x7fffffff) return 0;
  }
  return index;
}

std::string expandPattern(const std::string& pattern,
                          std::initializer_list<std::pair<std::string_view, std::string_view>> values) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size();) {
    bool replaced = false;
    if (pattern.compare(i, 2, "%{") == 0) {
      for (const auto& [name, value] : values) {
        if (pattern.compare(i + 2, name.size(), name) == 0 && pattern.compare(i + 2 + name.size(), 1, "}") == 0) {
          out += value;
          i += name.size() + 3;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out.push_back(pattern[i++]);
  }
  return out;
}

std::string expandTablePattern(const std::string& pattern, const std::string& database, const std::string& table) {
  return expandPattern(pattern, {{"database", database}, {"table", table}});
}

std::int64_t Change::position() const {
  return (binlogFileIndex(logfileName) << 32) | (logfileOffset & 0xffffffffLL);
}

client::Result<std::vector<Change>> changesOf(const client::Message& message) {
  std::vector<Change> out;
  const auto& entries = message.entries();
  if (message.unparsedEntries() > 0) {
    return client::Status(client::Status::kProtocol,
                          "batch " + std::to_string(message.id()) + ": " + std::to_string(message.unparsedEntries()) +
                              " entries do not parse");
  }
  for (const eb::Entry& e : entries) {
    if (e.entrytype() != eb::ROWDATA) continue;
    Change c;
    c.entry = &e;
    const auto& h = e.header();
    c.database = h.schemaname();
    c.table = h.tablename();
    c.logfileName = h.logfilename();
    c.logfileOffset = h.logfileoffset();
    c.executeTime = h.executetime();
    for (const auto& prop : h.props()) c.snapshot |= prop.key() == "snapshot" && prop.value() == "true";
    if (const auto n = client::streamSequence(h); n && *n > 0 && *n <= std::uint64_t{INT64_MAX}) {
      c.sequence = static_cast<std::int64_t>(*n);
    }
    if (!c.rowChange.ParseFromString(e.storevalue())) {
      return client::Status(client::Status::kProtocol, "the RowChange of the entry at " + c.logfileName + ":" +
                                                           std::to_string(c.logfileOffset) + " does not parse");
    }
    c.type = c.rowChange.eventtype();
    c.isDdl = c.rowChange.isddl();
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace canal::forwarder
