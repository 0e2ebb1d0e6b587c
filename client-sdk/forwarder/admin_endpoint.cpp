#include "forwarder/admin_endpoint.h"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "forwarder/reindex.h"
#include "forwarder/sql/sql_load.h"
#include "http_server.h"
#include "web_page.h"
#include "web_sessions.h"

namespace canal::forwarder {
namespace {

namespace beast = boost::beast;
using Json = nlohmann::json;

std::string base64(const std::string& in) {
  std::string out(beast::detail::base64::encoded_size(in.size()), '\0');
  out.resize(beast::detail::base64::encode(out.data(), in.data(), in.size()));
  return out;
}

// Reindexes that run at once (each reads a snapshot and writes an index).
constexpr std::size_t kMaxReindexes = 2;

// Compares a credential sent (`sent`) with the expected one in a time that depends on the
// length of what was sent only, not on where the two differ.
bool sameBytes(const std::string& sent, const std::string& expected) {
  unsigned char differ = sent.size() != expected.size();
  for (std::size_t i = 0; i < sent.size(); ++i) {
    differ |= static_cast<unsigned char>(sent[i] ^ (i < expected.size() ? expected[i] : 0));
  }
  return differ == 0;
}

// One reindex or load started over the endpoint.
struct Job {
  std::thread thread;
  volatile int stop = 0;
  mutable std::mutex mutex;
  std::string state = "running";  // running, done, failed, stopped
  std::string error;
  std::deque<std::string> log;  // the last lines

  void add(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex);
    log.push_back(line);
    if (log.size() > 50) log.pop_front();
  }
  // `field`: "alias" (a reindex) or "table" (a load).
  Json report(const std::string& field, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex);
    Json j = {{field, name}, {"state", state}, {"log", Json(std::vector<std::string>(log.begin(), log.end()))}};
    if (!error.empty()) j["error"] = error;
    return j;
  }
  bool running() const {
    std::lock_guard<std::mutex> lock(mutex);
    return state == "running";
  }
};

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

// The page's files (forwarder/web/ and the shared style), built in.
const std::vector<http::WebFile>& adminPageFiles();

class AdminEndpoint::Impl {
 public:
  Impl(ForwarderConfig config, const Forwarder& forwarder, Logger log)
      : config_(std::move(config)), forwarder_(forwarder), log_(std::move(log)) {}

  client::Status listen() {
    const std::string& listen = config_.admin.listen;
    const auto colon = listen.rfind(':');
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(listen.substr(0, colon == std::string::npos ? 0 : colon), ec);
    int port = -1;
    try {
      port = colon == std::string::npos ? -1 : std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (ec || port < 0 || port > 65535) {
      return client::Status(client::Status::kInvalidArgument, "admin.listen " + listen + ": not an IP address and port");
    }
    if (config_.admin.password.empty() && !address.is_loopback()) {
      return client::Status(client::Status::kInvalidArgument,
                            "admin.listen " + listen + " is not a loopback address and admin.password is empty: "
                            "set a password, or listen on 127.0.0.1");
    }
    http::ServerOptions options;
    options.name = "canal-forwarder";
    options.threadName = "admin-http";
    options.logError = log_;
    options.logWarning = log_;
    server_ = std::make_unique<http::Server>(options);
    server_->route("/console", [this](const http::Request& request) { return page(request); });
    server_->route("/", [this](const http::Request& request) {
      const auto [status, body] = answer(request);
      http::Response response;
      response.status = status;
      response.body = body.dump() + "\n";
      if (status == 401) response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"canal-forwarder\"");
      return response;
    });
    if (const std::string error = server_->listen(address.to_string(), port); !error.empty()) {
      return client::Status(client::Status::kInvalidArgument, "admin.listen " + listen + ": " + error);
    }
    return client::Status::ok();
  }

  ~Impl() {
    if (server_) server_->stop();
    std::lock_guard<std::mutex> lock(jobsMutex_);
    for (auto& [alias, job] : jobs_) job->stop = 1;
    for (auto& [alias, job] : jobs_) {
      if (job->thread.joinable()) job->thread.join();
    }
  }

  int port() const { return server_ ? server_->port() : 0; }

