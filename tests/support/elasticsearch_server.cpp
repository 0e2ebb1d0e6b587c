#include "tests/support/elasticsearch_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

namespace canal::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Json = nlohmann::ordered_json;

struct Stored {
  Json source;
  std::int64_t version = 0;
  bool deleted = false;  // a tombstone keeps its version
  std::int64_t seqNo = 0;
};

// An error reply body as Elasticsearch shapes it.
Json errorBody(const std::string& type, const std::string& reason, int status) {
  Json cause = {{"type", type}, {"reason", reason}};
  return Json{{"error", {{"root_cause", Json::array({cause})}, {"type", type}, {"reason", reason}}}, {"status", status}};
}

bool isDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// yyyy-MM-dd, optionally followed by 'T'HH:mm:ss and a fraction (strict_date_optional_time).
bool isDate(const std::string& s) {
  const auto digits = [&](std::size_t at, std::size_t n) {
    if (at + n > s.size()) return false;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  };
  if (!(digits(0, 4) && s.size() >= 10 && s[4] == '-' && digits(5, 2) && s[7] == '-' && digits(8, 2))) return false;
  if (s.size() == 10) return true;
  if (s[10] != 'T' || !digits(11, 2) || s.size() < 19 || s[13] != ':' || !digits(14, 2) || s[16] != ':' || !digits(17, 2)) {
    return false;
  }
  if (s.size() == 19) return true;
  return s[19] == '.' && s.size() > 20 && digits(20, s.size() - 20);
}

}  // namespace

class ElasticsearchServer::Impl {
 public:
  Impl(std::string user, std::string password) : user_(std::move(user)), password_(std::move(password)) {}

  Status start() {
    try {
      acceptor_.open(tcp::v4());
      acceptor_.set_option(asio::socket_base::reuse_address(true));
      acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      acceptor_.listen();
      port_ = acceptor_.local_endpoint().port();
    } catch (const std::exception& e) {
      return Status::ioError(std::string("elasticsearch test server: ") + e.what());
    }
    acceptThread_ = std::thread([this] { acceptLoop(); });
    return Status::ok();
  }

