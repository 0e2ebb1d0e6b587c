#pragma once

// The Elasticsearch test server's insides, shared by its two files: elasticsearch_server.cpp
// (HTTP, authentication, indices and aliases) and elasticsearch_bulk.cpp (_bulk, documents,
// search). Not for tests: they use elasticsearch_server.h.

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

#include "tests/support/elasticsearch_server.h"

namespace canal::testing {

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
inline Json errorBody(const std::string& type, const std::string& reason, int status) {
  Json cause = {{"type", type}, {"reason", reason}};
  return Json{{"error", {{"root_cause", Json::array({cause})}, {"type", type}, {"reason", reason}}}, {"status", status}};
}

inline bool isDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// yyyy-MM-dd, optionally followed by 'T'HH:mm:ss and a fraction (strict_date_optional_time).
inline bool isDate(const std::string& s) {
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

  Response bulk(const Request& request, const std::string& pathIndex);

  static std::string lowerCopy(std::string s);

  // A field value that does not fit the field's type, or "".
  std::string mappingError(const std::string& index, const Json& source) const;

  // Applies one action (mutex_ held); the item's reply.
  Json apply(const std::string& action, const Json& meta, const Json& source);

  Response getDocument(const std::string& name, const std::string& id);

  Response search(const std::string& name);

  // The index an alias with one index stands for (mutex_ held); other names as they are.
  std::string resolve(const std::string& name) const {
    const auto alias = aliases_.find(name);
    return alias != aliases_.end() && alias->second.size() == 1 ? *alias->second.begin() : name;
  }
  bool indexExistsLocked(const std::string& name) const { return createdIndices_.count(name) > 0; }

  static Json notFound(const std::string& index);

  // PUT /{index}: the body may hold settings, mappings and aliases, nothing else.
  Response createIndex(const std::string& index, const Request& request);

  Response deleteIndex(const std::string& index);

  Response indexExists(const std::string& index);

  // GET /_alias/{name}: {"<index>": {"aliases": {"<name>": {}}}} per index.
  Response getAlias(const std::string& name);

  // POST /_aliases {"actions": [{"add"|"remove": {"index", "alias"}}, {"remove_index": {"index"}}]}:
  // checked whole, then applied at once.
  Response updateAliases(const Request& request);

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

}  // namespace canal::testing