 private:
  static std::pair<int, Json> error(int status, const std::string& why) { return {status, Json{{"error", why}}}; }

  bool credentialsMatch(const std::string& authorization) const {
    return config_.admin.password.empty() ||
           sameBytes(authorization, "Basic " + base64(config_.admin.user + ":" + config_.admin.password));
  }

  Json status() const {
    const ForwarderCounters c = forwarder_.counters();
    Json sinks = Json::array();
    for (const auto& [name, counters] : c.sinks) sinks.push_back({{"name", name}, {"counters", counters}});
    return Json{{"destination", config_.source.destination},
                {"batches", c.batches},
                {"rows", c.rows},
                {"entries", c.entries},
                {"rollbacks", c.rollbacks},
                {"lastExecuteTime", c.lastExecuteTime},
                {"lagMs", c.idle || c.lastExecuteTime == 0 ? 0 : std::max<std::int64_t>(0, nowMs() - c.lastExecuteTime)},
                {"snapshotRows", c.snapshotRows},
                {"sinks", std::move(sinks)}};
  }

  std::pair<int, Json> answer(const http::Request& request) {
    if (!credentialsMatch(request.authorization)) {
      return error(401, "HTTP Basic authentication as admin.user is required");
    }
    if (request.path == "/status") {
      if (request.method != "GET") return error(405, "GET /status");
      return {200, status()};
    }
    return job(request.method, request.path);
  }

  // The page under /console/: its files, and its API by session.
  http::Response page(const http::Request& request) {
    const auto json = [](const std::pair<int, Json>& answer) {
      return http::withPagePolicy(http::jsonResponse(answer.first, answer.second.dump() + "\n"));
    };
    const std::string& path = request.path;
    if (path == "/console") {
      http::Response r;
      r.status = 302;
      r.headers.emplace_back("Location", "/console/");
      return r;
    }
    const std::string api = "/console/api";
    if (path.rfind(api + "/", 0) != 0) {
      return http::webFile(adminPageFiles(), request, path == "/console/" ? "index.html" : path.substr(9));
    }
    const std::string call = path.substr(api.size());
    const auto now = std::chrono::steady_clock::now();
    if (call == "/login") {
      if (request.method != "POST") return json(error(405, "log in with POST"));
      if (!credentialsMatch(request.authorization)) {
        log_("admin page: failed login from " + request.peer);
        return json(error(401, "wrong user or password"));
      }
      const http::Session s = sessions_.open(config_.admin.user, now);
      log_("admin page: " + s.user + " logged in from " + request.peer);
      http::Response r = json({200, Json{{"user", s.user}, {"csrfToken", s.csrfToken}}});
      r.headers.emplace_back("Set-Cookie", sessions_.setCookie(s.id));
      return r;
    }
    const auto session = sessions_.find(request.cookie, now);
    if (!session) return json(error(401, "log in first"));
    if (request.method != "GET" && request.method != "HEAD" &&
        !http::WebSessions::tokenMatches(*session, request.csrfToken)) {
      log_("admin page: " + session->user + " from " + request.peer + ": " + request.method + " " + path +
           " without a valid CSRF token refused");
      return json(error(403, "the X-CSRF-Token header is missing or wrong; reload the page"));
    }
    if (call == "/session" && request.method == "GET") return json({200, Json{{"user", session->user}, {"csrfToken", session->csrfToken}}});
    if (call == "/logout" && request.method == "POST") {
      sessions_.close(session->id);
      http::Response r = json({200, Json{{"loggedOut", true}}});
      r.headers.emplace_back("Set-Cookie", sessions_.setCookie(""));
      return r;
    }
    if (call == "/status" && request.method == "GET") {
      Json j = status();
      j["jobs"] = jobs();
      return json({200, std::move(j)});
    }
    const auto answer = job(request.method, call);
    if (request.method != "GET") {
      log_("admin page: " + session->user + " from " + request.peer + ": " + request.method + " " + call + ": " +
           std::to_string(answer.first));
    }
    return json(answer);
  }

