// The Elasticsearch test server's _bulk (the real API's format enforced: NDJSON action and source
// lines, external versions, per-item results), documents and search.

#include "tests/support/elasticsearch_server_impl.h"

namespace canal::testing {

ElasticsearchServer::Impl::Response ElasticsearchServer::Impl::bulk(const Request& request, const std::string& pathIndex) {
  const auto type = request.find(http::field::content_type);
  const std::string contentType = type == request.end() ? "" : std::string(type->value());
  if (contentType.rfind("application/x-ndjson", 0) != 0 && contentType.rfind("application/json", 0) != 0) {
    return refuse("_bulk Content-Type must be application/x-ndjson or application/json, not '" + contentType + "'");
  }
  const std::string& body = request.body();
  if (body.empty()) return refuse("_bulk request body is required");
  if (body.back() != '\n') return refuse("The bulk request must be terminated by a newline [\\n]");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++bulkRequests_;
    if (failRequests_ > 0) {
      --failRequests_;
      const int status = failRequestStatus_;
      return reply(status, errorBody(status == 429 ? "es_rejected_execution_exception" : "node_not_connected_exception",
                                     "injected failure", status));
    }
  }
  // Parse and check every line before applying anything, as the coordinating node does.
  struct Item {
    std::string action;
    Json meta;
    Json source;
  };
  std::vector<Item> items;
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < body.size();) {
    const std::size_t nl = body.find('\n', i);
    lines.push_back(body.substr(i, nl - i));
    i = nl + 1;
  }
  static const std::set<std::string> kActions = {"index", "create", "update", "delete"};
  static const std::set<std::string> kMeta = {"_index", "_id", "routing", "version", "version_type", "if_seq_no",
                                              "if_primary_term", "retry_on_conflict", "require_alias", "pipeline",
                                              "dynamic_templates"};
  for (std::size_t l = 0; l < lines.size(); ++l) {
    const std::string where = "line [" + std::to_string(l + 1) + "]";
    const Json action = Json::parse(lines[l], nullptr, false);
    if (action.is_discarded() || !action.is_object() || action.size() != 1) {
      return refuse("Malformed action/metadata " + where + ", expected an object with one action");
    }
    Item item;
    item.action = action.begin().key();
    item.meta = action.begin().value();
    if (!kActions.count(item.action)) return refuse("Malformed action/metadata " + where + ", unknown action [" + item.action + "]");
    if (!item.meta.is_object()) return refuse("Malformed action/metadata " + where + ", expected START_OBJECT");
    for (auto it = item.meta.begin(); it != item.meta.end(); ++it) {
      if (!kMeta.count(it.key())) {
        return refuse("Action/metadata " + where + " contains an unknown parameter [" + it.key() + "]");
      }
    }
    if (!item.meta.contains("_index")) {
      if (pathIndex.empty()) return refuse("Validation Failed: 1: index is missing (" + where + ")");
      item.meta["_index"] = pathIndex;
    }
    const std::string index = item.meta["_index"].is_string() ? item.meta["_index"].get<std::string>() : "";
    if (index.empty() || index != lowerCopy(index) || index.find_first_of("\\/*?\"<>| ,#:") != std::string::npos ||
        index[0] == '_' || index[0] == '-' || index[0] == '+') {
      return refuse("Invalid index name [" + index + "] " + where);
    }
    if (item.meta.contains("_id") && (!item.meta["_id"].is_string() || item.meta["_id"].get<std::string>().size() > 512)) {
      return refuse("_id must be a string of at most 512 bytes " + where);
    }
    if (item.action != "index" && item.action != "create" && !item.meta.contains("_id")) {
      return refuse("Validation Failed: 1: id is missing (" + item.action + ", " + where + ")");
    }
    const std::string versionType = item.meta.value("version_type", std::string("internal"));
    if (versionType != "internal" && versionType != "external" && versionType != "external_gte") {
      return refuse("Unknown version_type [" + versionType + "] " + where);
    }
    if (item.meta.contains("version") && !item.meta["version"].is_number_integer()) {
      return refuse("version must be a number " + where);
    }
    if (versionType != "internal" && !item.meta.contains("version")) {
      return refuse("Validation Failed: 1: an external version is required with version_type " + versionType + " " + where);
    }
    if (item.action == "update" && (item.meta.contains("version") || versionType != "internal")) {
      return refuse("Validation Failed: 1: can't provide version in update request / version type [" + versionType +
                    "] is not supported by the update API " + where);
    }
    if (item.action == "create" && versionType != "internal") {
      return refuse("Validation Failed: 1: create operations only support internal versioning " + where);
    }
    if (item.meta.contains("retry_on_conflict") && item.action != "update") {
      return refuse("retry_on_conflict is only for update " + where);
    }
    if (item.action != "delete") {
      if (++l >= lines.size()) return refuse("The bulk request must be terminated by a newline; source missing after " + where);
      item.source = Json::parse(lines[l], nullptr, false);
      if (item.source.is_discarded() || !item.source.is_object()) {
        return refuse("Malformed source " + ("line [" + std::to_string(l + 1) + "]") + ", expected a JSON object");
      }
      if (item.action == "update") {
        for (auto it = item.source.begin(); it != item.source.end(); ++it) {
          static const std::set<std::string> kUpdate = {"doc", "doc_as_upsert", "upsert", "script", "scripted_upsert",
                                                        "detect_noop", "_source"};
          if (!kUpdate.count(it.key())) return refuse("Unknown field [" + it.key() + "] in the update source " + where);
        }
        if (!item.source.contains("doc") && !item.source.contains("script")) {
          return refuse("Validation Failed: 1: script or doc is missing " + where);
        }
      }
    }
    items.push_back(std::move(item));
  }
  Json replyItems = Json::array();
  bool errors = false;
  std::lock_guard<std::mutex> lock(mutex_);
  for (Item& item : items) {
    ++bulkItems_;
    Json result = apply(item.action, item.meta, item.source);
    if (result.contains("error")) errors = true;
    replyItems.push_back(Json{{item.action, std::move(result)}});
  }
  return reply(200, Json{{"took", 1}, {"errors", errors}, {"items", std::move(replyItems)}});
}

