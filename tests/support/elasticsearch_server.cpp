#include "tests/support/elasticsearch_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>
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
  void failItems(int count, int status) {
    std::lock_guard<std::mutex> lock(mutex_);
    failItems_ = count;
    failItemStatus_ = status;
  }
  std::map<std::string, Document> documents(const std::string& index) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::map<std::string, Document> out;
    const auto it = indices_.find(index);
    if (it == indices_.end()) return out;
    for (const auto& [id, d] : it->second) {
      if (!d.deleted) out[id] = Document{d.source.dump(), d.version};
    }
    return out;
  }
  std::vector<std::string> violations() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return violations_;
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
    if (!parts.empty() && parts.back() == "_bulk" && parts.size() <= 2) {
      if (request.method() != http::verb::post && request.method() != http::verb::put) {
        return refuse("_bulk needs POST or PUT, not " + std::string(request.method_string()));
      }
      return bulk(request, parts.size() == 2 ? parts[0] : "");
    }
    if (parts.size() == 3 && parts[1] == "_doc" && request.method() == http::verb::get) return getDocument(parts[0], parts[2]);
    if (parts.size() == 2 && parts[1] == "_search") return search(parts[0]);
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
    const std::string index = meta["_index"].get<std::string>();
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

  Response getDocument(const std::string& index, const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
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

  Response search(const std::string& index) {
    std::lock_guard<std::mutex> lock(mutex_);
    Json hits = Json::array();
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
  std::map<std::string, std::map<std::string, std::string>> fieldTypes_;
  std::vector<std::string> violations_;
  int failRequests_ = 0;
  int failRequestStatus_ = 0;
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
std::map<std::string, ElasticsearchServer::Document> ElasticsearchServer::documents(const std::string& index) const {
  return impl_->documents(index);
}
std::vector<std::string> ElasticsearchServer::violations() const { return impl_->violations(); }
std::uint64_t ElasticsearchServer::bulkRequests() const { return impl_->bulkRequests(); }
std::uint64_t ElasticsearchServer::bulkItems() const { return impl_->bulkItems(); }

}  // namespace canal::testing