  void stop() {
    if (stopped_.exchange(true)) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      held_.notify_all();
    }
    boost::system::error_code ignored;
    if (port_ != 0) {  // wakes the blocking accept
      tcp::socket wake(io_);
      wake.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)), ignored);
    }
    acceptor_.close(ignored);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto* s : sockets_) s->shutdown(tcp::socket::shutdown_both, ignored);
    }
    if (acceptThread_.joinable()) acceptThread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      threads.swap(connectionThreads_);
    }
    for (auto& t : threads) t.join();
  }

  int port() const { return port_; }

  void setFieldType(const std::string& index, const std::string& field, const std::string& type) {
    std::lock_guard<std::mutex> lock(mutex_);
    fieldTypes_[index][field] = type;
  }
  void failRequests(int count, int status) {
    std::lock_guard<std::mutex> lock(mutex_);
    failRequests_ = count;
    failRequestStatus_ = status;
  }
  void holdAliasReplies(bool hold) {
    std::lock_guard<std::mutex> lock(mutex_);
    holdAliasReplies_ = hold;
    held_.notify_all();
  }
  std::uint64_t heldAliasReplies() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return heldAliasReplies_;
  }
  void failItems(int count, int status) {
    std::lock_guard<std::mutex> lock(mutex_);
    failItems_ = count;
    failItemStatus_ = status;
  }
  std::map<std::string, Document> documents(const std::string& index) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, Document> out;
    const auto it = indices_.find(resolve(index));
    if (it == indices_.end()) return out;
    for (const auto& [id, d] : it->second) {
      if (!d.deleted) out[id] = Document{d.source.dump(), d.version};
    }
    return out;
  }
  std::optional<Document> document(const std::string& index, const std::string& id) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = indices_.find(resolve(index));
    if (it == indices_.end()) return std::nullopt;
    const auto d = it->second.find(id);
    if (d == it->second.end() || d->second.deleted) return std::nullopt;
    return Document{d->second.source.dump(), d->second.version};
  }
  std::vector<std::string> violations() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return violations_;
  }
  std::size_t documentCount(const std::string& index) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = indices_.find(resolve(index));
    if (it == indices_.end()) return 0;
    std::size_t n = 0;
    for (const auto& [id, d] : it->second) n += d.deleted ? 0 : 1;
    return n;
  }
  std::vector<std::string> aliasTargets(const std::string& alias) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = aliases_.find(alias);
    return it == aliases_.end() ? std::vector<std::string>{} : std::vector<std::string>(it->second.begin(), it->second.end());
  }
  std::vector<std::string> indexNames() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return {createdIndices_.begin(), createdIndices_.end()};
  }
  std::string indexBody(const std::string& index) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = indexBodies_.find(index);
    return it == indexBodies_.end() ? "" : it->second.dump();
  }
  std::uint64_t bulkRequests() const { return bulkRequests_; }
  std::uint64_t bulkItems() const { return bulkItems_; }

 private:
  using Request = http::request<http::string_body>;
  using Response = http::response<http::string_body>;

  void acceptLoop() {
    while (!stopped_) {
      auto socket = std::make_unique<tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (ec) {
        if (stopped_) return;
        continue;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      tcp::socket* raw = socket.release();
      sockets_.insert(raw);
      connectionThreads_.emplace_back([this, raw] { serve(raw); });
    }
  }

  void serve(tcp::socket* socket) {
    beast::flat_buffer buffer;
    for (;;) {
      Request request;
      http::request_parser<http::string_body> parser;
      parser.body_limit(512 * 1024 * 1024);
      boost::system::error_code ec;
      http::read(*socket, buffer, parser, ec);
      if (ec) break;
      request = parser.release();
      Response response = handle(request);
      if (request.method() == http::verb::post && request.target() == "/_aliases" && response.result_int() == 200) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (holdAliasReplies_) {  // applied, but the client does not learn it yet
          ++heldAliasReplies_;
          held_.wait(lock, [&] { return !holdAliasReplies_ || stopped_; });
        }
      }
      response.version(request.version());
      response.keep_alive(request.keep_alive());
      response.set(http::field::content_type, "application/json");
      response.prepare_payload();
      http::write(*socket, response, ec);
      if (ec || !request.keep_alive()) break;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    sockets_.erase(socket);
    boost::system::error_code ignored;
    socket->close(ignored);
    delete socket;
  }

  static Response reply(int status, const Json& body) {
    Response r{static_cast<http::status>(status), 11};
    r.body() = body.dump();
    return r;
  }

  Response refuse(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    violations_.push_back(why);
    return reply(400, errorBody("illegal_argument_exception", why, 400));
  }

  Response handle(const Request& request) {
    if (!user_.empty()) {
      const std::string expected = "Basic " + base64(user_ + ":" + password_);
      const auto it = request.find(http::field::authorization);
      if (it == request.end() || std::string(it->value()) != expected) {
        return reply(401, errorBody("security_exception", "missing authentication credentials for REST request", 401));
      }
    }
    std::string target(request.target());
    std::string query;
    if (const auto q = target.find('?'); q != std::string::npos) {
      query = target.substr(q + 1);
      target.resize(q);
    }
    std::vector<std::string> parts;
    for (std::size_t i = 1; i <= target.size();) {
      const std::size_t slash = target.find('/', i);
      const std::size_t end = slash == std::string::npos ? target.size() : slash;
      if (end > i) parts.push_back(target.substr(i, end - i));
      i = end + 1;
    }
    if (parts.empty() && (request.method() == http::verb::get || request.method() == http::verb::head)) {
      // The cluster's root: what a client reads the version from.
      return reply(200, Json{{"name", "test"},
                             {"cluster_name", "canal-test"},
                             {"version", {{"number", "8.13.0"}, {"lucene_version", "9.10.0"}}},
                             {"tagline", "You Know, for Search"}});
    }
    if (!parts.empty() && parts.back() == "_bulk" && parts.size() <= 2) {
      if (request.method() != http::verb::post && request.method() != http::verb::put) {
        return refuse("_bulk needs POST or PUT, not " + std::string(request.method_string()));
      }
      return bulk(request, parts.size() == 2 ? parts[0] : "");
    }
    if (parts.size() == 3 && parts[1] == "_doc" && request.method() == http::verb::get) return getDocument(parts[0], parts[2]);
    if (parts.size() == 2 && parts[1] == "_search") return search(parts[0]);
    if (parts.size() == 2 && parts[0] == "_alias" && request.method() == http::verb::get) return getAlias(parts[1]);
    if (parts.size() == 1 && parts[0] == "_aliases") {
      if (request.method() != http::verb::post) return refuse("_aliases needs POST, not " + std::string(request.method_string()));
      return updateAliases(request);
    }
    if (parts.size() == 1 && parts[0][0] != '_') {
      if (request.method() == http::verb::put) return createIndex(parts[0], request);
      if (request.method() == http::verb::delete_) return deleteIndex(parts[0]);
      if (request.method() == http::verb::head || request.method() == http::verb::get) return indexExists(parts[0]);
    }
    return reply(404, errorBody("resource_not_found_exception", "no handler for " + target, 404));
  }

  static std::string base64(const std::string& in) {
    std::string out(beast::detail::base64::encoded_size(in.size()), '\0');
    out.resize(beast::detail::base64::encode(out.data(), in.data(), in.size()));
    return out;
  }

  Response bulk(const Request& request, const std::string& pathIndex) {
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

  static std::string lowerCopy(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  // A field value that does not fit the field's type, or "".
  std::string mappingError(const std::string& index, const Json& source) const {
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

  // Applies one action (mutex_ held); the item's reply.
  Json apply(const std::string& action, const Json& meta, const Json& source) {
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

  Response getDocument(const std::string& name, const std::string& id) {
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

  Response search(const std::string& name) {
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

  // The index an alias with one index stands for (mutex_ held); other names as they are.
  std::string resolve(const std::string& name) const {
    const auto alias = aliases_.find(name);
    return alias != aliases_.end() && alias->second.size() == 1 ? *alias->second.begin() : name;
  }
  bool indexExistsLocked(const std::string& name) const { return createdIndices_.count(name) > 0; }

  static Json notFound(const std::string& index) {
    Json e = errorBody("index_not_found_exception", "no such index [" + index + "]", 404);
    e["error"]["index"] = index;
    return e;
  }

  // PUT /{index}: the body may hold settings, mappings and aliases, nothing else.
  Response createIndex(const std::string& index, const Request& request) {
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

  Response deleteIndex(const std::string& index) {
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

  Response indexExists(const std::string& index) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!indexExistsLocked(index)) return reply(404, notFound(index));
    Json out = Json::object();
    out[index] = indexBodies_[index];
    return reply(200, out);
  }

  // GET /_alias/{name}: {"<index>": {"aliases": {"<name>": {}}}} per index.
  Response getAlias(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = aliases_.find(name);
    if (it == aliases_.end()) return reply(404, Json{{"error", "alias [" + name + "] missing"}, {"status", 404}});
    Json out = Json::object();
    for (const std::string& index : it->second) out[index] = {{"aliases", {{name, Json::object()}}}};
    return reply(200, out);
  }

  // POST /_aliases {"actions": [{"add"|"remove": {"index", "alias"}}, {"remove_index": {"index"}}]}:
  // checked whole, then applied at once.
  Response updateAliases(const Request& request) {
    const Json body = Json::parse(request.body(), nullptr, false);
    if (!body.is_object() || !body.contains("actions") || !body["actions"].is_array() || body["actions"].empty()) {
      return refuse("_aliases needs {\"actions\": [...]} with at least one action: " + request.body());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto aliases = aliases_;
    auto created = createdIndices_;
    for (const Json& action : body["actions"]) {
      if (!action.is_object() || action.size() != 1) return refuse("an alias action must have exactly one key");
      const auto& [type, spec] = *action.items().begin();
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

  std::string user_;
  std::string password_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  std::thread acceptThread_;
  mutable std::mutex mutex_;
  std::set<tcp::socket*> sockets_;
  std::vector<std::thread> connectionThreads_;
  std::map<std::string, std::map<std::string, Stored>> indices_;
  std::set<std::string> createdIndices_;  // by PUT /{index} or by a first write
  std::map<std::string, Json> indexBodies_;  // settings and mappings given at creation
  std::map<std::string, std::set<std::string>> aliases_;
  std::uint64_t aliasChanges_ = 0;
  std::map<std::string, std::map<std::string, std::string>> fieldTypes_;
  std::vector<std::string> violations_;
  int failRequests_ = 0;
  int failRequestStatus_ = 0;
  bool holdAliasReplies_ = false;
  std::uint64_t heldAliasReplies_ = 0;
  std::condition_variable held_;
  int failItems_ = 0;
  int failItemStatus_ = 0;
  std::int64_t seqNo_ = 0;
  std::int64_t autoId_ = 0;
  std::atomic<std::uint64_t> bulkRequests_{0};
  std::atomic<std::uint64_t> bulkItems_{0};
};

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