  // Every reindex and load started here, newest state first by name.
  Json jobs() {
    Json out = Json::array();
    std::lock_guard<std::mutex> lock(jobsMutex_);
    for (const auto& [key, job] : jobs_) {
      const bool isLoad = key.rfind("/load/", 0) == 0;
      Json j = job->report(isLoad ? "table" : "alias", key.substr(isLoad ? 6 : 9));
      j["kind"] = isLoad ? "load" : "reindex";
      out.push_back(std::move(j));
    }
    return out;
  }

  // GET, POST or DELETE of /reindex/{alias} or /load/{database.table}.
  std::pair<int, Json> job(const std::string& method, const std::string& target) {
    const bool isLoad = target.rfind("/load/", 0) == 0;
    const std::string prefix = isLoad ? "/load/" : "/reindex/";
    if (target.rfind(prefix, 0) != 0 || target.size() == prefix.size() ||
        target.find('/', prefix.size()) != std::string::npos) {
      return error(404, "paths: /status, /reindex/{alias}, /load/{database.table}");
    }
    const std::string name = target.substr(prefix.size());
    const std::string what = isLoad ? "load" : "reindex";
    const std::string field = isLoad ? "table" : "alias";
    const std::string key = prefix + name;
    std::lock_guard<std::mutex> lock(jobsMutex_);
    auto found = jobs_.find(key);
    if (method == "GET") {
      if (found == jobs_.end()) return error(404, "no " + what + " of " + name + " was started here");
      return {200, found->second->report(field, name)};
    }
    if (method == "DELETE") {
      if (found == jobs_.end() || !found->second->running()) return error(404, "no " + what + " of " + name + " runs");
      found->second->stop = 1;
      return {202, found->second->report(field, name)};
    }
    if (method != "POST") return error(405, "GET, POST or DELETE " + key);
    if (isLoad) {
      if (auto sink = loadingSink(config_, name); !sink) return error(404, sink.status().message());
    } else if (!reindexable(config_, name)) {
      return error(404, "no elasticsearch mapping or document writes to the index '" + name + "'");
    }
    if (found != jobs_.end() && found->second->running()) {
      return error(409, "a " + what + " of " + name + " is running: GET " + key + " for its progress");
    }
    std::size_t running = 0;
    for (const auto& [other, job] : jobs_) running += job->running();
    if (running >= kMaxReindexes) {
      return error(409, std::to_string(running) + " reindexes and loads are running; at most " +
                            std::to_string(kMaxReindexes) + " at once");
    }
    if (found != jobs_.end()) {
      found->second->thread.join();
      jobs_.erase(found);
    }
    auto job = std::make_shared<Job>();
    log_(what + " of " + name + " asked over the admin endpoint");
    job->thread = std::thread([this, job, name, what, isLoad] {
      const auto line = [this, job, name, what](const std::string& text) {
        job->add(text);
        log_(what + " " + name + ": " + text);
      };
      const client::Status s = isLoad ? loadThrough(config_, name, forwarder_, line, &job->stop)
                                      : reindex(config_, name, line, &job->stop);
      std::lock_guard<std::mutex> lock(job->mutex);
      job->state = s ? "done" : job->stop ? "stopped" : "failed";
      if (!s) job->error = s.message();
      log_(what + " of " + name + " " + job->state + (s ? "" : ": " + s.message()));
    });
    jobs_[key] = job;
    return {202, job->report(field, name)};
  }

  ForwarderConfig config_;
  const Forwarder& forwarder_;
  Logger log_;
  std::unique_ptr<http::Server> server_;
  http::WebSessions sessions_{"canal_forwarder"};
  std::mutex jobsMutex_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // by path: /reindex/{alias}, /load/{table}
};

client::Result<std::unique_ptr<AdminEndpoint>> AdminEndpoint::start(const ForwarderConfig& config,
                                                                    const Forwarder& forwarder, Logger log) {
  auto impl = std::make_unique<Impl>(config, forwarder, std::move(log));
  if (client::Status s = impl->listen(); !s) return s;
  return std::unique_ptr<AdminEndpoint>(new AdminEndpoint(std::move(impl)));
}

AdminEndpoint::AdminEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminEndpoint::~AdminEndpoint() = default;
int AdminEndpoint::port() const { return impl_->port(); }

}  // namespace canal::forwarder