std::string ElasticsearchServer::Impl::lowerCopy(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ElasticsearchServer::Impl::mappingError(const std::string& index, const Json& source) const {
  const auto types = fieldTypes_.find(index);
  if (types == fieldTypes_.end()) return "";
  for (const auto& [field, type] : types->second) {
    if (!source.contains(field) || source[field].is_null()) continue;
    const Json& v = source[field];
    bool ok = true;
    if (type == "long") ok = v.is_number_integer() || (v.is_string() && isDigits(v.get<std::string>()));
    else if (type == "double") ok = v.is_number();
    else if (type == "keyword") ok = v.is_primitive();
    else if (type == "boolean") ok = v.is_boolean();
    else if (type == "date") ok = v.is_string() && isDate(v.get<std::string>());
    else if (type == "object") ok = v.is_object();
    if (!ok) return "failed to parse field [" + field + "] of type [" + type + "]: " + v.dump();
  }
  return "";
}

Json ElasticsearchServer::Impl::apply(const std::string& action, const Json& meta, const Json& source) {
  std::string index = meta["_index"].get<std::string>();
  if (const auto alias = aliases_.find(index); alias != aliases_.end()) {
    if (alias->second.size() != 1) {
      Json out = {{"_index", index}, {"status", 400}};
      out["error"] = {{"type", "illegal_argument_exception"},
                      {"reason", "no write index is defined for alias [" + index +
                                     "]. The write index may be explicitly disabled using is_write_index=false or "
                                     "the alias points to multiple indices without one being designated as a write "
                                     "index"}};
      return out;
    }
    index = *alias->second.begin();
  }
  createdIndices_.insert(index);  // a write creates a missing index, as with auto-create
  std::string id = meta.contains("_id") ? meta["_id"].get<std::string>() : "auto-" + std::to_string(++autoId_);
  Json out = {{"_index", index}, {"_id", id}};
  const auto fail = [&](int status, const std::string& type, const std::string& reason) {
    out["status"] = status;
    out["error"] = {{"type", type}, {"reason", reason}, {"index", index}};
    return out;
  };
  if (failItems_ > 0) {
    --failItems_;
    return fail(failItemStatus_, failItemStatus_ == 429 ? "es_rejected_execution_exception" : "unavailable_shards_exception",
                "injected item failure");
  }
  auto& docs = indices_[index];
  const auto found = docs.find(id);
  const bool exists = found != docs.end() && !found->second.deleted;
  const std::string versionType = meta.value("version_type", std::string("internal"));
  const bool external = versionType != "internal";
  const std::int64_t given = meta.value("version", std::int64_t{0});
  if (external && found != docs.end()) {
    const std::int64_t current = found->second.version;
    const bool conflict = versionType == "external" ? given <= current : given < current;
    if (conflict) {
      return fail(409, "version_conflict_engine_exception",
                  "[" + id + "]: version conflict, current version [" + std::to_string(current) +
                      "] is higher or equal to the one provided [" + std::to_string(given) + "]");
    }
  }
  const auto stored = [&](const std::string& result, int status, const Stored& d) {
    out["_version"] = d.version;
    out["result"] = result;
    out["_shards"] = {{"total", 2}, {"successful", 1}, {"failed", 0}};
    out["_seq_no"] = d.seqNo;
    out["_primary_term"] = 1;
    out["status"] = status;
    return out;
  };
  if (action == "delete") {
    Stored d = found != docs.end() ? found->second : Stored{};
    d.version = external ? given : d.version + 1;
    d.deleted = true;
    d.seqNo = ++seqNo_;
    docs[id] = d;
    return stored(exists ? "deleted" : "not_found", exists ? 200 : 404, d);
  }
  if (action == "create" && exists) {
    return fail(409, "version_conflict_engine_exception", "[" + id + "]: version conflict, document already exists");
  }
  Json document;
  if (action == "update") {
    if (!exists && !source.value("doc_as_upsert", false) && !source.contains("upsert")) {
      return fail(404, "document_missing_exception", "[" + id + "]: document missing");
    }
    document = exists ? found->second.source : (source.contains("upsert") ? source["upsert"] : Json::object());
    if (source.contains("doc")) {
      for (auto it = source["doc"].begin(); it != source["doc"].end(); ++it) document[it.key()] = it.value();
    }
    if (exists && document == found->second.source) {
      Stored d = found->second;
      return stored("noop", 200, d);
    }
  } else {
    document = source;
  }
  if (const std::string bad = mappingError(index, document); !bad.empty()) {
    return fail(400, "document_parsing_exception", "[1:1] " + bad + " in document with id '" + id + "'");
  }
  Stored d;
  d.source = std::move(document);
  d.version = external ? given : (found != docs.end() ? found->second.version + 1 : 1);
  d.seqNo = ++seqNo_;
  docs[id] = d;
  return stored(exists ? "updated" : "created", exists ? 200 : 201, d);
}

ElasticsearchServer::Impl::Response ElasticsearchServer::Impl::getDocument(const std::string& name, const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string index = resolve(name);
  const auto idx = indices_.find(index);
  if (idx == indices_.end()) {
    return reply(404, errorBody("index_not_found_exception", "no such index [" + index + "]", 404));
  }
  const auto it = idx->second.find(id);
  if (it == idx->second.end() || it->second.deleted) {
    return reply(404, Json{{"_index", index}, {"_id", id}, {"found", false}});
  }
  return reply(200, Json{{"_index", index},         {"_id", id},     {"_version", it->second.version},
                         {"_seq_no", it->second.seqNo}, {"_primary_term", 1}, {"found", true},
                         {"_source", it->second.source}});
}

ElasticsearchServer::Impl::Response ElasticsearchServer::Impl::search(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  Json hits = Json::array();
  const std::string index = resolve(name);
  const auto idx = indices_.find(index);
  if (idx == indices_.end()) {
    return reply(404, errorBody("index_not_found_exception", "no such index [" + index + "]", 404));
  }
  for (const auto& [id, d] : idx->second) {
    if (d.deleted) continue;
    hits.push_back(Json{{"_index", index}, {"_id", id}, {"_score", 1.0}, {"_source", d.source}});
  }
  const std::size_t total = hits.size();
  return reply(200, Json{{"took", 1},
                         {"timed_out", false},
                         {"_shards", {{"total", 1}, {"successful", 1}, {"skipped", 0}, {"failed", 0}}},
                         {"hits", {{"total", {{"value", total}, {"relation", "eq"}}}, {"max_score", 1.0}, {"hits", std::move(hits)}}}});
}

}  // namespace canal::testing
