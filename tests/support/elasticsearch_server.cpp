#include "tests/support/elasticsearch_server_impl.h"

namespace canal::testing {

Json ElasticsearchServer::Impl::notFound(const std::string& index) {
  Json e = errorBody("index_not_found_exception", "no such index [" + index + "]", 404);
  e["error"]["index"] = index;
  return e;
}

ElasticsearchServer::Impl::Response ElasticsearchServer::Impl::createIndex(const std::string& index, const Request& request) {
  Json body = Json::object();
  if (!request.body().empty()) {
    body = Json::parse(request.body(), nullptr, false);
    if (!body.is_object()) return refuse("index creation body is not a JSON object: " + request.body());
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "settings" && key != "mappings" && key != "aliases") {
      return refuse("unknown key [" + key + "] for create index");
    }
    if (!value.is_object()) return refuse("[" + key + "] of create index must be an object");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (indexExistsLocked(index)) {
    Json e = errorBody("resource_already_exists_exception", "index [" + index + "/x] already exists", 400);
    e["error"]["index"] = index;
    return reply(400, e);
  }
  if (aliases_.count(index)) {
    return reply(400, errorBody("invalid_index_name_exception",
                                "Invalid index name [" + index + "], an alias with the same name already exists", 400));
  }
  createdIndices_.insert(index);
  indexBodies_[index] = body;
  if (body.contains("aliases")) {
    for (const auto& [alias, ignored] : body["aliases"].items()) aliases_[alias].insert(index);
  }
  return reply(200, Json{{"acknowledged", true}, {"shards_acknowledged", true}, {"index", index}});
}

ElasticsearchServer::Impl::Response ElasticsearchServer::Impl::deleteIndex(const std::string& index) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!indexExistsLocked(index)) return reply(404, notFound(index));
  createdIndices_.erase(index);
  indices_.erase(index);
  indexBodies_.erase(index);
  for (auto it = aliases_.begin(); it != aliases_.end();) {
    it->second.erase(index);
    it = it->second.empty() ? aliases_.erase(it) : std::next(it);
  }
  return reply(200, Json{{"acknowledged", true}});
}

ElasticsearchServer::Impl::Response ElasticsearchServer::Impl::indexExists(const std::string& index) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!indexExistsLocked(index)) return reply(404, notFound(index));
  Json out = Json::object();
  out[index] = indexBodies_[index];
  return reply(200, out);
}

ElasticsearchServer::Impl::Response ElasticsearchServer::Impl::getAlias(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = aliases_.find(name);
  if (it == aliases_.end()) return reply(404, Json{{"error", "alias [" + name + "] missing"}, {"status", 404}});
  Json out = Json::object();
  for (const std::string& index : it->second) out[index] = {{"aliases", {{name, Json::object()}}}};
  return reply(200, out);
}

ElasticsearchServer::Impl::Response ElasticsearchServer::Impl::updateAliases(const Request& request) {
  const Json body = Json::parse(request.body(), nullptr, false);
  if (!body.is_object() || !body.contains("actions") || !body["actions"].is_array() || body["actions"].empty()) {
    return refuse("_aliases needs {\"actions\": [...]} with at least one action: " + request.body());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  auto aliases = aliases_;
  auto created = createdIndices_;
  for (const Json& action : body["actions"]) {
    if (!action.is_object() || action.size() != 1) return refuse("an alias action must have exactly one key");
    const auto first = action.begin();
    const std::string type = first.key();
    const Json& spec = first.value();
    if (!spec.is_object() || !spec.contains("index") || !spec["index"].is_string()) {
      return refuse("alias action [" + type + "] needs an index");
    }
    const std::string index = spec["index"];
    if (!created.count(index)) return reply(404, notFound(index));
    if (type == "remove_index") {
      created.erase(index);
      for (auto& [a, targets] : aliases) targets.erase(index);
      continue;
    }
    if (type != "add" && type != "remove") return refuse("unknown alias action [" + type + "]");
    if (!spec.contains("alias") || !spec["alias"].is_string()) return refuse("alias action [" + type + "] needs an alias");
    const std::string alias = spec["alias"];
    if (type == "add") {
      if (created.count(alias)) {
        return reply(400, errorBody("invalid_alias_name_exception",
                                    "Invalid alias name [" + alias + "]: an index or data stream exists with the same "
                                    "name as the alias", 400));
      }
      aliases[alias].insert(index);
    } else {
      const auto found = aliases.find(alias);
      if (found == aliases.end() || !found->second.count(index)) {
        return reply(404, errorBody("aliases_not_found_exception", "aliases [" + alias + "] missing", 404));
      }
      found->second.erase(index);
    }
  }
  for (auto it = aliases.begin(); it != aliases.end();) it = it->second.empty() ? aliases.erase(it) : std::next(it);
  for (const std::string& index : createdIndices_) {
    if (!created.count(index)) indices_.erase(index);
  }
  aliases_ = std::move(aliases);
  createdIndices_ = std::move(created);
  ++aliasChanges_;
  return reply(200, Json{{"acknowledged", true}});
}

ElasticsearchServer::ElasticsearchServer(std::string user, std::string password)
    : impl_(std::make_unique<Impl>(std::move(user), std::move(password))) {}
ElasticsearchServer::~ElasticsearchServer() { impl_->stop(); }
Status ElasticsearchServer::start() { return impl_->start(); }
void ElasticsearchServer::stop() { impl_->stop(); }
int ElasticsearchServer::port() const { return impl_->port(); }
void ElasticsearchServer::setFieldType(const std::string& index, const std::string& field, const std::string& type) {
  impl_->setFieldType(index, field, type);
}
void ElasticsearchServer::failRequests(int count, int status) { impl_->failRequests(count, status); }
void ElasticsearchServer::failItems(int count, int status) { impl_->failItems(count, status); }
void ElasticsearchServer::holdAliasReplies(bool hold) { impl_->holdAliasReplies(hold); }
std::uint64_t ElasticsearchServer::heldAliasReplies() const { return impl_->heldAliasReplies(); }
std::vector<std::string> ElasticsearchServer::aliasTargets(const std::string& alias) const {
  return impl_->aliasTargets(alias);
}
std::vector<std::string> ElasticsearchServer::indexNames() const { return impl_->indexNames(); }
std::size_t ElasticsearchServer::documentCount(const std::string& index) const { return impl_->documentCount(index); }
std::string ElasticsearchServer::indexBody(const std::string& index) const { return impl_->indexBody(index); }

std::map<std::string, ElasticsearchServer::Document> ElasticsearchServer::documents(const std::string& index) const {
  return impl_->documents(index);
}
std::vector<std::string> ElasticsearchServer::violations() const { return impl_->violations(); }
std::optional<ElasticsearchServer::Document> ElasticsearchServer::document(const std::string& index,
                                                                           const std::string& id) const {
  return impl_->document(index, id);
}
std::uint64_t ElasticsearchServer::bulkRequests() const { return impl_->bulkRequests(); }
std::uint64_t ElasticsearchServer::bulkItems() const { return impl_->bulkItems(); }

}  // namespace canal::testing
