#include "server/meta/meta_dat.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "server/common/durable_file.h"

namespace canal::meta {
namespace {

using Json = nlohmann::ordered_json;

// Canal's fastjson output: keys in alphabetical order, null members left out.
Json cursorJson(const ClientCursor& c, const char* type = nullptr) {
  Json identity;
  identity["slaveId"] = -1;
  identity["sourceAddress"] = Json{{"address", c.sourceHost}, {"port", c.sourcePort}};
  Json position;
  position["gtid"] = c.position.gtid;
  position["included"] = false;
  position["journalName"] = c.position.journalName;
  position["position"] = c.position.position;
  position["serverId"] = c.position.serverId;
  position["timestamp"] = c.position.timestamp;
  Json cursor;
  if (type) cursor["@type"] = type;
  cursor["identity"] = std::move(identity);
  cursor["postion"] = std::move(position);
  return cursor;
}

template <typename T>
bool read(const Json& object, const char* key, T& out) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return false;
  out = it->get<T>();
  return true;
}

Result<ClientCursor> cursorFromJson(const Json& cursor, const std::string& where, const std::string& what) {
  ClientCursor k;
  const Json& id = cursor.at("identity");
  if (const auto source = id.find("sourceAddress"); source != id.end() && source->is_object()) {
    read(*source, "address", k.sourceHost);
    read(*source, "port", k.sourcePort);
  }
  const Json& p = cursor.at("postion");
  if (!read(p, "journalName", k.position.journalName) || !read(p, "position", k.position.position)) {
    return Status::corruption(where, what + " has no journalName/position");
  }
  read(p, "timestamp", k.position.timestamp);
  read(p, "serverId", k.position.serverId);  // since Canal 1.0.26
  read(p, "gtid", k.position.gtid);
  return k;
}

}  // namespace

std::string encodeLogPosition(const ClientCursor& cursor) {
  return cursorJson(cursor, "com.alibaba.otter.canal.protocol.position.LogPosition").dump();
}

Result<ClientCursor> decodeLogPosition(const std::string& text, const std::string& where) {
  try {
    const Json root = Json::parse(text);
    if (!root.is_object()) return Status::corruption(where, "a LogPosition is a JSON object");
    return cursorFromJson(root, where, "the LogPosition");
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(where, std::string("not a Canal LogPosition: ") + e.what());
  }
}

std::string encodeMetaDat(const DestinationMeta& meta) {
  Json clients = Json::array();
  for (const ClientMeta& c : meta.clients) {
    Json identity;
    identity["clientId"] = c.clientId;
    identity["destination"] = meta.destination;
    if (c.filter) identity["filter"] = *c.filter;
    Json data;
    data["clientIdentity"] = std::move(identity);
    if (c.cursor) data["cursor"] = cursorJson(*c.cursor);
    clients.push_back(std::move(data));
  }
  Json root;
  root["clientDatas"] = std::move(clients);
  root["destination"] = meta.destination;
  return root.dump();
}

Result<DestinationMeta> decodeMetaDat(const std::string& text, const std::string& where) {
  try {
    const Json root = Json::parse(text);
    DestinationMeta meta;
    if (!root.is_object() || !read(root, "destination", meta.destination)) {
      return Status::corruption(where, "meta.dat has no \"destination\"");
    }
    const auto clients = root.find("clientDatas");
    if (clients == root.end() || clients->is_null()) return meta;
    if (!clients->is_array()) return Status::corruption(where, "\"clientDatas\" is not an array");
    for (const Json& data : *clients) {
      ClientMeta c;
      const auto identity = data.find("clientIdentity");
      if (identity == data.end() || !identity->is_object()) {
        return Status::corruption(where, "a client entry has no \"clientIdentity\"");
      }
      int clientId = 0;
      if (!read(*identity, "clientId", clientId) || clientId < -32768 || clientId > 32767) {
        return Status::corruption(where, "a client entry has no valid \"clientId\"");
      }
      c.clientId = static_cast<std::int16_t>(clientId);
      std::string filter;
      if (read(*identity, "filter", filter)) c.filter = filter;
      const auto cursor = data.find("cursor");
      if (cursor != data.end() && !cursor->is_null()) {
        auto k = cursorFromJson(*cursor, where, "the cursor of client " + std::to_string(clientId));
        if (!k) return k.status();
        c.cursor = std::move(*k);
      }
      meta.clients.push_back(std::move(c));
    }
    return meta;
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(where, std::string("meta.dat is not what Canal writes: ") + e.what());
  }
}

Status writeMetaDat(const std::string& path, const DestinationMeta& meta) {
  return replaceFileDurably(path, encodeMetaDat(meta));
}

std::string encodeSnapshotProgress(const DestinationMeta& meta) {
  nlohmann::json j = nlohmann::json::object();
  for (const ClientMeta& c : meta.clients) {
    if (c.cursor && !c.cursor->snapshot.empty()) j[std::to_string(c.clientId)] = c.cursor->snapshot;
  }
  return j.empty() ? std::string() : j.dump();
}

Status decodeSnapshotProgress(const std::string& text, const std::string& where, DestinationMeta& meta) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::corruption(where, "not a JSON object of client id -> snapshot progress");
  for (ClientMeta& c : meta.clients) {
    const auto it = j.find(std::to_string(c.clientId));
    if (it == j.end() || !c.cursor) continue;
    if (!it->is_string()) return Status::corruption(where, "the progress of client " + it.key() + " is not a string");
    c.cursor->snapshot = it->get<std::string>();
  }
  return Status::ok();
}

Result<DestinationMeta> readMetaDat(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::notFound("no meta file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return Status::ioError("reading " + path);
  return decodeMetaDat(text.str(), path);
}

const ClientMeta* lowestCursor(const DestinationMeta& meta) {
  const ClientMeta* lowest = nullptr;
  for (const ClientMeta& c : meta.clients) {
    if (!c.cursor) continue;
    const EntryPosition& p = c.cursor->position;
    if (!lowest || compareBinlogPoints(p.journalName, p.position, lowest->cursor->position.journalName,
                                       lowest->cursor->position.position) < 0) {
      lowest = &c;
    }
  }
  return lowest;
}

}  // namespace canal::meta
