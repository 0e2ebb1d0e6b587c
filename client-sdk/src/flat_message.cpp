#include "canal/client/flat_message.h"

#include <algorithm>
#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

namespace canal::client {
namespace eb = canal::protocol::entry;
using Json = nlohmann::ordered_json;

namespace {

Json valueOf(const eb::Column& c) { return c.isnull() ? Json(nullptr) : Json(c.value()); }

const google::protobuf::RepeatedPtrField<eb::Column>& image(const eb::RowData& row, eb::EventType type) {
  return type == eb::DELETE ? row.beforecolumns() : row.aftercolumns();
}

const eb::Column* find(const google::protobuf::RepeatedPtrField<eb::Column>& columns, std::string_view name) {
  for (const auto& c : columns) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

}  // namespace

Result<std::optional<std::string>> toFlatMessage(const eb::Entry& entry, std::int64_t id, std::int64_t ts) {
  if (entry.entrytype() != eb::ROWDATA) return std::optional<std::string>();
  eb::RowChange rc;
  if (!rc.ParseFromString(entry.storevalue())) {
    return Status(Status::kProtocol, "the RowChange of the entry at " + entry.header().logfilename() + ":" +
                                         std::to_string(entry.header().logfileoffset()) + " does not parse");
  }
  return std::optional<std::string>(toFlatMessage(entry, rc, nullptr, id, ts));
}

namespace {

// The FlatMessage of `selected` rows of an entry as a JSON object; properties in alphabetical order.
Json flatMessageJson(const eb::Entry& entry, const eb::RowChange& rc, const std::vector<const eb::RowData*>& selected,
                     std::int64_t id, std::int64_t ts) {
  const eb::EventType type = rc.eventtype();
  Json j;
  Json data = nullptr, mysqlType = nullptr, sqlType = nullptr, old = nullptr, pkNames = nullptr;
  if (!selected.empty()) {
    data = Json::array();
    mysqlType = Json::object();
    sqlType = Json::object();
    for (const eb::RowData* row : selected) {
      Json object = Json::object();
      for (const auto& c : image(*row, type)) {
        object[c.name()] = valueOf(c);
        mysqlType[c.name()] = c.mysqltype();
        sqlType[c.name()] = c.sqltype();
      }
      data.push_back(std::move(object));
    }
    if (type == eb::UPDATE) {
      // Canal accumulates the updated column names over the rows of the entry.
      std::vector<std::string> updated;
      old = Json::array();
      for (const eb::RowData* row : selected) {
        for (const auto& a : row->aftercolumns()) {
          if (a.updated() && std::find(updated.begin(), updated.end(), a.name()) == updated.end()) {
            updated.push_back(a.name());
          }
        }
        Json before = Json::object();
        for (const auto& b : row->beforecolumns()) {
          if (std::find(updated.begin(), updated.end(), b.name()) != updated.end()) before[b.name()] = valueOf(b);
        }
        old.push_back(std::move(before));
      }
    }
    for (const auto& c : image(*selected.front(), type)) {
      if (c.iskey()) {
        if (pkNames.is_null()) pkNames = Json::array();
        pkNames.push_back(c.name());
      }
    }
  }
  j["data"] = std::move(data);
  j["database"] = entry.header().schemaname();
  j["es"] = entry.header().executetime();
  j["gtid"] = entry.header().gtid();
  j["id"] = id;
  j["isDdl"] = rc.isddl();
  j["mysqlType"] = std::move(mysqlType);
  j["old"] = std::move(old);
  j["pkNames"] = std::move(pkNames);
  j["sql"] = rc.sql();
  j["sqlType"] = std::move(sqlType);
  j["table"] = entry.header().tablename();
  j["ts"] = ts;
  j["type"] = eb::EventType_Name(type);
  return j;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::vector<const eb::RowData*> allRows(const eb::RowChange& rc) {
  std::vector<const eb::RowData*> rows;
  rows.reserve(static_cast<std::size_t>(rc.rowdatas_size()));
  for (const auto& row : rc.rowdatas()) rows.push_back(&row);
  return rows;
}

}  // namespace

std::string toFlatMessage(const eb::Entry& entry, const eb::RowChange& rc, const std::vector<int>* rows,
                          std::int64_t id, std::int64_t ts) {
  if (!rows) return dump(flatMessageJson(entry, rc, allRows(rc), id, ts));
  std::vector<const eb::RowData*> selected;
  for (const int i : *rows) selected.push_back(&rc.rowdatas(i));
  return dump(flatMessageJson(entry, rc, selected, id, ts));
}

std::vector<std::pair<int, std::string>> toPartitionedFlatMessages(const eb::Entry& entry, const eb::RowChange& rc,
                                                                   const std::vector<int>& partitionOfRow,
                                                                   std::int64_t id, std::int64_t ts) {
  const Json whole = flatMessageJson(entry, rc, allRows(rc), id, ts);
  std::map<int, Json> parts;
  const Json& data = whole["data"];
  const Json& old = whole["old"];
  for (std::size_t i = 0; i < partitionOfRow.size() && i < data.size(); ++i) {
    auto [it, added] = parts.try_emplace(partitionOfRow[i], whole);
    Json& part = it->second;
    if (added) {
      part["data"] = Json::array();
      if (!old.is_null()) part["old"] = Json::array();
    }
    part["data"].push_back(data[i]);
    if (!old.is_null()) part["old"].push_back(old[i]);
  }
  std::vector<std::pair<int, std::string>> out;
  for (const auto& [partition, part] : parts) out.emplace_back(partition, dump(part));
  return out;
}

const RowView::Column* RowView::column(std::string_view name) const { return find(image(row_, type_), name); }

const RowView::Column* RowView::beforeColumn(std::string_view name) const { return find(row_.beforecolumns(), name); }

std::optional<std::string> RowView::value(std::string_view name) const {
  const Column* c = column(name);
  if (!c || c->isnull()) return std::nullopt;
  return c->value();
}

std::vector<std::string> RowView::keyNames() const {
  std::vector<std::string> out;
  for (const auto& c : image(row_, type_)) {
    if (c.iskey()) out.push_back(c.name());
  }
  return out;
}

std::vector<std::string> RowView::updatedNames() const {
  std::vector<std::string> out;
  for (const auto& c : row_.aftercolumns()) {
    if (c.updated()) out.push_back(c.name());
  }
  return out;
}

std::optional<std::uint64_t> streamSequence(const eb::Header& header) {
  for (const auto& prop : header.props()) {
    if (prop.key() != "sequence") continue;
    const std::string& v = prop.value();
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc() && end == v.data() + v.size()) return n;
  }
  return std::nullopt;
}

}  // namespace canal::client
